import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import {
  type EngineEvent,
  type RunOptions,
  runGraph,
  SimulatedClock,
  startRun,
  type TaskContext,
  TaskGraph,
  type TaskSpec,
} from '../../src/engine/index.js';
import { HoardError } from '../../src/errors.js';

/** Builds a graph from `a>b` strings; tasks not listed in `specs` are plain async no-ops that log. */
function build(edges: string[], specs: Partial<Record<string, Partial<TaskSpec>>> = {}, log: string[] = []) {
  const g = new TaskGraph();
  const ids = new Set<string>();
  for (const e of edges) for (const id of e.split(/>|~/)) ids.add(id);
  for (const id of Object.keys(specs)) ids.add(id);
  for (const id of ids) {
    g.add({
      id,
      run: async () => {
        log.push(id);
      },
      ...specs[id],
    });
  }
  for (const e of edges) {
    const done = e.includes('~');
    const [a, b] = e.split(/>|~/) as [string, string];
    g.edge(a, b, done ? 'done' : 'success');
  }
  return { g, log };
}

const fail =
  (message = 'boom') =>
  async () => {
    throw new Error(message);
  };

function states(result: { tasks: readonly { id: string; state: string }[] }) {
  return Object.fromEntries(result.tasks.map((t) => [t.id, t.state]));
}

/** Runs on a simulated clock so that sleeps, timeouts and backoff cost no real time. */
async function simulate(g: TaskGraph, options: RunOptions = {}) {
  const clock = new SimulatedClock();
  const run = startRun(g, { clock, ...options });
  const result = await clock.run(run.result);
  return { result, clock, run };
}

const work = (ms: number) => (ctx: TaskContext) => ctx.sleep(ms);

describe('engine: ordering', () => {
  it('runs every task once, after all of its predecessors', async () => {
    const { g, log } = build(['a>b', 'a>c', 'b>d', 'c>d', 'd>e']);
    const result = await runGraph(g);
    assert.equal(result.status, 'succeeded');
    assert.equal(log.length, 5);
    const at = (id: string) => log.indexOf(id);
    assert.ok(
      at('a') < at('b') && at('a') < at('c') && at('b') < at('d') && at('c') < at('d') && at('d') < at('e'),
    );
    assert.deepEqual(result.counts, {
      pending: 0,
      running: 0,
      succeeded: 5,
      failed: 0,
      skipped: 0,
      upstream_failed: 0,
      cancelled: 0,
    });
  });

  it('a task without run costs nothing but keeps the order it implies', async () => {
    const { g, log } = build(['a>noop', 'noop>b'], { noop: { run: undefined } });
    const result = await runGraph(g);
    assert.deepEqual(log, ['a', 'b']);
    assert.equal(result.task('noop')!.state, 'succeeded');
  });

  it('walks a chain of 100 000 tasks without growing the stack', async () => {
    const g = new TaskGraph();
    for (let i = 0; i < 100_000; i++) {
      g.add({ id: `t${i}` });
      if (i > 0) g.edge(`t${i - 1}`, `t${i}`);
    }
    const result = await runGraph(g);
    assert.equal(result.counts.succeeded, 100_000);
  });
});

