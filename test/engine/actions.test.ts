import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import {
  ActionList,
  type EngineEvent,
  SimulatedClock,
  startRun,
  type TaskContext,
  type TaskState,
  TERMINAL_STATES,
} from '../../src/engine/index.js';
import { HoardError } from '../../src/errors.js';

/** rsbackup's relations, verbatim from its "Concurrency" design page (the seed), `;` and all. */
const RELATIONS = [
  'live/HOST < mounted/HOST/VOLUME;',
  'mounted/HOST/VOLUME < flag/HOST/VOLUME',
  'flag/HOST/VOLUME < identify/HOST/VOLUME',
  'pre-access-hook < check-stores',
  'check-stores < identify/HOST/VOLUME/DEVICE',
  'identify/HOST/VOLUME < identify/HOST/VOLUME/DEVICE',
  'identify/HOST/VOLUME/DEVICE < pre-backup-hook/HOST/VOLUME/DEVICE',
  'pre-backup-hook/HOST/VOLUME/DEVICE < backup/HOST/VOLUME/DEVICE',
  'backup/HOST/VOLUME/DEVICE < post-backup-hook/HOST/VOLUME/DEVICE (even if backup/ fails)',
  'post-backup-hook/HOST/VOLUME/DEVICE < record-backup/HOST/VOLUME/DEVICE (even if post-backup-hook/ fails)',
  'record-backup/HOST/VOLUME/DEVICE < find-prunable/HOST/VOLUME/DEVICE',
  'backup/HOST/VOLUME/DEVICE < post-access-hook (even if backup/ fails)',
  'check-stores < remove-prunable/HOST/VOLUME/DEVICE',
  'find-prunable/HOST/VOLUME/DEVICE < remove-prunable/HOST/VOLUME/DEVICE/DATE',
  'remove-prunable/HOST/VOLUME/DEVICE/DATE < log-prunable (even if remove-prunable/ fails)',
  'log-prunable < expire-prune-logs (even if log-prunable fails)',
  'remove-prunable/HOST/VOLUME/DEVICE/DATE < post-access-hook (even if remove-prunable/ fails)',
];

/**
 * The kinds those relations name, from the page's lists of actions. The page also lists a
 * global `find-prunable`, `find-prunable/HOST/VOLUME` and `underway/HOST/VOLUME/DEVICE`, which
 * no relation names; `find-prunable` is per device here, as the relations have it.
 */
const KINDS = [
  'pre-access-hook',
  'check-stores',
  'live/HOST',
  'mounted/HOST/VOLUME',
  'flag/HOST/VOLUME',
  'identify/HOST/VOLUME',
  'identify/HOST/VOLUME/DEVICE',
  'pre-backup-hook/HOST/VOLUME/DEVICE',
  'backup/HOST/VOLUME/DEVICE',
  'post-backup-hook/HOST/VOLUME/DEVICE',
  'record-backup/HOST/VOLUME/DEVICE',
  'find-prunable/HOST/VOLUME/DEVICE',
  'remove-prunable/HOST/VOLUME/DEVICE/DATE',
  'log-prunable',
  'expire-prune-logs',
  'post-access-hook',
];

/** Three hosts with one to three volumes, two devices, and zero to three prunable backups each. */
const VOLUMES: Record<string, string[]> = { h1: ['home', 'srv'], h2: ['home'], h3: ['home', 'srv', 'var'] };
const DEVICES = ['d1', 'd2'];

function actionPaths({ prunable = true } = {}): string[] {
  const paths = ['pre-access-hook', 'check-stores', 'log-prunable', 'expire-prune-logs', 'post-access-hook'];
  let n = 0;
  for (const [h, volumes] of Object.entries(VOLUMES)) {
    paths.push(`live/${h}`);
    for (const v of volumes) {
      paths.push(`mounted/${h}/${v}`, `flag/${h}/${v}`, `identify/${h}/${v}`);
      for (const d of DEVICES) {
        for (const kind of ['identify', 'pre-backup-hook', 'backup', 'post-backup-hook', 'record-backup']) {
          paths.push(`${kind}/${h}/${v}/${d}`);
        }
        paths.push(`find-prunable/${h}/${v}/${d}`);
        const dates = prunable ? n++ % 4 : 0;
        for (let k = 1; k <= dates; k++) paths.push(`remove-prunable/${h}/${v}/${d}/2026-0${k}-01`);
      }
    }
  }
  return paths;
}

interface Pair {
  a: string;
  b: string;
  evenIfFails: boolean;
  relation: string;
}

/**
 * An independent, brute-force reading of the relations: every (A, B) pair they order. A
 * template names the kind of that name with as many parameters if there is one, else the
 * kinds with more (the page: "implicitly true for all possible values of the missing
 * parameter(s)"); parameters bind by position and shared ones must agree.
 */
