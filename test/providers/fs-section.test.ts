/** A provider's fs bank in password mode: the KDF hint kept in the provider's cache folder. */
import assert from 'node:assert/strict';
import { mkdir, mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { loadProviders } from '../../src/providers/provider.js';

process.env.HOARD_KDF_N ??= '1024';

describe('an fs provider in password mode', () => {
  it("notes the KDF parameters of its bank's key file in the provider's cache folder once it has made it, for the next process", async () => {
    const home = await mkdtemp(join(tmpdir(), 'hoard-fs-section-'));
    const id = '0c3f4a4e-5d1b-4a8e-9f0e-2b7d8e1c6a11';
    try {
      await mkdir(join(home, 'providers'));
      await writeFile(join(home, 'password'), 'pw\n', { mode: 0o600 });
      await writeFile(
        join(home, 'providers', 'p.conf'),
        `[provider]\nname = p\nid = ${id}\nbank = fs\nplugin = noop\nencryption = password\n[fs]\npath = ${join(home, 'bank')}\n[encryption]\npassword_file = ${join(home, 'password')}\n`,
      );
      const open = async () => {
        const { providers, problems } = await loadProviders(home);
        assert.deepEqual(problems, []);
        return providers.find((p) => p.name === 'p')!.bank;
      };
      // Noted as the repository is made, so that the very next process derives its key early.
      await (await open()).put('x', 'data');
      const hints = (await readdir(join(home, 'cache', id))).filter((f) => f.endsWith('.kdf.json'));
      assert.equal(hints.length, 1);
      assert.match(hints[0]!, /^fs-[0-9a-f]{16}\.kdf\.json$/);
      const hint = JSON.parse(await readFile(join(home, 'cache', id, hints[0]!), 'utf8'));
      assert.equal(hint.name, 'scrypt');
      assert.equal(hint.N, 1024);
      assert.equal((await (await open()).get('x')).toString(), 'data');
    } finally {
      await rm(home, { recursive: true, force: true });
    }
  });
});