describe('engine: failures', () => {
  it('marks downstream tasks upstream_failed, naming the first failed task, while other branches carry on', async () => {
    const { g, log } = build(['a>b', 'b>c', 'c>d', 'a>x', 'x>y'], { b: { run: fail('disk full') } });
    const result = await runGraph(g);
    assert.equal(result.status, 'failed');
    assert.equal(result.firstFailure, 'b');
    assert.deepEqual(states(result), {
      a: 'succeeded',
      b: 'failed',
      c: 'upstream_failed',
      d: 'upstream_failed',
      x: 'succeeded',
      y: 'succeeded',
    });
    assert.equal(result.task('d')!.cause, 'b');
    assert.equal((result.task('b')!.error as Error).message, 'disk full');
    assert.deepEqual(log.sort(), ['a', 'x', 'y']);
  });

  it('names the earliest failure when two reach one task', async () => {
    const { g } = build(['early>join', 'late>join'], {
      early: { run: async (ctx: TaskContext) => ctx.sleep(1).then(() => Promise.reject(new Error('e'))) },
      late: { run: async (ctx: TaskContext) => ctx.sleep(5).then(() => Promise.reject(new Error('l'))) },
    });
    const { result } = await simulate(g);
    assert.equal(result.task('join')!.cause, 'early');
    assert.equal(result.firstFailure, 'early');
  });

  it('a done edge runs its successor even if the predecessor fails', async () => {
    const { g, log } = build(['a~b', 'b>c'], { a: { run: fail() } });
    const result = await runGraph(g);
    assert.deepEqual(states(result), { a: 'failed', b: 'succeeded', c: 'succeeded' });
    assert.deepEqual(log, ['b', 'c']);
  });

  it('waits for every predecessor before marking a task upstream_failed', async () => {
    const order: string[] = [];
    const g = new TaskGraph()
      .add({ id: 'bad', run: fail() })
      .add({ id: 'slow', run: async (ctx) => ctx.sleep(10).then(() => void order.push('slow')) })
      .add({ id: 'setup', run: () => void order.push('setup') })
      .add({ id: 'join', run: () => void order.push('join') })
      .add({ id: 'teardown', teardownOf: 'setup', run: () => void order.push('teardown') })
      .edge('bad', 'join')
      .edge('slow', 'join')
      .edge('join', 'teardown');
    const { result } = await simulate(g);
    assert.equal(result.task('join')!.state, 'upstream_failed');
    assert.deepEqual(order, ['setup', 'slow', 'teardown']);
  });
});

describe('engine: skipping', () => {
  it('a task may end itself skipped; success successors skip, done successors run', async () => {
    const { g, log } = build(['identify>backup', 'backup>record', 'identify~report'], {
      identify: { run: (ctx: TaskContext) => ctx.skip('not needed') },
    });
    const result = await runGraph(g);
    assert.equal(result.status, 'succeeded');
    assert.deepEqual(states(result), {
      identify: 'skipped',
      backup: 'skipped',
      record: 'skipped',
      report: 'succeeded',
    });
    assert.equal(result.task('identify')!.skipReason, 'not needed');
    assert.deepEqual(log, ['report']);
  });
});

describe('engine: setup and teardown', () => {
  function freezeSnapshotThaw(snapshot: TaskSpec['run'], log: string[]) {
    const g = new TaskGraph()
      .add({ id: 'freeze', run: () => void log.push('freeze') })
      .add({ id: 'snapshot', run: snapshot })
      .add({
        id: 'thaw',
        teardownOf: 'freeze',
        run: (ctx) => void log.push(`thaw sees ${ctx.failures.map((f) => f.task).join(',') || 'nothing'}`),
      })
      .add({ id: 'upload', run: () => void log.push('upload') })
      .edge('freeze', 'snapshot')
      .edge('snapshot', 'thaw')
      .edge('thaw', 'upload');
    return g;
  }

  it('a teardown runs after a failed child, sees the failure, and does not clear it', async () => {
    const log: string[] = [];
    const result = await runGraph(freezeSnapshotThaw(fail('snapshot failed'), log));
    assert.deepEqual(log, ['freeze', 'thaw sees snapshot']);
    assert.deepEqual(states(result), {
      freeze: 'succeeded',
      snapshot: 'failed',
      thaw: 'succeeded',
      upload: 'upstream_failed',
    });
    assert.equal(result.task('upload')!.cause, 'snapshot');
  });

  it('a teardown does not run when its setup failed', async () => {
    const log: string[] = [];
    const g = freezeSnapshotThaw(async () => void log.push('snapshot'), log);
    const failing = new TaskGraph();
    for (const id of ['freeze', 'snapshot', 'thaw', 'upload']) {
      const spec = g.task(id)!;
      failing.add(id === 'freeze' ? { ...spec, run: fail('cannot freeze') } : spec);
    }
    failing.edge('freeze', 'snapshot').edge('snapshot', 'thaw').edge('thaw', 'upload');
    const result = await runGraph(failing);
    assert.deepEqual(log, []);
    assert.equal(result.task('thaw')!.state, 'upstream_failed');
    assert.equal(result.task('thaw')!.cause, 'freeze');
  });

  it('a setup that failed with owesTeardown (it may have done its work) still gets its teardown', async () => {
    const order: string[] = [];
    const lost = Object.assign(new Error('the process running it died'), { owesTeardown: true });
    const g = new TaskGraph()
      .add({
        id: 'freeze',
        run: () => {
          throw lost;
        },
      })
      .add({ id: 'work', run: () => void order.push('work') })
      .add({
        id: 'thaw',
        teardownOf: 'freeze',
        run: (ctx) => void order.push(`thaw after ${ctx.failures[0]?.task}`),
      })
      .edge('freeze', 'work')
      .edge('work', 'thaw');
    const result = await runGraph(g);
    assert.deepEqual(order, ['thaw after freeze']);
    assert.equal(result.task('work')!.state, 'upstream_failed');
    assert.equal(result.task('thaw')!.state, 'succeeded');
    assert.equal(result.status, 'failed');
  });

  it('a teardown whose setup was skipped is skipped', async () => {
    const g = new TaskGraph()
      .add({ id: 's', run: (ctx) => ctx.skip() })
      .add({ id: 't', teardownOf: 's', run: fail('must not run') });
    const result = await runGraph(g);
    assert.equal(result.task('t')!.state, 'skipped');
  });
});