function orderedPairs(paths: string[]): Pair[] {
  const arities = (name: string) =>
    KINDS.filter((k) => k.split('/')[0] === name).map((k) => k.split('/').length - 1);
  const bind = (template: string[], path: string) => {
    const segs = path.split('/');
    const own = arities(template[0]!).includes(template.length - 1);
    if (segs[0] !== template[0] || (own ? segs.length !== template.length : segs.length <= template.length))
      return undefined;
    const b: Record<string, string> = {};
    for (let i = 1; i < template.length; i++) b[template[i]!] = segs[i]!;
    return b;
  };
  const pairs: Pair[] = [];
  for (const relation of RELATIONS) {
    const m = /^(\S+) < (\S+?);?(?: \(even if (\S+) fails\))?$/.exec(relation)!;
    const [left, right] = [m[1]!.split('/'), m[2]!.split('/')];
    for (const a of paths) {
      const ba = bind(left, a);
      if (!ba) continue;
      for (const b of paths) {
        const bb = bind(right, b);
        if (bb && a !== b && Object.keys(ba).every((k) => !(k in bb) || ba[k] === bb[k]))
          pairs.push({ a, b, evenIfFails: m[3] !== undefined, relation });
      }
    }
  }
  return pairs;
}

/** For each action, every action that must end before it starts: the relations, transitively. */
function mustPrecede(paths: string[], pairs: Pair[]): Map<string, Set<string>> {
  const preds = new Map(paths.map((p) => [p, [] as string[]]));
  for (const { a, b } of pairs) preds.get(b)!.push(a);
  const closure = new Map<string, Set<string>>();
  const visit = (p: string): Set<string> => {
    let all = closure.get(p);
    if (all) return all;
    all = new Set();
    for (const q of preds.get(p)!) {
      all.add(q);
      for (const r of visit(q)) all.add(r);
    }
    closure.set(p, all);
    return all;
  };
  for (const p of paths) visit(p);
  return closure;
}

/** How each action ends when `failing` fail: rsbackup's "A failing means B can't run" unless "even if". */
function expectedStates(paths: string[], pairs: Pair[], failing: string[]): Map<string, TaskState> {
  const states = new Map<string, TaskState>();
  const state = (p: string): TaskState => {
    let s = states.get(p);
    if (s) return s;
    const blocked = pairs.some(
      ({ a, b, evenIfFails }) => b === p && !evenIfFails && state(a) !== 'succeeded',
    );
    s = blocked ? 'upstream_failed' : failing.includes(p) ? 'failed' : 'succeeded';
    states.set(p, s);
    return s;
  };
  for (const p of paths) state(p);
  return states;
}

function buildList(paths: string[], failing: string[] = []): ActionList {
  const list = new ActionList();
  for (const k of KINDS) list.kind(k);
  let salt = 0;
  for (const path of paths) {
    const [kind, , , device] = path.split('/');
    const duration = 1 + ((salt++ * 7) % 5);
    list.action(path, {
      uses: kind === 'backup' || kind === 'remove-prunable' ? [`device:${device}`] : [],
      run: async (ctx: TaskContext) => {
        await ctx.sleep(duration);
        if (failing.includes(path)) throw new Error(`${path} failed`);
      },
    });
  }
  for (const r of RELATIONS) list.relation(r);
  return list;
}

/**
 * Runs the seed's list with `failing` failing and checks, for every pair of actions, that
 * one the relations order (transitively) ended before the other started, and that every
 * action ended as the relations say. Returns the states and how many of the ordered pairs
 * both ran (`checked`) out of all (`total`).
 */
async function runAndCheck(failing: string[]) {
  const paths = actionPaths();
  const pairs = orderedPairs(paths);
  const clock = new SimulatedClock();
  const run = startRun(buildList(paths, failing).toGraph(), { clock, concurrency: 4 });
  const started = new Map<string, number>();
  const ended = new Map<string, number>();
  run.on((e: EngineEvent) => {
    if (e.type !== 'state') return;
    if (e.state === 'running') started.set(e.task, e.at);
    else if (TERMINAL_STATES.has(e.state)) ended.set(e.task, e.at);
  });
  const result = await clock.run(run.result);

  const expected = expectedStates(paths, pairs, failing);
  for (const p of paths) assert.equal(result.task(p)!.state, expected.get(p), p);
  let checked = 0;
  let total = 0;
  for (const [b, before] of mustPrecede(paths, pairs)) {
    total += before.size;
    const start = started.get(b);
    if (start === undefined) continue; // b never ran
    for (const a of before) {
      assert.ok(ended.get(a)! <= start, `${a} ended at ${ended.get(a)}, ${b} started at ${start}`);
      checked++;
    }
  }
  return { state: (p: string) => result.task(p)!.state, status: result.status, checked, total };
}

