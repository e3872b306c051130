/**
 * A damaged store heals: damage a verify, restore or repair finds is recorded, the store stops
 * offering those copies for deduplication, the next protect of the same data writes them
 * again (which heals the older checkpoints too: same blob ids), `repair` drops what is lost
 * naming the checkpoints affected, and no checkpoint becomes available while it refers to a
 * blob known to be damaged.
 */
import assert from 'node:assert/strict';
import { open, truncate, unlink } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { restore, verify } from '../../src/flows/checkpoint-ops.js';
import { protect } from '../../src/flows/protect.js';
import { repair } from '../../src/flows/repair.js';
import type { ProtectionPlugin } from '../../src/plugins/sdk.js';
import { ContentStore } from '../../src/store/index.js';
import { hoard } from '../cli/helpers.js';
import { type Fixture, fixture, plan, sourceTree, treeSums } from './fixture.js';

type Harm = 'flip a byte' | 'cut the pack short' | 'delete the pack';

/** Damages the pack holding the first blob of `file` in checkpoint `id`; returns that blob. */
async function harm(f: Fixture, id: string, file: string, how: Harm): Promise<string> {
  const bank = f.provider.bank;
  const manifest = (await bank.list(`checkpoints/${id}/resources/`)).find((k) =>
    k.endsWith('manifest.jsonl.gz'),
  )!;
  const { gunzipSync } = await import('node:zlib');
  const entries = gunzipSync(await bank.get(manifest))
    .toString()
    .split('\n')
    .map((l) => JSON.parse(l) as { path: string; blobs?: string[] });
  const blob = entries.find((e) => e.path === file)!.blobs![0]!;
  const location = (await new ContentStore(bank).locate([blob])).get(blob)!;
  const root = (bank as unknown as { root: string }).root;
  const path = join(root, 'store', 'packs', location.pack.slice(0, 2), location.pack);
  if (how === 'delete the pack') await unlink(path);
  else if (how === 'cut the pack short') await truncate(path, location.offset + 10);
  else {
    const handle = await open(path, 'r+');
    try {
      const byte = Buffer.alloc(1);
      await handle.read(byte, 0, 1, location.offset + 100);
      byte[0] = byte[0]! ^ 0xff;
      await handle.write(byte, 0, 1, location.offset + 100);
    } finally {
      await handle.close();
    }
  }
  return blob;
}

async function damageRecords(f: Fixture): Promise<string[]> {
  return f.provider.bank.list('store/damaged/');
}

for (const how of ['flip a byte', 'cut the pack short', 'delete the pack'] as Harm[]) {
  describe(`after damage (${how}), verify records it and the next protect writes it again`, () => {
    let f: Fixture;
    let sums: Map<string, string>;
    let source: string;
    let files: ReturnType<typeof plan>;
    before(async () => {
      f = await fixture();
      source = join(f.dir, 'source');
      // Each file its own pack (packs close at 16 MiB): damage to one leaves the others whole.
      sums = await sourceTree(source, { 'big.bin': 17 * 1024 * 1024, 'small.txt': 3000 });
      files = plan(`
name: files
resources:
  - {type: fs.directory, id: files, path: ${JSON.stringify(source)}}
`);
    });
    after(() => f.done());

    it('heals the new checkpoint and the old one alike', async () => {
      const first = (await protect(files, f.provider)).checkpoint.id;
      await harm(f, first, 'big.bin', how);
      const failed = await verify(first, f.provider);
      assert.equal(failed.operation!.status, 'failed');
      assert.match(JSON.stringify(failed.operation!.tasks), /big\.bin/);
      assert.ok((await damageRecords(f)).length > 0, 'the damage is recorded');

      // The tree did not change: without the record the protect would reuse the damaged blob.
      const second = await protect(files, f.provider);
      assert.equal(second.checkpoint.status, 'available', JSON.stringify(second.operation));
      const verified = await verify(second.checkpoint.id, f.provider);
      assert.equal(verified.operation!.status, 'succeeded', JSON.stringify(verified.operation!.tasks));
      const target = join(f.dir, 'restored');
      await restore(second.checkpoint.id, f.provider, { target });
      assert.deepEqual(await treeSums(target, sums.keys()), sums);
      // Same blob ids: the older checkpoint reads the copy written again.
      const healed = await verify(first, f.provider);
      assert.equal(healed.operation!.status, 'succeeded', JSON.stringify(healed.operation!.tasks));

      // Repair drops the damaged pack (its sound blobs kept) and the records with it; nothing is lost.
      const repaired = await repair(f.provider);
      assert.deepEqual(repaired.affected, []);
      assert.deepEqual(await damageRecords(f), []);
      assert.equal((await verify(first, f.provider)).operation!.status, 'succeeded');
    });
  });
}

