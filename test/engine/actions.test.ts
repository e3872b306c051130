import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import {
  ActionList,
  type EngineEvent,
  type RunResult,
  SimulatedClock,
  startRun,
  type TaskContext,
} from '../../src/engine/index.js';
import { HoardError } from '../../src/errors.js';

/**
 * rsbackup's relations for one run: backups, pruning and the access hooks. rsbackup's
 * design page could not be read from here, so this list is rebuilt from the relations the
 * issue quotes (`live/:host < mounted/:host/:volume`, `check-stores <
 * identify/:host/:volume/:device`) and from rsbackup's Action.h and MakeBackup.cc: hooks
 * around each backup, the record written even when a backup fails, pruning after backups,
 * the prune log written even when a removal fails, and the access hooks around everything.
 */
const RELATIONS = [
  // access hooks
  'pre-access-hook < check-stores',
  'pre-access-hook < post-access-hook',
  // backups
  'check-stores < identify/:host/:volume/:device',
  'live/:host < mounted/:host/:volume',
  'mounted/:host/:volume < identify/:host/:volume/:device',
  'identify/:host/:volume/:device < pre-backup-hook/:host/:volume/:device',
  'pre-backup-hook/:host/:volume/:device < backup/:host/:volume/:device',
  'pre-backup-hook/:host/:volume/:device < post-backup-hook/:host/:volume/:device',
  'backup/:host/:volume/:device < post-backup-hook/:host/:volume/:device even if A fails',
  'pre-backup-hook/:host/:volume/:device < record-backup/:host/:volume/:device',
  'backup/:host/:volume/:device < record-backup/:host/:volume/:device even if A fails',
  'post-backup-hook/:host/:volume/:device < post-access-hook even if A fails',
  'record-backup/:host/:volume/:device < post-access-hook even if A fails',
  // pruning
  'check-stores < identify-prunable/:host/:volume/:device',
  'record-backup/:host/:volume/:device < identify-prunable/:host/:volume/:device even if A fails',
  'identify-prunable/:host/:volume/:device < remove-prunable/:host/:volume/:device',
  'remove-prunable/:host/:volume/:device < log-prunable/:host/:volume/:device even if A fails',
  'log-prunable/:host/:volume/:device < post-access-hook even if A fails',
];

const HOSTS = ['h1', 'h2'];
const VOLUMES = ['v1', 'v2'];
const DEVICES = ['d1', 'd2'];

interface Scenario {
  fail?: string[];
  notNeeded?: string[];
}

function actionPaths(): string[] {
  const paths = ['pre-access-hook', 'check-stores', 'post-access-hook'];
  for (const h of HOSTS) {
    paths.push(`live/${h}`);
    for (const v of VOLUMES) {
      paths.push(`mounted/${h}/${v}`);
      for (const d of DEVICES) {
        for (const a of [
          'identify',
          'pre-backup-hook',
          'backup',
          'post-backup-hook',
          'record-backup',
          'identify-prunable',
          'remove-prunable',
          'log-prunable',
        ]) {
          paths.push(`${a}/${h}/${v}/${d}`);
        }
      }
    }
  }
  return paths;
}

async function runScenario({ fail = [], notNeeded = [] }: Scenario) {
  const list = new ActionList();
  let salt = 0;
  for (const path of actionPaths()) {
    const [kind, host, , device] = path.split('/');
    const duration = 1 + ((salt++ * 7) % 5);
    const uses =
      kind === 'backup'
        ? [`device:${device}`, `host:${host}`]
        : kind === 'remove-prunable'
          ? [`device:${device}`]
          : [];
    list.action(path, {
      uses,
      run: async (ctx: TaskContext) => {
        if (notNeeded.includes(path)) return ctx.skip('no backup needed');
        await ctx.sleep(duration);
        if (fail.includes(path)) throw new Error(`${path} failed`);
      },
    });
  }
  for (const r of RELATIONS) list.relation(r);
  const clock = new SimulatedClock();
  const run = startRun(list.toGraph(), { clock, concurrency: 4 });
  const spans = new Map<string, { start: number; end: number }>();
  run.on((e: EngineEvent) => {
    if (e.type !== 'state') return;
    if (e.state === 'running') spans.set(e.task, { start: e.at, end: Number.NaN });
    else if (e.previous === 'running') spans.get(e.task)!.end = e.at;
  });
  const result = await clock.run(run.result);
  return { result, spans };
}

