/**
 * OperationRunner.start: running a log another process queued (what `hoard worker` does with
 * each job). However often, and by however many runners, one log is handed over, its work
 * runs once.
 */
import assert from 'node:assert/strict';
import { mkdtemp } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { setTimeout as delay } from 'node:timers/promises';
import { SqliteCatalog } from '../../src/catalog/index.js';
import { OperationRunner, type Work } from '../../src/service/runner.js';

let catalog: SqliteCatalog;
const runners: OperationRunner[] = [];

before(async () => {
  catalog = new SqliteCatalog(join(await mkdtemp(join(tmpdir(), 'hoard-runner-')), 'catalog.sqlite'));
  await catalog.migrate();
});
after(async () => {
  await Promise.all(runners.map((r) => r.close(0)));
  await catalog.close();
});

function runner(owner: string): OperationRunner {
  const made = new OperationRunner(catalog, { owner, heartbeatMs: 60_000, logError: () => {} });
  runners.push(made);
  return made;
}

describe('OperationRunner.start', () => {
  it('runs a log handed over several times at once, in one runner and in two, exactly once', async () => {
    const log = await catalog.createOperationLog({ project: 'p', kind: 'verify', owner: 'api:1' });
    let runs = 0;
    const work: Work = async () => {
      runs++;
      await delay(100); // long enough for the other deliveries to arrive while it runs
      return { ok: true, result: { ran: true } };
    };
    const a = runner('worker-a:1');
    const b = runner('worker-b:2');
    const first = a.start(log, work);
    await Promise.all([a.start(log, work), b.start(log, work), b.start(log, work)]);
    // The deliveries that lost returned at once; the run goes on, still counted (and so its
    // heartbeat kept) by the runner that has it.
    assert.equal(a.running, 1);
    await first;
    assert.equal(runs, 1);
    const ended = await catalog.getOperationLog('p', log.id);
    assert.equal(ended?.status, 'succeeded');
    assert.ok(['worker-a:1', 'worker-b:2'].includes(ended!.owner!), `taken over: ${ended?.owner}`);
    assert.equal(a.running + b.running, 0);
  });

  it('does nothing with a log that has ended, and its listener hears nothing', async () => {
    const log = await catalog.createOperationLog({ project: 'p', kind: 'verify' });
    await catalog.updateOperationLog(log.id, ['queued'], { status: 'cancelled' });
    let called = false;
    const heard: string[] = [];
    await runner('worker-c:3').start(
      log,
      async () => {
        called = true;
        return { ok: true, result: null };
      },
      (event) => heard.push(event.type),
    );
    assert.equal(called, false);
    assert.deepEqual(heard, []);
  });
});

describe('OperationRunner.close', () => {
  it('waits for a heartbeat under way, so the catalog can be closed after it', async () => {
    // A catalog whose heartbeat pass (which looks for stale logs) takes a while: a beat
    // starts, then close() is called.
    let beats = 0;
    let release!: () => void;
    const held = new Promise<void>((resolve) => {
      release = resolve;
    });
    const slow = new Proxy(catalog, {
      get(target, name) {
        const value = Reflect.get(target, name, target);
        if (name !== 'failStale') return typeof value === 'function' ? value.bind(target) : value;
        return async (...args: Parameters<SqliteCatalog['failStale']>) => {
          beats++;
          await held;
          return target.failStale(...args);
        };
      },
    });
    const made = new OperationRunner(slow, { owner: 'server:1', heartbeatMs: 20, logError: () => {} });
    while (beats === 0) await delay(5);
    let closed = false;
    const closing = made.close(0).then(() => {
      closed = true;
    });
    await delay(100);
    assert.equal(closed, false, 'close() resolved while a heartbeat was still at the catalog');
    release();
    await closing;
    assert.equal(closed, true);
  });
});
