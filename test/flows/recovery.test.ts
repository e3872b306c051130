/**
 * Recovery of dead protects: whatever is wrong with one dead checkpoint (its journal, its
 * record, its plugins, the bank) is recorded on it, and never stops the protect that found
 * it, nor any other plan.
 */
import assert from 'node:assert/strict';
import { appendFile } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import type { Bank } from '../../src/bank/index.js';
import { journalPrefix, metaKey, operationKey } from '../../src/checkpoints/keys.js';
import { CheckpointStore } from '../../src/checkpoints/store.js';
import { protect } from '../../src/flows/protect.js';
import type { ProtectionPlugin } from '../../src/plugins/sdk.js';
import type { Provider } from '../../src/providers/provider.js';
import { deadProtect } from './dead-protect.js';
import { plan } from './fixture.js';

/** A plan that has nothing to do with the dead one. */
const OTHER = plan(`
name: other
resources:
  - {type: noop, id: n}
`);

async function pendingMarkers(provider: Provider): Promise<string[]> {
  return provider.bank.list('index/pending/');
}

async function operationLog(provider: Provider, id: string, op: string) {
  return JSON.parse((await provider.bank.get(operationKey(id, op))).toString('utf8'));
}

describe('recovery of a dead protect never stops another plan', () => {
  it('a damaged journal: the next protect of another plan succeeds, the dead checkpoint is error with JOURNAL_CORRUPT naming the journal object, its marker is gone', async () => {
    const dead = await deadProtect();
    const provider = await dead.provider();
    const objects = await provider.bank.list(`${journalPrefix(dead.id)}/`);
    assert.ok(objects.length > 0, 'the dead protect wrote a journal');
    for (const key of objects) await provider.bank.put(key, '\u0000garbage{{{\n');

    const next = await protect(OTHER, provider);
    assert.equal(next.checkpoint.status, 'available');
    const told = next.operation!.log.find((l) => l.includes(dead.id));
    assert.ok(told, `the new protect's log tells of the recovery: ${next.operation!.log.join('\n')}`);
    assert.match(told, new RegExp(`${objects[0]}:1: not a journal record`));

    const meta = await new CheckpointStore(provider.bank).get(dead.id);
    assert.equal(meta.status, 'error');
    assert.equal(meta.error?.code, 'JOURNAL_CORRUPT');
    assert.ok(meta.error?.message.includes(objects[0]!), meta.error?.message);
    assert.match(
      meta.error!.message,
      /were not run; recovery is given up: check by hand whether exec\.task#app, exec\.task#db were left prepared/,
    );
    assert.equal(meta.error?.details?.key, objects[0]);
    const log = await operationLog(provider, dead.id, meta.operations.at(-1)!);
    assert.equal(log.error.code, 'JOURNAL_CORRUPT');
    assert.ok(log.error.message.includes(objects[0]!));
    assert.deepEqual(await pendingMarkers(provider), [], 'not retried forever');
    assert.ok(!(await dead.lines()).some((l) => l.startsWith('thaw')), 'no teardown was guessed at');

    const again = await protect(OTHER, provider);
    assert.equal(again.checkpoint.status, 'available');
    assert.ok(!again.operation!.log.some((l) => l.includes(dead.id)), 'recovered once');
  });

  it("a plugin that throws when asked for a teardown: the other resources' owed teardowns run, the checkpoint's error names the plugin, the next protect succeeds", async () => {
    const dead = await deadProtect();
    const builtins = await dead.provider();
    const real = builtins.registry.handler('exec.task').plugin;
    // exec.task as it is now: it cannot give the db's operation any more.
    const broken: ProtectionPlugin = {
      name: 'exec.task',
      types: real.types,
      operation(kind, resource, parameters) {
        if (resource.id === 'db')
          throw new TypeError("Cannot read properties of undefined (reading 'protect')");
        return real.operation(kind, resource, parameters);
      },
    };
    const provider = await dead.provider({ without: ['exec.task'], extra: [broken] });

    const next = await protect(OTHER, provider);
    assert.equal(next.checkpoint.status, 'available');
    const lines = await dead.lines();
    assert.ok(lines.includes('thaw app'), `the app was thawed: ${lines.join(', ')}`);
    assert.ok(!lines.includes('thaw db'));

    const meta = await new CheckpointStore(provider.bank).get(dead.id);
    assert.equal(meta.status, 'error');
    assert.equal(meta.error?.code, 'HOOK_FAILED');
    assert.match(
      meta.error!.message,
      /exec\.task#db prepareFinish: plugin "exec\.task": operation\("protect", exec\.task#db\) threw: Cannot read properties/,
    );
    assert.deepEqual(meta.error?.details?.failed, ['exec.task#db:prepareFinish']);
    const log = await operationLog(provider, dead.id, meta.operations.at(-1)!);
    const db = log.tasks.find(
      (t: { resource: string; hook: string }) => t.resource === 'exec.task#db' && t.hook === 'prepareFinish',
    );
    assert.equal(db.status, 'failed');
    assert.equal(db.error.details.plugin, 'exec.task');
    assert.deepEqual(await pendingMarkers(provider), []);
  });

  it("a type the provider no longer handles: the checkpoint's error names each teardown that could not run, the next protect succeeds", async () => {
    const dead = await deadProtect();
    // exec.task was taken out of the provider since.
    const withoutExec = await dead.provider({ without: ['exec.task'] });
    const next = await protect(OTHER, withoutExec);
    assert.equal(next.checkpoint.status, 'available');
    const meta = await new CheckpointStore(withoutExec.bank).get(dead.id);
    assert.equal(meta.status, 'error');
    assert.match(meta.error!.message, /2 of the teardowns it still owed failed/);
    assert.match(
      meta.error!.message,
      /exec\.task#app prepareFinish: cannot be run: .*unknown resource type "exec\.task"/,
    );
    assert.deepEqual(await pendingMarkers(withoutExec), []);
    assert.ok(!(await dead.lines()).includes('thaw app'));
  });

  it('an owed teardown that never returns holds the recovering protect only for the recovery hook timeout', {
    timeout: 30_000,
  }, async () => {
    const dead = await deadProtect();
    const real = (await dead.provider()).registry.handler('exec.task').plugin;
    // The db's thaw hangs and ignores its signal; the app's is the real one.
    const hanging: ProtectionPlugin = {
      name: 'exec.task',
      types: real.types,
      operation(kind, resource, parameters) {
        if (resource.id === 'db') return { onPrepareFinish: () => new Promise<void>(() => {}) };
        return real.operation(kind, resource, parameters);
      },
    };
    const provider = await dead.provider({ without: ['exec.task'], extra: [hanging] });
    const before = process.env.HOARD_RECOVERY_HOOK_TIMEOUT_MS;
    process.env.HOARD_RECOVERY_HOOK_TIMEOUT_MS = '200';
    try {
      const next = await protect(OTHER, provider);
      assert.equal(next.checkpoint.status, 'available');
    } finally {
      if (before === undefined) delete process.env.HOARD_RECOVERY_HOOK_TIMEOUT_MS;
      else process.env.HOARD_RECOVERY_HOOK_TIMEOUT_MS = before;
    }
    assert.ok((await dead.lines()).includes('thaw app'));
    const meta = await new CheckpointStore(provider.bank).get(dead.id);
    assert.equal(meta.error?.code, 'HOOK_FAILED');
    assert.match(meta.error!.message, /exec\.task#db prepareFinish: did not finish within 200 ms/);
    assert.deepEqual(await pendingMarkers(provider), []);
  });

  it('a damaged checkpoint record: the next protect succeeds and says so, the marker is given up at once', async () => {
    const dead = await deadProtect();
    const provider = await dead.provider();
    await provider.bank.put(metaKey(dead.id), '{"version": 1, "id": ');
    const next = await protect(OTHER, provider);
    assert.equal(next.checkpoint.status, 'available');
    const told = next.operation!.log.find((l) => l.includes(dead.id));
    assert.match(
      told ?? '',
      /failed: .*JSON.*; the teardowns it still owed were not run; recovery is given up/,
    );
    assert.deepEqual(await pendingMarkers(provider), []);
  });

  it('a bank that fails while recovery records its result: retried by at most three protects, the teardowns run once', async () => {
    const dead = await deadProtect();
    const provider = await dead.provider();
    const failing = `checkpoints/${dead.id}/operations/`;
    const bank = provider.bank;
    const flaky: Bank = new Proxy(bank, {
      get(target, name, receiver) {
        if (name === 'put') {
          return (key: string, data: Parameters<Bank['put']>[1]) =>
            key.startsWith(failing)
              ? Promise.reject(new Error(`EIO: i/o error, write '${key}'`))
              : target.put(key, data);
        }
        const value = Reflect.get(target, name, receiver);
        return typeof value === 'function' ? value.bind(target) : value;
      },
    });
    const p: Provider = { ...provider, bank: flaky };
    const store = new CheckpointStore(bank);
    for (const attempt of [1, 2, 3]) {
      const next = await protect(OTHER, p);
      assert.equal(next.checkpoint.status, 'available', `protect ${attempt}`);
      const meta = await store.get(dead.id);
      assert.equal(meta.status, 'error');
      assert.match(meta.error!.message, /EIO: i\/o error/);
      if (attempt < 3) {
        assert.match(
          meta.error!.message,
          new RegExp(`a later protect tries again \\(attempt ${attempt} of 3\\)`),
        );
        assert.deepEqual(await pendingMarkers(provider), [`index/pending/${dead.id}`]);
      } else {
        assert.match(meta.error!.message, /were run, but recording that failed; recovery is given up/);
        assert.deepEqual(await pendingMarkers(provider), [], 'given up after three attempts');
      }
    }
    const lines = await dead.lines();
    assert.equal(lines.filter((l) => l === 'thaw app').length, 1, lines.join(', '));
    assert.equal(lines.filter((l) => l === 'thaw db').length, 1, lines.join(', '));
  });

  it('a marker whose protect died before writing its record is removed, and nothing else happens', async () => {
    const dead = await deadProtect();
    const provider = await dead.provider();
    const orphan = '20200101T000000000Z-0000abcd';
    await provider.bank.put(`index/pending/${orphan}`, '');
    await appendFile(join(dead.dir, 'hooks.log'), '');
    const next = await protect(OTHER, provider);
    assert.equal(next.checkpoint.status, 'available');
    assert.deepEqual(await pendingMarkers(provider), []);
    assert.ok(
      next.operation!.log.some((l) => l.includes(`${orphan}: its protect died before writing its record`)),
    );
    // The real dead one was recovered as usual: its teardowns ran.
    assert.ok((await dead.lines()).includes('thaw app'));
  });
});