describe("action lists: rsbackup's concurrency design, its 17 relations verbatim", () => {
  it('the graph has exactly the edges the relations name, each relation ordering some pair', () => {
    for (const prunable of [true, false]) {
      const paths = actionPaths({ prunable });
      const pairs = orderedPairs(paths);
      const g = buildList(paths).toGraph();
      const { specs, succ, succStart, succDone } = g.compile();
      const edges: string[] = [];
      for (let i = 0; i < specs.length; i++) {
        for (let k = succStart[i]!; k < succStart[i + 1]!; k++) {
          edges.push(`${specs[i]!.id} < ${specs[succ[k]!]!.id}${succDone[k] ? ' even if' : ''}`);
        }
      }
      const want = pairs.map(({ a, b, evenIfFails }) => `${a} < ${b}${evenIfFails ? ' even if' : ''}`);
      assert.deepEqual(edges.sort(), want.sort());
      // With no prunable backups the three remove-prunable relations order nothing, and that is no error.
      const idle = RELATIONS.filter((r) => !pairs.some((p) => p.relation === r));
      assert.deepEqual(idle, prunable ? [] : RELATIONS.filter((r) => r.includes('remove-prunable')));
    }
  });

  it('every ordered pair holds in the recorded start/end times when all goes well', async () => {
    const { status, checked, total } = await runAndCheck([]);
    assert.equal(status, 'succeeded');
    assert.equal(checked, total);
    assert.ok(total > 1000, `only ${total} ordered pairs`);
  });

  it('when check-stores fails, only what "even if" lets through runs after it', async () => {
    const { state, status } = await runAndCheck(['check-stores']);
    assert.equal(status, 'failed');
    // Independent of the stores: liveness, mounts, flags and per-volume identification.
    for (const p of ['live/h1', 'mounted/h3/var', 'flag/h2/home', 'identify/h3/srv']) {
      assert.equal(state(p), 'succeeded', p);
    }
    // Needing the stores: nothing is identified, backed up or removed.
    for (const p of ['identify/h1/home/d1', 'pre-backup-hook/h1/home/d1', 'backup/h1/home/d1']) {
      assert.equal(state(p), 'upstream_failed', p);
    }
    assert.equal(state('remove-prunable/h1/home/d2/2026-01-01'), 'upstream_failed');
    // "even if backup/ fails" covers a backup that never ran: its post-backup-hook runs without
    // its pre-backup-hook having run, the record is written and pruning is looked for.
    assert.equal(state('post-backup-hook/h1/home/d1'), 'succeeded');
    assert.equal(state('record-backup/h1/home/d1'), 'succeeded');
    assert.equal(state('find-prunable/h1/home/d1'), 'succeeded');
    // The log, its expiry and the access hook run whatever the removals' fate.
    for (const p of ['log-prunable', 'expire-prune-logs', 'post-access-hook'])
      assert.equal(state(p), 'succeeded', p);
  });

  it('a failed backup, removal and prune log stop only what the relations say', async () => {
    const { state } = await runAndCheck([
      'backup/h1/srv/d2',
      'remove-prunable/h3/var/d1/2026-01-01',
      'log-prunable',
      'flag/h3/home',
    ]);
    assert.equal(state('post-backup-hook/h1/srv/d2'), 'succeeded');
    assert.equal(state('record-backup/h1/srv/d2'), 'succeeded');
    assert.equal(state('expire-prune-logs'), 'succeeded'); // even if log-prunable fails
    assert.equal(state('post-access-hook'), 'succeeded');
    assert.equal(state('identify/h3/home/d1'), 'upstream_failed'); // after its volume's flag
    assert.equal(state('backup/h3/srv/d1'), 'succeeded'); // another volume's flag
  });
});

