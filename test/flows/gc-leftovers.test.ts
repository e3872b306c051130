/**
 * What crashes leave in a bank, and `gc` (or a later delete or prune) finishing it: deletes
 * killed at each point, failed deletes, folders without a record, records without an index.
 */
import assert from 'node:assert/strict';
import { utimes, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, beforeEach, describe, it } from 'node:test';
import { metaKey, newCheckpointId } from '../../src/checkpoints/keys.js';
import { CheckpointStore } from '../../src/checkpoints/store.js';
import { deleteCheckpoint } from '../../src/flows/checkpoint-ops.js';
import { collectGarbage } from '../../src/flows/gc.js';
import { protect } from '../../src/flows/protect.js';
import { prunePlan } from '../../src/flows/prune.js';
import type { ProtectionPlugin } from '../../src/plugins/sdk.js';
import { ContentStore } from '../../src/store/index.js';
import { type Fixture, fixture, plan, sourceTree } from './fixture.js';

/** `test.flaky`: its delete hook fails while `failing` is true. */
let failing = false;
const flaky: ProtectionPlugin = {
  name: 'test.flaky',
  types: [{ type: 'test.flaky' }],
  operation: (kind) =>
    kind === 'delete'
      ? {
          onMain: () => {
            if (failing) throw new Error('the remote snapshot could not be removed');
          },
        }
      : {},
};

