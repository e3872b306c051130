/** A provider's `[s3]` section: what it takes, what it refuses, what it shows. No server needed. */
import assert from 'node:assert/strict';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { S3Bank } from '../../src/bank/index.js';
import { loadProviders } from '../../src/providers/provider.js';

async function load(s3: string) {
  const home = await mkdtemp(join(tmpdir(), 'hoard-s3-section-'));
  try {
    await mkdir(join(home, 'providers'));
    await writeFile(
      join(home, 'providers', 'off.conf'),
      `[provider]\nname = off\nid = 6f1b7a52-2f7e-4c1e-9a57-0d5f3c0b9e12\nbank = s3\nplugin = noop\n[s3]\n${s3}\n`,
    );
    const { providers, problems } = await loadProviders(home);
    return { provider: providers.find((p) => p.name === 'off'), problems: problems.map((p) => p.message) };
  } finally {
    await rm(home, { recursive: true, force: true });
  }
}

describe('an [s3] provider section', () => {
  it('opens an S3Bank, with the secret masked in what is shown', async () => {
    const { provider, problems } = await load(
      'bucket = backups\nprefix = hoard/app1\nendpoint = http://127.0.0.1:7480\naccess_key_id = AK\nsecret_access_key = SEKRIT',
    );
    assert.deepEqual(problems, []);
    assert.equal(provider?.bankType, 's3');
    assert.ok(provider.bank instanceof S3Bank);
    assert.equal(provider.bank.bucket, 'backups');
    assert.equal(provider.bank.endpoint, 'http://127.0.0.1:7480');
    assert.equal(provider.settings.s3?.secret_access_key, '********');
    assert.equal(provider.settings.s3?.access_key_id, 'AK');
    assert.ok(!JSON.stringify(provider.settings).includes('SEKRIT'));
  });

  it('takes the AWS defaults: no endpoint, no keys', async () => {
    const { provider, problems } = await load('bucket = backups');
    assert.deepEqual(problems, []);
    assert.equal((provider!.bank as S3Bank).endpoint, undefined);
  });

  it('names the file and the setting at fault', async () => {
    const cases: [string, RegExp][] = [
      ['prefix = x', /off\.conf: \[s3\] needs "bucket = …"/],
      ['bucket = bkt\nbucket = c', /\[s3\] bucket is given more than once/],
      [
        'bucket = bkt\nendpont = http://x',
        /\[s3\] "endpont" is not a setting \(there are: bucket, prefix, endpoint/,
      ],
      ['bucket = bkt\naccess_key_id = AK', /access_key_id and secret_access_key go together/],
      ['bucket = bkt\nforce_path_style = yes', /force_path_style must be true or false, got "yes"/],
      [
        'bucket = bkt\nendpoint = 127.0.0.1:7480',
        /\[s3\] endpoint "127\.0\.0\.1:7480" is not an http:\/\/ or https:\/\/ URL/,
      ],
      ['bucket = bkt\nprefix = a/../b', /\[s3\] prefix "a\/\.\.\/b" is not valid: it has a "\.\." segment/],
      ['bucket = b c', /\[s3\] "b c" is not a bucket name/],
    ];
    for (const [section, message] of cases) {
      const { provider, problems } = await load(section);
      assert.equal(provider, undefined, section);
      assert.equal(problems.length, 1, section);
      assert.match(problems[0]!, message);
    }
  });
});