/** An independent reading of the relations: every (A, B) pair they order, by brute force. */
function orderedPairs(paths: string[]) {
  const pairs: { a: string; b: string; evenIfFails: boolean; relation: string }[] = [];
  for (const text of RELATIONS) {
    const evenIfFails = text.endsWith('even if A fails');
    const [left, right] = text
      .replace(' even if A fails', '')
      .split(' < ')
      .map((t) => t.split('/')) as [string[], string[]];
    const bind = (template: string[], path: string) => {
      const segs = path.split('/');
      if (segs.length !== template.length) return undefined;
      const b: Record<string, string> = {};
      for (let i = 0; i < segs.length; i++) {
        const t = template[i]!;
        if (t.startsWith(':')) b[t] = segs[i]!;
        else if (t !== segs[i]) return undefined;
      }
      return b;
    };
    for (const a of paths) {
      const ba = bind(left, a);
      if (!ba) continue;
      for (const b of paths) {
        const bb = bind(right, b);
        if (!bb) continue;
        if (Object.keys(ba).every((k) => !(k in bb) || ba[k] === bb[k]))
          pairs.push({ a, b, evenIfFails, relation: text });
      }
    }
  }
  return pairs;
}

/** Checks every ordered pair that both ran; returns how many that was. */
function assertRelationsHold(result: RunResult, spans: Map<string, { start: number; end: number }>): number {
  let checked = 0;
  for (const { a, b, relation } of orderedPairs(actionPaths())) {
    const sa = spans.get(a);
    const sb = spans.get(b);
    if (!sa || !sb) continue; // one of them never ran
    assert.ok(sa.end <= sb.start, `${relation}: ${a} ended at ${sa.end}, ${b} started at ${sb.start}`);
    checked++;
  }
  // Relations without "even if" never let B run after a failed A.
  for (const { a, b, evenIfFails, relation } of orderedPairs(actionPaths())) {
    const state = result.task(a)!.state;
    if (!evenIfFails && state !== 'succeeded')
      assert.ok(!spans.has(b), `${relation}: ${b} ran after ${a} was ${state}`);
  }
  return checked;
}