describe('engine: limits', () => {
  it('never runs more tasks than the concurrency limit', async () => {
    const g = new TaskGraph();
    let now = 0;
    let peak = 0;
    for (let i = 0; i < 40; i++) {
      g.add({
        id: `t${i}`,
        run: async (ctx) => {
          peak = Math.max(peak, ++now);
          await ctx.sleep(1 + (i % 7));
          now--;
        },
      });
    }
    const { result } = await simulate(g, { concurrency: 3 });
    assert.equal(result.status, 'succeeded');
    assert.equal(peak, 3);
  });

  it('two tasks that use one exclusive resource never overlap; a semaphore admits its limit', async () => {
    const g = new TaskGraph();
    const spans: Record<string, [number, number][]> = { dev1: [], rack: [] };
    let rackNow = 0;
    let rackPeak = 0;
    for (let i = 0; i < 12; i++) {
      g.add({
        id: `dev${i}`,
        uses: ['device:1'],
        run: async (ctx) => {
          const start = ctx.now();
          await ctx.sleep(3);
          spans.dev1!.push([start, ctx.now()]);
        },
      });
      g.add({
        id: `rack${i}`,
        semaphores: [{ group: 'rack', limit: 2 }],
        run: async (ctx) => {
          rackPeak = Math.max(rackPeak, ++rackNow);
          await ctx.sleep(2);
          rackNow--;
        },
      });
    }
    const { result, clock } = await simulate(g);
    assert.equal(result.status, 'succeeded');
    const sorted = spans.dev1!.sort((a, b) => a[0] - b[0]);
    for (let i = 1; i < sorted.length; i++)
      assert.ok(sorted[i]![0] >= sorted[i - 1]![1], 'device uses overlap');
    assert.equal(rackPeak, 2);
    assert.equal(clock.now(), 36); // the device is the bottleneck: 12 × 3
  });

  it('a task needing two resources takes both or none, and nothing starves', async () => {
    const g = new TaskGraph();
    const holding = new Map<string, number>();
    const take = (names: string[]) => async (ctx: TaskContext) => {
      for (const n of names) {
        assert.equal(holding.get(n) ?? 0, 0, `${n} held twice`);
        holding.set(n, 1);
      }
      await ctx.sleep(1);
      for (const n of names) holding.set(n, 0);
    };
    for (let i = 0; i < 30; i++) {
      const names = [['a'], ['b'], ['a', 'b'], ['b', 'c'], ['c']][i % 5]!;
      g.add({ id: `t${i}`, uses: names, run: take(names) });
    }
    const { result } = await simulate(g, { concurrency: 4 });
    assert.equal(result.counts.succeeded, 30);
  });
});