describe('action lists: the builder', () => {
  const after = (list: ActionList, from: string) => {
    const { specs, succ, succStart, index } = list.toGraph().compile();
    const i = index.get(from)!;
    return [...succ.subarray(succStart[i]!, succStart[i + 1]!)].map((k) => specs[k]!.id).sort();
  };

  it('a parameter only one side names holds for all its values', () => {
    const list = new ActionList()
      .action('check-stores')
      .action('identify/h1/v1/d1')
      .action('identify/h2/v1/d2')
      .action('other/h1/v1/d1')
      .relation('check-stores < identify/:host/:volume/:device');
    assert.deepEqual(after(list, 'check-stores'), ['identify/h1/v1/d1', 'identify/h2/v1/d2']);
  });

  it('a template naming fewer parameters than the actions of its kind holds for all values of the rest', () => {
    const list = new ActionList()
      .action('check-stores')
      .action('find-prunable/h1/v1/d1')
      .action('find-prunable/h1/v1/d2')
      .action('remove-prunable/h1/v1/d1/2026-01-01')
      .action('remove-prunable/h1/v1/d1/2026-02-01')
      .action('remove-prunable/h1/v1/d2/2026-01-01')
      .relation('check-stores < remove-prunable/HOST/VOLUME/DEVICE')
      .relation('find-prunable/HOST/VOLUME < remove-prunable/HOST/VOLUME/DEVICE/DATE');
    assert.deepEqual(after(list, 'check-stores'), [
      'remove-prunable/h1/v1/d1/2026-01-01',
      'remove-prunable/h1/v1/d1/2026-02-01',
      'remove-prunable/h1/v1/d2/2026-01-01',
    ]);
    // find-prunable/HOST/VOLUME covers both devices' find-prunable, each before every removal of the volume.
    assert.equal(after(list, 'find-prunable/h1/v1/d2').length, 3);
  });

  it('a template names the kind with as many parameters when there is one', () => {
    const list = new ActionList()
      .action('identify/h/v')
      .action('identify/h/v/d1')
      .action('identify/h/v/d2')
      .relation('identify/HOST/VOLUME < identify/HOST/VOLUME/DEVICE');
    assert.deepEqual(after(list, 'identify/h/v'), ['identify/h/v/d1', 'identify/h/v/d2']);
    assert.deepEqual(after(list, 'identify/h/v/d1'), []);
  });

  it('a relation naming an unknown kind is an error naming the relation', () => {
    const list = new ActionList().action('check-stores').action('remove-prunable/h/v/d/2026-01-01');
    assert.throws(
      () => list.relation('check-stores < remove-prunabel/HOST/VOLUME/DEVICE').toGraph(),
      (e: unknown) =>
        e instanceof HoardError &&
        e.code === 'ACTIONS_INVALID' &&
        e.message ===
          'relation "check-stores < remove-prunabel/HOST/VOLUME/DEVICE": no kind of action is named "remove-prunabel"',
    );
    assert.throws(
      () => new ActionList().action('live/h').relation('live/HOST/VOLUME < live/HOST').toGraph(),
      /relation "live\/HOST\/VOLUME < live\/HOST": no kind of action "live" has 2 or more parameters/,
    );
  });

  it('a declared kind with no actions this run orders nothing and is no error', () => {
    const list = new ActionList()
      .kind('check-stores')
      .kind('remove-prunable/HOST/VOLUME/DEVICE/DATE')
      .action('check-stores')
      .relation('check-stores < remove-prunable/HOST/VOLUME/DEVICE');
    assert.equal(list.toGraph().edgeCount, 0);
    assert.throws(
      () => list.relation('check-stores < log-prunable').toGraph(),
      /no kind of action is named "log-prunable"/,
    );
  });

  it('once kinds are declared, an action of none of them is an error', () => {
    const list = new ActionList()
      .kind('remove-prunable/HOST/VOLUME/DEVICE/DATE')
      .action('remove-prunable/h/v/d');
    assert.throws(() => list.toGraph(), /action "remove-prunable\/h\/v\/d" is of no declared kind/);
    assert.throws(() => new ActionList().kind('backup/h1/VOLUME'), /a kind has only parameters/);
  });

  it('"even if X fails" must name the left side', () => {
    const list = new ActionList().action('backup/h/v/d').action('post-access-hook');
    for (const ok of ['backup/', 'backup', 'backup/HOST/VOLUME/DEVICE']) {
      list.relation(`backup/HOST/VOLUME/DEVICE < post-access-hook (even if ${ok} fails)`);
    }
    for (const bad of ['A', 'post-access-hook', 'backu/']) {
      const text = `backup/HOST/VOLUME/DEVICE < post-access-hook (even if ${bad} fails)`;
      assert.throws(
        () => list.relation(text),
        (e: unknown) =>
          e instanceof HoardError &&
          e.message.startsWith(`relation "${text}": "even if ${bad} fails" must name`),
      );
    }
  });

  it('joins on shared parameters only', () => {
    const g = new ActionList()
      .action('live/a')
      .action('live/b')
      .action('mounted/a/x')
      .action('mounted/b/y')
      .relation('live/HOST < mounted/HOST/VOLUME;')
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
    assert.throws(() => list.relation('HOST < b'), /must start with the name of a kind/);
    assert.throws(() => list.action('backup//d'), /non-empty segments/);
    assert.throws(() => list.action('a').action('a'), /added twice/);
  });

  it('a cycle between relations is reported with its path', () => {
    const g = new ActionList()
      .action('a/1')
      .action('b/1')
      .relation('a/N < b/N')
      .relation('b/N < a/N')
      .toGraph();
    assert.throws(() => g.compile(), /cycle: (a\/1 → b\/1 → a\/1|b\/1 → a\/1 → b\/1)/);
  });
});