describe('repair without a verify first', () => {
  let f: Fixture;
  before(async () => {
    f = await fixture();
  });
  after(() => f.done());

  it('finds the damage, names the checkpoints that lack data, and a protect heals them', async () => {
    const source = join(f.dir, 'source');
    const sums = await sourceTree(source, { 'a.bin': 17 * 1024 * 1024, 'b.txt': 5000 });
    const files = plan(`
name: files
resources:
  - {type: fs.directory, id: files, path: ${JSON.stringify(source)}}
`);
    const first = (await protect(files, f.provider)).checkpoint.id;
    const second = (await protect(files, f.provider)).checkpoint.id;
    const blob = await harm(f, first, 'a.bin', 'flip a byte');

    const dry = await repair(f.provider, { dryRun: true });
    assert.equal(dry.check.damagedCopies, 1);
    assert.deepEqual(dry.check.damagedOnly, [blob]);
    assert.deepEqual(dry.affected.map((c) => c.id).sort(), [first, second].sort());
    assert.deepEqual(await damageRecords(f), [], 'a dry run records nothing');

    const repaired = await repair(f.provider);
    assert.equal(repaired.prune.packsRewritten + repaired.prune.packsRemoved, 1);
    assert.deepEqual(repaired.prune.lost, [blob]);
    assert.deepEqual(
      repaired.affected.map((c) => [c.id, c.blobs]).sort(),
      [
        [first, 1],
        [second, 1],
      ].sort(),
    );
    assert.equal((await verify(first, f.provider)).operation!.status, 'failed');

    // The CLI says the same, and exits 3: some checkpoint lacks data.
    const cli = await hoard(['--home', join(f.dir, 'nohome'), 'repair', '--json']);
    assert.equal(cli.code, 0, cli.stderr); // a fresh home has nothing lost

    const third = await protect(files, f.provider);
    assert.equal(third.checkpoint.status, 'available');
    for (const id of [first, second, third.checkpoint.id]) {
      const v = await verify(id, f.provider);
      assert.equal(v.operation!.status, 'succeeded', `${id}: ${JSON.stringify(v.operation!.tasks)}`);
    }
    const target = join(f.dir, 'restored');
    await restore(first, f.provider, { target });
    assert.deepEqual(await treeSums(target, sums.keys()), sums);
    assert.deepEqual((await repair(f.provider)).affected, []);
  });
});

describe('a protect never becomes available referring to a blob known to be damaged', () => {
  let f: Fixture;
  let reuse: string[] = [];
  /** `test.reuse` refers to blobs it did not write (as a plugin trusting its last checkpoint would). */
  const reusePlugin: ProtectionPlugin = {
    name: 'test.reuse',
    types: [{ type: 'test.reuse' }],
    operation: (kind) =>
      kind === 'protect'
        ? {
            onMain: async (ctx) => {
              await ctx.bank.put('blobs', reuse.join('\n'));
            },
          }
        : undefined,
  };
  before(async () => {
    f = await fixture([reusePlugin]);
  });
  after(() => f.done());

  it('fails the commit with STORE_CORRUPT naming the blob; the checkpoint is error', async () => {
    const source = join(f.dir, 'source');
    await sourceTree(source, { 'x.bin': 17 * 1024 * 1024 });
    const first = (
      await protect(
        plan(`
name: files
resources:
  - {type: fs.directory, id: files, path: ${JSON.stringify(source)}}
`),
        f.provider,
      )
    ).checkpoint.id;
    const blob = await harm(f, first, 'x.bin', 'flip a byte');
    await verify(first, f.provider);
    reuse = [blob];
    const result = await protect(
      plan('name: reuse\nresources:\n  - {type: test.reuse, id: r}\n'),
      f.provider,
    );
    assert.equal(result.checkpoint.status, 'error');
    assert.equal(result.operation!.error?.code, 'STORE_CORRUPT');
    assert.match(result.operation!.error!.message, new RegExp(`first: ${blob}`));
  });
});

describe('a pack gone while its index object stays, found by no verify', () => {
  let f: Fixture;
  before(async () => {
    f = await fixture();
  });
  after(() => f.done());

  it('the next protect of the same data writes its blobs again: available, and it verifies and restores', async () => {
    const source = join(f.dir, 'source');
    const sums = await sourceTree(source, { 'big.bin': 17 * 1024 * 1024, 'small.txt': 3000 });
    const files = plan(`
name: files
resources:
  - {type: fs.directory, id: files, path: ${JSON.stringify(source)}}
`);
    const first = (await protect(files, f.provider)).checkpoint.id;
    await harm(f, first, 'big.bin', 'delete the pack');
    // Unchanged files: without the check their blobs are carried over from the pack that is gone.
    const second = await protect(files, f.provider);
    assert.equal(second.checkpoint.status, 'available', JSON.stringify(second.operation?.error));
    const verified = await verify(second.checkpoint.id, f.provider);
    assert.equal(verified.operation!.status, 'succeeded', JSON.stringify(verified.operation!.tasks));
    const target = join(f.dir, 'restored');
    await restore(second.checkpoint.id, f.provider, { target });
    assert.deepEqual(await treeSums(target, sums.keys()), sums);
  });
});
