/**
 * Each flow in-process, on memory banks, with one small fake plugin whose hooks keep a text
 * in the content store and record what they did: protect, restore, verify, delete, prune,
 * gc, copy and repair, each checked for what it must do to the checkpoint, the bank and the
 * plugin's hooks.
 */
import assert from 'node:assert/strict';
import { beforeEach, describe, it } from 'node:test';
import { MemoryBank } from '../../src/bank/index.js';
import { CheckpointStore } from '../../src/checkpoints/store.js';
import { HoardError } from '../../src/errors.js';
import { copyCheckpoint, deleteCheckpoint, restore, verify } from '../../src/flows/checkpoint-ops.js';
import { operationSucceeded } from '../../src/flows/checkpoint-view.js';
import { collectGarbage } from '../../src/flows/gc.js';
import { protect } from '../../src/flows/protect.js';
import { prunePlan } from '../../src/flows/prune.js';
import { repair } from '../../src/flows/repair.js';
import { type Plan, parsePlan } from '../../src/plans/plan.js';
import { PluginRegistry } from '../../src/plugins/registry.js';
import type { HookContext, ProtectionPlugin } from '../../src/plugins/sdk.js';
import type { Provider } from '../../src/providers/provider.js';

/** What the fake plugin's hooks did, in order: `operation resource hook [detail]`. */
let calls: string[] = [];
/** Texts restored, by resource id. */
let restored: Map<string, string>;
/** `type#id` whose protect main hook fails. */
let failing: string | undefined;

/**
 * `memo`: protect puts the resource's `text` into the content store as one blob, its id in
 * the section's `value` and `blobs` objects; restore reads it back; verify reads and checks it.
 */
const memo: ProtectionPlugin = {
  name: 'test.memo',
  types: [
    {
      type: 'memo',
      schemas: {
        resource: { type: 'object', additionalProperties: true },
        options: { type: 'object', properties: { text: { type: 'string' } }, required: ['text'] },
        restore: { type: 'object' },
        verify: { type: 'object' },
      },
    },
  ],
  operation(kind, resource) {
    const key = `${resource.type}#${resource.id}`;
    const note = (ctx: HookContext, detail = '') => {
      calls.push(`${kind} ${resource.id} ${ctx.hook}${detail ? ` ${detail}` : ''}`);
    };
    const hook = async (ctx: HookContext) => note(ctx);
    if (kind === 'protect') {
      return {
        onPrepareBegin: hook,
        async onMain(ctx: HookContext) {
          if (failing === key) throw new HoardError('HOOK_FAILED', `${key} broke`);
          const writer = await ctx.store.openWriter(`memo ${resource.id}`);
          const { id } = await writer.writeBlob(Buffer.from(String(ctx.parameters.text)));
          const { bytesWritten } = await writer.close();
          await ctx.bank.put('value', id);
          await ctx.bank.put('blobs', `${id}\n`);
          ctx.reportStats({ files: 1, bytes: String(ctx.parameters.text).length, newBytes: bytesWritten });
          note(ctx, ctx.previous ? 'with previous' : 'first');
        },
        onComplete: hook,
      };
    }
    if (kind === 'restore') {
      return {
        async onMain(ctx: HookContext) {
          const id = (await ctx.bank.get('value')).toString();
          restored.set(resource.id, (await ctx.store.readBlob(id)).toString());
          note(ctx, String(ctx.protectParameters.text));
        },
      };
    }
    if (kind === 'verify') {
      return {
        async onMain(ctx: HookContext) {
          const id = (await ctx.bank.get('value')).toString();
          await ctx.store.readBlob(id); // STORE_CORRUPT if the blob is damaged or gone
          note(ctx);
        },
      };
    }
    if (kind === 'delete') return { onMain: hook };
    return undefined;
  },
};

function provider(name: string, bank = new MemoryBank()): Provider {
  const registry = new PluginRegistry(name);
  registry.add(memo);
  return {
    id: `00000000-0000-4000-8000-00000000000${name.length}`,
    name,
    description: 'in-memory test provider',
    bankType: 'fs',
    encryption: 'none',
    bank,
    registry,
    file: undefined,
    settings: {},
  };
}

/** A plan `shop`: resource `app` (parent) over `db`, with the texts given. */
function shop(app = 'app data', db = 'db data'): Plan {
  return parsePlan(
    `
name: shop
resources:
  - {type: memo, id: app, children: [db]}
  - {type: memo, id: db}
parameters:
  memo#app: {text: ${JSON.stringify(app)}}
  memo#db: {text: ${JSON.stringify(db)}}
`,
    'shop.yaml',
  );
}

/** The provider's store packs (`store/packs/…`). */
const packs = (p: Provider) => p.bank.list('store/packs/');

/** Flips the first byte (of the first blob) of every pack of the provider's store. */
async function damagePacks(p: Provider): Promise<void> {
  for (const key of await packs(p)) {
    const bytes = Buffer.from((await p.bank.get(key))!);
    bytes[0]! ^= 0xff;
    await p.bank.put(key, bytes);
  }
}