describe('engine: priorities', () => {
  it('starts higher priority first, then the longest remaining path', async () => {
    const started: string[] = [];
    const g = new TaskGraph();
    const t = (id: string, extra: Partial<TaskSpec> = {}) =>
      g.add({
        id,
        run: async (ctx) => {
          started.push(id);
          await ctx.sleep(1);
        },
        ...extra,
      });
    t('short');
    t('long', { estimate: 5 });
    t('long2');
    t('urgent', { priority: 10 });
    g.edge('long', 'long2');
    await simulate(g, { concurrency: 1 });
    assert.deepEqual(started.slice(0, 3), ['urgent', 'long', 'short']);
  });

  it('fifo scheduling starts tasks in the order they became ready', async () => {
    const started: string[] = [];
    const g = new TaskGraph();
    for (const id of ['a', 'b', 'c'])
      g.add({ id, run: () => void started.push(id), estimate: id === 'c' ? 9 : 1 });
    await simulate(g, { concurrency: 1, scheduling: 'fifo' });
    assert.deepEqual(started, ['a', 'b', 'c']);
  });
});

describe('engine: time', () => {
  it('a task that hangs fails with TASK_TIMEOUT and its signal aborts', async () => {
    let aborted: unknown;
    const g = new TaskGraph().add({
      id: 'hang',
      timeout: 50,
      run: (ctx) =>
        new Promise<void>(() => {
          ctx.signal.addEventListener('abort', () => {
            aborted = ctx.signal.reason;
          });
        }),
    });
    const { result, clock } = await simulate(g);
    const record = result.task('hang')!;
    assert.equal(record.state, 'failed');
    assert.ok(record.error instanceof HoardError && record.error.code === 'TASK_TIMEOUT');
    assert.equal(aborted, record.error);
    assert.equal(clock.now(), 50);
  });

  it('retries with backoff and then succeeds', async () => {
    const attempts: number[] = [];
    const g = new TaskGraph().add({
      id: 'flaky',
      retry: { retries: 3, delay: 100, factor: 3 },
      run: async (ctx) => {
        attempts.push(ctx.now());
        if (ctx.attempt < 3) throw new Error(`attempt ${ctx.attempt}`);
      },
    });
    const events: EngineEvent[] = [];
    const { result } = await simulate(g, { onEvent: (e) => events.push(e) });
    assert.equal(result.task('flaky')!.state, 'succeeded');
    assert.equal(result.task('flaky')!.attempts, 3);
    assert.deepEqual(attempts, [0, 100, 400]);
    const states = events.flatMap((e) => (e.type === 'state' ? [e.state] : []));
    assert.deepEqual(states, ['running', 'pending', 'running', 'pending', 'running', 'succeeded']);
  });

  it('gives up after the last retry with the last error', async () => {
    const g = new TaskGraph().add({
      id: 'broken',
      retry: { retries: 2, delay: 1 },
      run: async (ctx) => {
        throw new Error(`attempt ${ctx.attempt}`);
      },
    });
    const { result } = await simulate(g);
    assert.equal(result.task('broken')!.state, 'failed');
    assert.equal((result.task('broken')!.error as Error).message, 'attempt 3');
  });

  it('a timed-out attempt can be retried; its late answer is ignored', async () => {
    // The first attempt ignores its signal and answers only once the second has started:
    // no real timer, so the simulated clock alone decides (a real one made this flaky).
    let answerLate!: () => void;
    const late = new Promise<void>((resolve) => {
      answerLate = resolve;
    });
    const g = new TaskGraph().add({
      id: 'slow-then-fast',
      timeout: 10,
      retry: { retries: 1, delay: 5 },
      run: async (ctx) => {
        if (ctx.attempt === 1) await late;
        else answerLate();
      },
    });
    const { result } = await simulate(g);
    assert.equal(result.task('slow-then-fast')!.state, 'succeeded');
    assert.equal(result.task('slow-then-fast')!.attempts, 2);
  });

  it('the overall deadline cancels the run and still runs owed teardowns', async () => {
    const g = new TaskGraph()
      .add({ id: 'setup', run: work(1) })
      .add({ id: 'long', run: work(1000) })
      .add({ id: 'after', run: work(1) })
      .add({ id: 'teardown', teardownOf: 'setup', run: work(1) })
      .edge('setup', 'long')
      .edge('long', 'after')
      .edge('after', 'teardown');
    const { result, clock } = await simulate(g, { deadline: 100 });
    assert.equal(result.status, 'cancelled');
    assert.ok(result.reason instanceof HoardError && result.reason.code === 'DEADLINE_EXCEEDED');
    assert.deepEqual(states(result), {
      setup: 'succeeded',
      long: 'cancelled',
      after: 'cancelled',
      teardown: 'succeeded',
    });
    assert.equal(clock.now(), 101);
  });
});

