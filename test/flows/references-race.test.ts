/**
 * A collector's reading of references while another process deletes a checkpoint: the
 * listing names it (`available`, `deleting`), and its `blobs` objects are gone a moment later.
 * That checkpoint refers to nothing any more; a missing `blobs` of a checkpoint that still
 * needs its data is damage and stays an error. (Found by the crash campaign: a delete's
 * collection failed BANK_NOT_FOUND while the campaign trimmed two checkpoints at once.)
 */
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import type { Bank } from '../../src/bank/index.js';
import { CheckpointStore } from '../../src/checkpoints/store.js';
import { operationStore } from '../../src/flows/operation-store.js';
import { protect } from '../../src/flows/protect.js';
import {
  checkpointReferences,
  proveReferences,
  referencedBlobs,
  referenceKeys,
} from '../../src/flows/references.js';
import { ContentStore } from '../../src/store/index.js';
import { type Fixture, fixture, plan, sourceTree } from './fixture.js';

describe('references read while a checkpoint is deleted', () => {
  let fx: Fixture;
  let kept = '';
  let going = '';
  let lost = '';
  before(async () => {
    fx = await fixture();
    const files = plan(`
name: refs
resources:
  - {type: fs.directory, id: tree, path: ${JSON.stringify(join(fx.dir, 'src'))}}
`);
    await sourceTree(join(fx.dir, 'src'), { a: 5000 });
    kept = (await protect(files, fx.provider)).checkpoint.id;
    await sourceTree(join(fx.dir, 'src'), { b: 7000 });
    going = (await protect(files, fx.provider)).checkpoint.id;
    await sourceTree(join(fx.dir, 'src'), { c: 9000 });
    lost = (await protect(files, fx.provider)).checkpoint.id;
  });
  after(() => fx.done());

  /** The provider, with a bank that runs `meanwhile` once, just before checkpoint `id`'s `blobs` is read. */
  function racing(id: string, meanwhile: (bank: Bank) => Promise<void>) {
    const bank = fx.provider.bank;
    let ran = false;
    const proxy = new Proxy(bank, {
      get(target, prop, receiver) {
        if (prop === 'get') {
          return async (key: string, ...rest: unknown[]) => {
            if (!ran && key.includes(id) && key.endsWith('/blobs')) {
              ran = true;
              await meanwhile(target);
            }
            return (target.get as (k: string, ...r: unknown[]) => Promise<Buffer>)(key, ...rest);
          };
        }
        const value = Reflect.get(target, prop, receiver) as unknown;
        return typeof value === 'function' ? value.bind(target) : value;
      },
    });
    return { ...fx.provider, bank: proxy };
  }

  it('skips a checkpoint deleted since it was listed, keeping the others’ blobs', async () => {
    const expected = await checkpointReferences(fx.provider.bank, kept);
    const referenced = await referencedBlobs(
      racing(going, async (bank) => {
        const store = new CheckpointStore(bank);
        await store.transition(going, ['available'], 'deleting');
        await store.transition(going, ['deleting'], 'deleted');
        for (const key of await referenceKeys(bank, going)) await bank.delete(key);
      }),
    );
    for (const id of expected) assert.ok(referenced.has(id), `blob ${id} of ${kept} is kept`);
  });

  it('still fails on a checkpoint that needs its data and lost a blobs object', async () => {
    await assert.rejects(
      referencedBlobs(
        racing(lost, async (bank) => {
          for (const key of await referenceKeys(bank, lost)) await bank.delete(key);
        }),
      ),
      (error: unknown) => (error as { code?: string }).code === 'BANK_NOT_FOUND',
    );
  });

  it('a proof that holds no shared lease fails LEASE_LOST (nothing proves no collector ran)', async () => {
    const held = operationStore(fx.provider.bank, 'proof test');
    try {
      await proveReferences(held, fx.provider.bank, kept);
    } finally {
      await held.release();
    }
    await assert.rejects(
      proveReferences(new ContentStore(fx.provider.bank), fx.provider.bank, kept),
      (error: unknown) => (error as { code?: string }).code === 'LEASE_LOST',
    );
  });
});