function assertDevicesNeverShared(spans: Map<string, { start: number; end: number }>) {
  for (const d of DEVICES) {
    const using = [...spans]
      .filter(([path]) => /^(backup|remove-prunable)\//.test(path) && path.endsWith(`/${d}`))
      .map(([, span]) => span)
      .sort((x, y) => x.start - y.start);
    assert.ok(using.length >= 6, `only ${using.length} actions used ${d}`);
    for (let i = 1; i < using.length; i++) {
      assert.ok(using[i]!.start >= using[i - 1]!.end, `device ${d} used by two actions at once`);
    }
  }
}

describe("action lists: rsbackup's concurrency design (2 hosts × 2 volumes × 2 devices)", () => {
  it('every relation holds in the recorded start/end order when all goes well', async () => {
    const { result, spans } = await runScenario({});
    assert.equal(result.status, 'succeeded');
    assert.equal(result.counts.succeeded, actionPaths().length);
    assert.equal(assertRelationsHold(result, spans), orderedPairs(actionPaths()).length);
    assertDevicesNeverShared(spans);
  });

  it('failures and "not needed" behave as rsbackup intends', async () => {
    const { result, spans } = await runScenario({
      fail: ['backup/h1/v1/d1', 'remove-prunable/h2/v2/d2'],
      notNeeded: ['identify/h2/v1/d2'],
    });
    const state = (path: string) => result.task(path)!.state;
    assert.equal(result.status, 'failed');
    assert.ok(assertRelationsHold(result, spans) > 100);
    assertDevicesNeverShared(spans);

    // (b) a failed backup still gets its post-backup-hook and record-backup; post-access-hook still runs
    assert.equal(state('backup/h1/v1/d1'), 'failed');
    assert.equal(state('post-backup-hook/h1/v1/d1'), 'succeeded');
    assert.equal(state('record-backup/h1/v1/d1'), 'succeeded');
    assert.equal(state('post-access-hook'), 'succeeded');
    assert.ok(spans.get('post-access-hook')!.start >= spans.get('record-backup/h1/v1/d1')!.end);

    // (c) a failed remove-prunable still gets log-prunable
    assert.equal(state('remove-prunable/h2/v2/d2'), 'failed');
    assert.equal(state('log-prunable/h2/v2/d2'), 'succeeded');

    // (d) "not needed" skips that volume's successors on that device; the rest proceed
    assert.equal(state('identify/h2/v1/d2'), 'skipped');
    for (const a of ['pre-backup-hook', 'backup', 'post-backup-hook', 'record-backup']) {
      assert.equal(state(`${a}/h2/v1/d2`), 'skipped', a);
    }
    for (const other of ['backup/h2/v1/d1', 'backup/h2/v2/d2', 'backup/h1/v1/d2', 'backup/h1/v2/d1']) {
      assert.equal(state(other), 'succeeded', other);
    }
    assert.equal(state('identify-prunable/h2/v1/d2'), 'succeeded'); // pruning goes on after a skipped backup
  });
});

describe('action lists: the builder', () => {
  it('a relation with fewer parameters on the left holds for all values of the missing ones', () => {
    const g = new ActionList()
      .action('check-stores')
      .action('identify/h1/v1/d1')
      .action('identify/h2/v1/d2')
      .action('other/h1/v1/d1')
      .relation('check-stores < identify/:host/:volume/:device')
      .toGraph();
    const { succ, succStart, index } = g.compile();
    const i = index.get('check-stores')!;
    const after = [...succ.subarray(succStart[i]!, succStart[i + 1]!)].map((k) => g.compile().specs[k]!.id);
    assert.deepEqual(after.sort(), ['identify/h1/v1/d1', 'identify/h2/v1/d2']);
  });

  it('joins on shared parameters only', () => {
    const g = new ActionList()
      .action('live/a')
      .action('live/b')
      .action('mounted/a/x')
      .action('mounted/b/y')
      .relation('live/:host < mounted/:host/:volume')
      .toGraph();
    assert.equal(g.edgeCount, 2);
  });

  it('an action may complete immediately as skipped', async () => {
    const g = new ActionList()
      .action('identify/h/v/d', { skip: 'up to date' })
      .action('backup/h/v/d', { run: () => assert.fail('must not run') })
      .relation('identify/:h/:v/:d < backup/:h/:v/:d')
      .toGraph();
    const result = await startRun(g).result;
    assert.equal(result.task('identify/h/v/d')!.skipReason, 'up to date');
    assert.equal(result.task('backup/h/v/d')!.state, 'skipped');
  });

  it('rejects malformed relations and action paths with the offending text', () => {
    const list = new ActionList();
    assert.throws(() => list.relation('a << b'), /relation "a << b": expected "A < B"/);
    assert.throws(
      () => list.relation('a < b/:9x'),
      (e: unknown) => e instanceof HoardError && /":9x" is not a parameter/.test(e.message),
    );
    assert.throws(() => list.action('backup//d'), /non-empty segments/);
    assert.throws(() => list.action('a').action('a'), /added twice/);
  });

  it('a cycle between relations is reported with its path', () => {
    const g = new ActionList()
      .action('a/1')
      .action('b/1')
      .relation('a/:n < b/:n')
      .relation('b/:n < a/:n')
      .toGraph();
    assert.throws(() => g.compile(), /cycle: (a\/1 → b\/1 → a\/1|b\/1 → a\/1 → b\/1)/);
  });
});