async function protectOk(p: Provider, plan = shop()): Promise<string> {
  const result = await protect(plan, p);
  assert.equal(result.checkpoint.status, 'available', JSON.stringify(result.operation?.error));
  return result.checkpoint.id;
}

beforeEach(() => {
  calls = [];
  restored = new Map();
  failing = undefined;
});

describe('flows: protect', () => {
  it("makes an available checkpoint: each resource's hooks, stats summed, the data in the store", async () => {
    const p = provider('local');
    const result = await protect(shop('0123456789', 'abc'), p);
    assert.equal(result.checkpoint.status, 'available');
    assert.ok(operationSucceeded('protect', result));
    assert.deepEqual(
      result.checkpoint.resources.map((r) => [r.type, r.id, r.status]),
      [
        ['memo', 'app', 'available'],
        ['memo', 'db', 'available'],
      ],
    );
    assert.equal(result.checkpoint.stats?.files, 2);
    assert.equal(result.checkpoint.stats?.bytes, 13);
    // The hook graph's order: a parent's prepareBegin before its child's, a child's complete before its parent's.
    const at = (call: string) => calls.indexOf(call);
    assert.ok(at('protect app prepareBegin') < at('protect db prepareBegin'), calls.join('\n'));
    assert.ok(at('protect db complete') < at('protect app complete'), calls.join('\n'));
    assert.ok(at('protect db main first') < at('protect db complete'), calls.join('\n'));
    assert.equal(calls.length, 6, calls.join('\n'));
    assert.equal((await packs(p)).length, 2, 'one pack per writer');
    assert.deepEqual(
      (await new CheckpointStore(p.bank).list({ plan: 'shop' })).checkpoints.map((c) => c.id),
      [result.checkpoint.id],
    );
  });

  it('a second protect sees the previous checkpoint and stores no data again', async () => {
    const p = provider('local');
    await protectOk(p);
    calls = [];
    const second = await protect(shop(), p);
    assert.equal(second.checkpoint.status, 'available');
    assert.deepEqual(calls.filter((c) => c.includes(' main ')).sort(), [
      'protect app main with previous',
      'protect db main with previous',
    ]);
    assert.equal(second.checkpoint.stats?.newBytes, 0, 'deduplicated against the first');
    assert.equal((await packs(p)).length, 2, 'no new pack');
  });

  it("a failing hook ends the checkpoint in error, naming the resource; its parent's complete does not run", async () => {
    const p = provider('local');
    failing = 'memo#db';
    const result = await protect(shop(), p);
    assert.equal(result.checkpoint.status, 'error');
    assert.equal(operationSucceeded('protect', result), false);
    const db = result.checkpoint.resources.find((r) => r.id === 'db')!;
    assert.equal(db.status, 'error');
    assert.match(JSON.stringify(db.error), /memo#db broke/);
    assert.ok(!calls.includes('protect app complete'), calls.join('\n'));
    const appComplete = result.operation!.tasks.find(
      (t) => t.resource === 'memo#app' && t.hook === 'complete',
    );
    assert.equal(appComplete?.status, 'upstream_failed');
    // Nothing lists it as restorable.
    const available = await new CheckpointStore(p.bank).list({ plan: 'shop', status: 'available' });
    assert.deepEqual(available.checkpoints, []);
  });
});

describe('flows: restore and verify', () => {
  it('restore gives each resource its protected data and protect-time parameters', async () => {
    const p = provider('local');
    const id = await protectOk(p, shop('the app', 'the db'));
    const result = await restore(id, p);
    assert.ok(operationSucceeded('restore', result));
    assert.deepEqual(Object.fromEntries(restored), { app: 'the app', db: 'the db' });
    assert.ok(calls.includes('restore app main the app'));
    // The checkpoint is not changed by a restore.
    assert.equal(result.checkpoint.status, 'available');
  });

  it('a checkpoint in error cannot be restored: CHECKPOINT_STATE, no hook runs', async () => {
    const p = provider('local');
    failing = 'memo#app';
    const { checkpoint } = await protect(shop(), p);
    calls = [];
    await assert.rejects(restore(checkpoint.id, p), (error: HoardError) => {
      assert.equal(error.code, 'CHECKPOINT_STATE');
      assert.match(error.message, new RegExp(checkpoint.id));
      return true;
    });
    assert.deepEqual(calls, []);
  });

  it('verify succeeds on sound data and fails once a pack is damaged', async () => {
    const p = provider('local');
    const id = await protectOk(p);
    const sound = await verify(id, p);
    assert.ok(operationSucceeded('verify', sound));
    assert.equal(calls.filter((c) => c.startsWith('verify ')).length, 2);
    await damagePacks(p);
    const damaged = await verify(id, p);
    assert.equal(operationSucceeded('verify', damaged), false);
    assert.match(JSON.stringify(damaged.operation), /STORE_CORRUPT/);
  });
});

describe('flows: delete, prune and gc', () => {
  it('delete runs the delete hooks, removes the checkpoint and the data only it used, keeps what another uses', async () => {
    const p = provider('local');
    const first = await protectOk(p, shop('only in the first', 'shared'));
    const second = await protectOk(p, shop('only in the second', 'shared'));
    assert.equal((await packs(p)).length, 3, "the first's two, the second's own");
    const result = await deleteCheckpoint(first, p);
    assert.equal(result.checkpoint.status, 'deleted');
    assert.ok(operationSucceeded('delete', result));
    assert.deepEqual(calls.filter((c) => c.startsWith('delete ')).sort(), [
      'delete app main',
      'delete db main',
    ]);
    assert.deepEqual(await p.bank.list(`checkpoints/${first}/`), []);
    assert.equal((await packs(p)).length, 2, 'the pack only the first used is gone');
    assert.deepEqual(
      (await new CheckpointStore(p.bank).list()).checkpoints.map((c) => c.id),
      [second],
    );
    // The second checkpoint still restores whole: the shared blob stayed.
    await restore(second, p);
    assert.deepEqual(Object.fromEntries(restored), { app: 'only in the second', db: 'shared' });
  });

  it('prune deletes what the policy lets go (a dry run nothing), newest first kept', async () => {
    const p = provider('local');
    const ids = [];
    for (const text of ['one', 'two', 'three']) ids.push(await protectOk(p, shop(text, text)));
    const dry = await prunePlan('shop', p, { kind: 'max_backups', count: 1 }, { dryRun: true });
    assert.deepEqual(
      dry.decisions.filter((d) => !d.keep).map((d) => d.id),
      [ids[1], ids[0]],
    );
    assert.equal((await new CheckpointStore(p.bank).list({ plan: 'shop' })).checkpoints.length, 3);
    const done = await prunePlan('shop', p, { kind: 'max_backups', count: 1 });
    assert.deepEqual(
      done.decisions.map((d) => [d.id, d.keep, d.deleted]),
      [
        [ids[2], true, undefined],
        [ids[1], false, true],
        [ids[0], false, true],
      ],
    );
    assert.deepEqual(
      (await new CheckpointStore(p.bank).list({ plan: 'shop' })).checkpoints.map((c) => c.id),
      [ids[2]],
    );
    assert.equal((await packs(p)).length, 1, 'the data of the two deleted went with them');
  });

  it('gc collects the data of checkpoints deleted without collecting, and nothing a live one uses', async () => {
    const p = provider('local');
    const gone = await protectOk(p, shop('gone', 'gone too'));
    const kept = await protectOk(p, shop('kept', 'kept too'));
    await deleteCheckpoint(gone, p, { collect: false });
    assert.equal((await packs(p)).length, 4);
    const dry = await collectGarbage(p, { dryRun: true });
    assert.equal(dry.packsRemoved, 2);
    assert.equal((await packs(p)).length, 4, 'a dry run removes nothing');
    const report = await collectGarbage(p);
    assert.equal(report.packsRemoved, 2, JSON.stringify(report));
    assert.equal((await packs(p)).length, 2);
    assert.ok(operationSucceeded('verify', await verify(kept, p)));
  });
});

describe('flows: copy and repair', () => {
  it('copy makes the same checkpoint, available, in another provider, restorable there; not twice', async () => {
    const from = provider('local');
    const to = provider('offsite');
    const id = await protectOk(from, shop('copied app', 'copied db'));
    const result = await copyCheckpoint(id, from, to);
    assert.ok(operationSucceeded('copy', result));
    assert.equal(result.checkpoint.status, 'available');
    assert.equal(result.checkpoint.provider.name, 'offsite');
    await restore(id, to);
    assert.deepEqual(Object.fromEntries(restored), { app: 'copied app', db: 'copied db' });
    await assert.rejects(copyCheckpoint(id, from, to), { code: 'CHECKPOINT_STATE' });
    await assert.rejects(copyCheckpoint(id, from, from), { code: 'USAGE' });
  });

  it('repair names the checkpoint whose data is damaged; a protect of the same data heals it', async () => {
    const p = provider('local');
    const id = await protectOk(p, shop('precious', 'also precious'));
    await damagePacks(p);
    const dry = await repair(p, { dryRun: true });
    assert.equal(dry.check.damagedCopies, 2);
    assert.equal(dry.prune.packsRemoved, 0);
    const report = await repair(p);
    assert.deepEqual(
      report.affected.map((a) => [a.id, a.blobs]),
      [[id, 2]],
    );
    assert.equal(operationSucceeded('verify', await verify(id, p)), false);
    // Content addressing: the same data protected again writes the same blob anew.
    await protectOk(p, shop('precious', 'also precious'));
    assert.ok(operationSucceeded('verify', await verify(id, p)));
    await restore(id, p);
    assert.deepEqual(Object.fromEntries(restored), { app: 'precious', db: 'also precious' });
    assert.deepEqual((await repair(p)).affected, []);
  });
});