describe('gc finishes what killed and failed deletes left', () => {
  let f: Fixture;
  let checkpoints: CheckpointStore;
  let files: ReturnType<typeof plan>;
  const protectOne = async () => {
    const result = await protect(files, f.provider);
    assert.equal(result.checkpoint.status, 'available');
    return result.checkpoint.id;
  };
  const folder = (id: string) => f.provider.bank.list(`checkpoints/${id}/`);
  const packs = () => f.provider.bank.list('store/packs/');

  before(async () => {
    f = await fixture([flaky]);
    checkpoints = new CheckpointStore(f.provider.bank);
    const source = join(f.dir, 'source');
    await sourceTree(source, { 'a.bin': 200_000, 'b.bin': 50_000 });
    files = plan(`
name: files
resources:
  - {type: test.flaky, id: remote, children: [files]}
  - {type: fs.directory, id: files, path: ${JSON.stringify(source)}}
`);
  });
  after(() => f.done());
  beforeEach(() => {
    failing = false;
  });

  it('a delete killed once the checkpoint was deleted: gc removes its folder and its data', async () => {
    const id = await protectOne();
    assert.ok((await packs()).length > 0);
    // Killed between the status change and the removal of the keys.
    await checkpoints.transition(id, ['available'], 'deleting');
    await checkpoints.transition(id, ['deleting'], 'deleted');
    assert.deepEqual(
      (await checkpoints.list()).checkpoints.map((c) => c.id),
      [],
      'no listing shows it any more',
    );
    assert.ok((await folder(id)).length > 3);
    const report = await collectGarbage(f.provider);
    assert.deepEqual(report.deletesFinished, [id]);
    assert.deepEqual(await folder(id), []);
    assert.equal(report.packsRemoved, 1, JSON.stringify(report));
    assert.deepEqual(await packs(), []);
  });

  it('a later delete of the same checkpoint finishes it too', async () => {
    const id = await protectOne();
    await checkpoints.transition(id, ['available'], 'deleting');
    await checkpoints.transition(id, ['deleting'], 'deleted');
    const result = await deleteCheckpoint(id, f.provider);
    assert.equal(result.checkpoint.status, 'deleted');
    assert.deepEqual(await folder(id), []);
    await collectGarbage(f.provider);
  });

  it('a delete killed while deleting (its process gone): gc runs the delete again', async () => {
    const id = await protectOne();
    // `deleting` with no live work lease: the process that was deleting it died.
    await checkpoints.transition(id, ['available'], 'deleting');
    const report = await collectGarbage(f.provider);
    assert.deepEqual(report.deletesFinished, [id]);
    assert.deepEqual(await folder(id), []);
    assert.deepEqual(await packs(), []);
  });

  it('a failed delete stays error_deleting while its hook fails, and gc or prune deletes it once it works', async () => {
    const id = await protectOne();
    failing = true;
    const failed = await deleteCheckpoint(id, f.provider);
    assert.equal(failed.checkpoint.status, 'error_deleting');
    const again = await collectGarbage(f.provider);
    assert.deepEqual(again.deletesFinished, []);
    assert.equal(again.deletesFailed.length, 1);
    assert.match(again.deletesFailed[0]!.error, /remote snapshot could not be removed/);
    assert.equal((await checkpoints.get(id)).status, 'error_deleting');
    assert.equal(again.packsRemoved, 0, 'an error_deleting checkpoint keeps its data');

    failing = false;
    const second = await protectOne();
    const pruned = await prunePlan('files', f.provider, { kind: 'max_backups', count: 5 });
    assert.deepEqual(pruned.retried, [{ id, deleted: true }]);
    assert.deepEqual(await folder(id), []);
    await deleteCheckpoint(second, f.provider);
    assert.deepEqual(await packs(), []);
  });

  it('a folder without a record is removed once older than two lease lifetimes; a fresh one stays', async () => {
    const bank = f.provider.bank;
    const old = newCheckpointId(new Date(Date.now() - 3_600_000));
    const fresh = newCheckpointId();
    for (const id of [old, fresh]) await bank.put(`checkpoints/${id}/resources/fs.directory#x/blobs`, '');
    const root = (f.provider.bank as unknown as { root: string }).root;
    const stale = new Date(Date.now() - 3_600_000);
    await utimes(join(root, 'checkpoints', old, 'resources', 'fs.directory#x', 'blobs'), stale, stale);
    const dry = await collectGarbage(f.provider, { dryRun: true });
    assert.deepEqual(dry.foldersRemoved, [old]);
    assert.equal((await folder(old)).length, 1, 'a dry run removes nothing');
    const report = await collectGarbage(f.provider);
    assert.deepEqual(report.foldersRemoved, [old]);
    assert.deepEqual(await folder(old), []);
    assert.equal((await folder(fresh)).length, 1);
    await bank.delete(`checkpoints/${fresh}/resources/fs.directory#x/blobs`);
  });

  it('a record that lost its index entries is listed again', async () => {
    const id = await protectOne();
    const bank = f.provider.bank;
    for (const key of await new CheckpointStore(bank).indexKeys(id)) await bank.delete(key);
    const meta = JSON.parse((await bank.get(metaKey(id))).toString());
    meta.updatedAt = new Date(Date.now() - 3_600_000).toISOString();
    await bank.put(metaKey(id), JSON.stringify(meta));
    assert.deepEqual((await checkpoints.list()).checkpoints, []);
    const report = await collectGarbage(f.provider);
    assert.deepEqual(report.reindexed, [id]);
    assert.deepEqual(
      (await checkpoints.list()).checkpoints.map((c) => [c.id, c.status]),
      [[id, 'available']],
    );
    assert.equal(report.packsRemoved, 0, 'its data was referenced all along');
    await deleteCheckpoint(id, f.provider);
  });

  it('sweeps temporary files crashed writes left', async () => {
    const root = (f.provider.bank as unknown as { root: string }).root;
    const tmp = join(root, '.tmp-00112233445566ff');
    await writeFile(tmp, 'half a put');
    const stale = new Date(Date.now() - 3_600_000);
    await utimes(tmp, stale, stale);
    const report = await collectGarbage(f.provider);
    assert.ok(report.swept.temporary >= 1, JSON.stringify(report.swept));
    assert.equal(await new ContentStore(f.provider.bank).stats().then((s) => s.packs), 0);
  });
});