describe('engine: cancellation', () => {
  it('mid-run: aborts running tasks, cancels waiting ones, runs owed teardowns with a live signal', async () => {
    const controller = new AbortController();
    const log: string[] = [];
    let teardownSignalAborted: boolean | undefined;
    const g = new TaskGraph()
      .add({ id: 'freeze', run: () => void log.push('freeze') })
      .add({
        id: 'snapshot',
        run: async (ctx) => {
          log.push('snapshot started');
          controller.abort(new Error('operator pressed ctrl-c'));
          await ctx.sleep(10_000);
          log.push('snapshot finished');
        },
      })
      .add({ id: 'other', run: () => void log.push('other') })
      .add({
        id: 'thaw',
        teardownOf: 'freeze',
        run: async (ctx) => {
          await ctx.sleep(5);
          teardownSignalAborted = ctx.signal.aborted;
          log.push('thaw');
        },
      })
      .add({ id: 'upload', run: () => void log.push('upload') })
      .edge('freeze', 'snapshot')
      .edge('snapshot', 'thaw')
      .edge('thaw', 'upload')
      .edge('snapshot', 'other');
    const { result } = await simulate(g, { signal: controller.signal });
    assert.equal(result.status, 'cancelled');
    assert.equal((result.reason as Error).message, 'operator pressed ctrl-c');
    assert.deepEqual(log, ['freeze', 'snapshot started', 'thaw']);
    assert.equal(teardownSignalAborted, false);
    assert.deepEqual(states(result), {
      freeze: 'succeeded',
      snapshot: 'cancelled',
      other: 'cancelled',
      thaw: 'succeeded',
      upload: 'cancelled',
    });
  });

  it('run.cancel() before the start cancels everything', async () => {
    const { g, log } = build(['a>b']);
    const run = startRun(g);
    run.cancel();
    const result = await run.result;
    assert.deepEqual(log, []);
    assert.equal(result.status, 'cancelled');
    assert.equal(result.counts.cancelled, 2);
  });

  it('a task waiting on a busy resource is cancelled, an owed teardown waiting on one still runs', async () => {
    const controller = new AbortController();
    const g = new TaskGraph()
      .add({ id: 'setup', run: () => {} })
      .add({
        id: 'holder',
        uses: ['dev'],
        run: async (ctx) => {
          controller.abort();
          await ctx.sleep(3).catch(() => {});
        },
      })
      .add({ id: 'waiter', uses: ['dev'], run: () => {} })
      .add({ id: 'teardown', teardownOf: 'setup', uses: ['dev'], run: () => {} })
      .edge('setup', 'holder')
      .edge('setup', 'waiter');
    const { result } = await simulate(g, { signal: controller.signal });
    assert.equal(result.task('waiter')!.state, 'cancelled');
    assert.equal(result.task('teardown')!.state, 'succeeded');
    assert.equal(result.task('holder')!.state, 'succeeded'); // it swallowed the abort and finished
  });
});

describe('engine: events', () => {
  it('emits an event for every state change and for progress', async () => {
    const g = new TaskGraph()
      .add({
        id: 'a',
        run: (ctx) => {
          ctx.progress(0.5, 'half');
          ctx.progress(7);
        },
      })
      .add({ id: 'b', run: fail() })
      .add({ id: 'c' })
      .edge('a', 'b')
      .edge('b', 'c');
    const run = startRun(g);
    const events: EngineEvent[] = [];
    run.on((e) => events.push(e));
    await run.result;
    const summary = events.map((e) =>
      e.type === 'state'
        ? `${e.task}:${e.previous}>${e.state}${e.cause ? `(${e.cause})` : ''}`
        : e.type === 'progress'
          ? `${e.task}:${e.fraction}${e.detail ? ` ${e.detail}` : ''}`
          : `run:${e.phase}`,
    );
    assert.deepEqual(summary, [
      'run:started',
      'a:pending>running',
      'a:0.5 half',
      'a:1',
      'a:running>succeeded',
      'b:pending>running',
      'b:running>failed',
      'c:pending>upstream_failed(b)',
      'run:finished',
    ]);
  });
});
