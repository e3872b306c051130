/**
 * Listing with statistics and plan names without a read per checkpoint (SPEC §4 "no N+1
 * reads", §13): the index entries carry each listed checkpoint's stats, and a service plan's
 * name comes from one record per plan of the page.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import type { Bank } from '../../src/bank/index.js';
import {
  indexEntryPrefix,
  planIndexKey,
  planIndexPrefix,
  TIME_INDEX,
  timeIndexKey,
} from '../../src/checkpoints/keys.js';
import { CheckpointStore } from '../../src/checkpoints/store.js';
import { deleteCheckpoint } from '../../src/flows/checkpoint-ops.js';
import { getCheckpoint, listCheckpoints, withStats } from '../../src/flows/checkpoints.js';
import { protect } from '../../src/flows/protect.js';
import type { Provider } from '../../src/providers/provider.js';
import { type Fixture, fixture, plan } from './fixture.js';

/** The provider with a bank that counts reads of checkpoint records. */
function counting(provider: Provider): { provider: Provider; reads: string[] } {
  const reads: string[] = [];
  const bank = new Proxy(provider.bank, {
    get(target, property, receiver) {
      const value = Reflect.get(target, property, receiver);
      if (property === 'get' || property === 'getStream')
        return (key: string, ...rest: unknown[]) => {
          if (key.endsWith('/meta.json')) reads.push(key.split('/')[1]!);
          return (value as (...a: unknown[]) => unknown).call(target, key, ...rest);
        };
      return typeof value === 'function' ? value.bind(target) : value;
    },
  }) as Bank;
  return { provider: { ...provider, bank }, reads };
}

const SERVICE_PLAN = '0193a5c2-7b1e-7c3d-9f00-1a2b3c4d5e6f';

describe('listing checkpoints with their stats', () => {
  let f: Fixture;
  const ids: string[] = [];
  before(async () => {
    f = await fixture();
    const cli = plan('name: files\nresources: [{type: noop, id: x}]');
    // As the service protects: filed under the plan's id, named by displayName.
    const service = {
      ...plan(`name: ${SERVICE_PLAN}\nresources: [{type: noop, id: y}]`),
      displayName: 'nightly',
    };
    for (const p of [cli, service, cli, service, cli]) {
      const result = await protect(p, f.provider);
      assert.equal(result.checkpoint.status, 'available');
      ids.unshift(result.checkpoint.id);
    }
  });
  after(() => f.done());

  it('gives every checkpoint its record’s stats, reading one record for the page (the service plan’s name)', async () => {
    const page = await listCheckpoints(f.provider);
    assert.deepEqual(
      page.checkpoints.map((c) => c.id),
      ids,
    );
    const { provider, reads } = counting(f.provider);
    const listed = await withStats(provider, page.checkpoints);
    assert.deepEqual(reads, [ids[1]], 'one record: the newest of the service plan');
    for (const c of listed) {
      const meta = await getCheckpoint(f.provider, c.id);
      assert.deepEqual(c.stats, meta.stats, c.id);
      assert.equal(c.planName, c.plan === SERVICE_PLAN ? 'nightly' : undefined, c.id);
    }
    // A caller that knows the names (the service, from its catalog) reads no record.
    reads.length = 0;
    const unnamed = await withStats(provider, page.checkpoints, { planNames: false });
    assert.deepEqual(reads, []);
    assert.ok(unnamed.every((c) => c.stats !== undefined && c.planName === undefined));
    // A CLI plan's page reads nothing at all.
    const onlyCli = await listCheckpoints(f.provider, { plan: 'files' });
    reads.length = 0;
    const cliListed = await withStats(provider, onlyCli.checkpoints);
    assert.deepEqual(reads, []);
    assert.equal(cliListed.length, 3);
    assert.ok(cliListed.every((c) => c.stats !== undefined && c.planName === undefined));
  });

  it('a checkpoint whose entries carry no stats (written before they were kept) has its record read instead', async () => {
    const bank = f.provider.bank;
    const entries = async (id: string) => [
      ...(await bank.list(indexEntryPrefix(TIME_INDEX, id))),
      ...(await bank.list(indexEntryPrefix(planIndexPrefix('files'), id))),
    ];
    const withStatsKeys = await entries(ids[2]!);
    assert.equal(withStatsKeys.length, 2);
    assert.ok(
      withStatsKeys.every((k) => /\.available\+\d+,\d+,\d+,\d+,\d+(\.files)?$/.test(k)),
      withStatsKeys.join(),
    );
    for (const key of withStatsKeys) await bank.delete(key);
    const bare = [timeIndexKey(ids[2]!, 'available', 'files'), planIndexKey(ids[2]!, 'available', 'files')];
    for (const key of bare) await bank.put(key, '');
    try {
      const { provider, reads } = counting(f.provider);
      const listed = await withStats(provider, (await listCheckpoints(f.provider)).checkpoints);
      assert.deepEqual(reads.sort(), [ids[1], ids[2]].sort());
      assert.deepEqual(listed[2]!.stats, (await getCheckpoint(f.provider, ids[2]!)).stats);
    } finally {
      for (const key of bare) await bank.delete(key);
      await new CheckpointStore(bank).reindex(await getCheckpoint(f.provider, ids[2]!));
    }
    assert.deepEqual((await entries(ids[2]!)).sort(), withStatsKeys.sort(), 'gc’s reindex writes them back');
  });

  it('deleting a checkpoint removes its index entries', async () => {
    const victim = ids[4]!;
    const deleted = await deleteCheckpoint(victim, f.provider);
    assert.equal(deleted.checkpoint.status, 'deleted');
    assert.deepEqual(await f.provider.bank.list(indexEntryPrefix(TIME_INDEX, victim)), []);
    assert.deepEqual(await f.provider.bank.list(indexEntryPrefix(planIndexPrefix('files'), victim)), []);
  });

  it('an encrypted bank’s index entries carry no stats: their keys would show sizes the record keeps encrypted', async () => {
    const bank = new Proxy(f.provider.bank, {
      get(target, property, receiver) {
        if (property === 'keyring') return () => ({});
        const value = Reflect.get(target, property, receiver);
        return typeof value === 'function' ? value.bind(target) : value;
      },
    }) as Bank;
    const result = await protect(plan('name: sealed\nresources: [{type: noop, id: z}]'), {
      ...f.provider,
      bank,
    });
    assert.equal(result.checkpoint.status, 'available');
    assert.ok(result.checkpoint.stats);
    const keys = await f.provider.bank.list(indexEntryPrefix(TIME_INDEX, result.checkpoint.id));
    assert.equal(keys.length, 1);
    assert.ok(!keys[0]!.includes('+'), keys[0]);
    const listed = await withStats(
      f.provider,
      (await listCheckpoints(f.provider, { plan: 'sealed' })).checkpoints,
    );
    assert.deepEqual(listed[0]!.stats, result.checkpoint.stats, 'read from the record instead');
  });
});
