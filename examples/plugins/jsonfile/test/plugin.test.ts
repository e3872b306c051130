/** The plugin's own tests: Hoard's test kit runs its hooks in order against an in-memory bank. */
import assert from 'node:assert/strict';
import { mkdtemp, readFile, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { PluginHarness, SDK_VERSION } from 'hoard';
import { pluginConformance } from 'hoard/testkit';
import jsonFile from '../src/index.js';

async function fixture(content = '{"port": 8080, "debug": false}\n') {
  const dir = await mkdtemp(join(tmpdir(), 'hoard-plugin-jsonfile-'));
  const path = join(dir, 'settings.json');
  await writeFile(path, content);
  return { dir, path };
}

async function harness(path: string, settings: Record<string, string> = {}) {
  return new PluginHarness({
    plugins: [await jsonFile(settings)],
    resources: [{ resource: { type: 'json.file', id: 'settings', extra: { path } }, children: [] }],
  });
}

describe('hoard-plugin-jsonfile', () => {
  it('declares the major of the SDK it is tested against', async () => {
    const plugin = await jsonFile({});
    assert.equal(plugin.sdkVersion?.split('.')[0], SDK_VERSION.split('.')[0]);
  });

  it('protects a JSON file and restores it byte for byte; an existing target only with overwrite', async () => {
    const { dir, path } = await fixture();
    const h = await harness(path);
    const protect = await h.run('protect');
    assert.equal(protect.status, 'succeeded');
    assert.deepEqual(protect.log, [`json.file#settings main: saved ${path} (31 bytes, 2 entries)`]);

    const target = join(dir, 'restored.json');
    const restore = await h.run('restore', { 'json.file#settings': { target } });
    assert.equal(restore.status, 'succeeded');
    assert.equal(await readFile(target, 'utf8'), await readFile(path, 'utf8'));

    await writeFile(target, 'old');
    const refused = await h.run('restore', { 'json.file#settings': { target } });
    assert.equal(refused.status, 'failed');
    assert.match(refused.log.at(-1)!, /restore with --overwrite to replace it/);
    assert.equal(await readFile(target, 'utf8'), 'old');

    const replaced = await h.run('restore', { 'json.file#settings': { target, overwrite: true } });
    assert.equal(replaced.status, 'succeeded');
    assert.equal(await readFile(target, 'utf8'), await readFile(path, 'utf8'));
  });

  it('verify finds a changed byte in the stored copy', async () => {
    const { path } = await fixture();
    const h = await harness(path);
    assert.equal((await h.run('protect')).status, 'succeeded');
    assert.equal((await h.run('verify')).status, 'succeeded');
    const [key] = (await h.bank.list('')).filter((k) => k.endsWith('/document.json'));
    const bytes = await h.bank.get(key!);
    bytes[2] ^= 1;
    await h.bank.put(key!, bytes);
    const verify = await h.run('verify');
    assert.equal(verify.status, 'failed');
    const failed = verify.tasks.find((t) => t.status === 'failed')!;
    assert.match(
      failed.error!.message,
      /^json\.file#settings main: the stored copy of .* does not match its checksum/,
    );
  });

  it('refuses a file that is not JSON, and one over max_bytes, naming the file', async () => {
    const bad = await fixture('{"port": ');
    const notJson = await (await harness(bad.path)).run('protect');
    assert.match(notJson.tasks.find((t) => t.error)!.error!.message, /settings\.json is not JSON/);

    const big = await fixture();
    const tooBig = await (await harness(big.path, { max_bytes: '10' })).run('protect');
    assert.match(
      tooBig.tasks.find((t) => t.error)!.error!.message,
      /is 31 bytes, more than max_bytes \(10\)/,
    );
  });

  it("passes Hoard's conformance kit", async () => {
    const { dir, path } = await fixture();
    let n = 0;
    const results = await pluginConformance(await jsonFile({}), {
      resource: { type: 'json.file', id: 'settings', extra: { path } },
      source: () => readFile(path, 'utf8'),
      target: async () => ({ target: join(dir, `restored-${n++}.json`) }),
      restored: (target) => readFile(String(target.target), 'utf8'),
      fill: (target) => writeFile(String(target.target), 'old'),
      // The document, not info.json: a flipped byte in the saved path would go unnoticed.
      corrupt: (keys) => keys.find((k) => k.key.endsWith('/document.json'))!.key,
    });
    assert.deepEqual(
      results.filter((r) => r.status !== 'passed'),
      [],
    );
  });
});
