import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { HoardError } from '../../src/errors.js';
import {
  type Backup,
  type Decision,
  decayBucket,
  decide,
  FAILED_PROTECT,
  LAST_AVAILABLE,
  type Policy,
  validatePolicy,
} from '../../src/flows/retention.js';

const DAY = 86_400_000;
const NOW = new Date('2026-11-20T12:00:00Z');

function backup(id: string, createdAt: string | Date, status = 'available'): Backup {
  return { id, createdAt: new Date(createdAt), status };
}

/** One available backup a day at 03:00 UTC, `days` of them ending today; ids are their ages ("d0" is today's). */
function daily(days: number, now = NOW): Backup[] {
  const midnight = Math.floor(now.getTime() / DAY) * DAY;
  return Array.from({ length: days }, (_, age) =>
    backup(`d${age}`, new Date(midnight - age * DAY + 3 * 3_600_000)),
  );
}

const kept = (decisions: Decision[]) => decisions.filter((d) => d.keep).map((d) => d.id);
const removed = (decisions: Decision[]) => decisions.filter((d) => !d.keep).map((d) => d.id);
const reasonsOf = (decisions: Decision[], id: string) => decisions.find((d) => d.id === id)?.reasons;

describe('validatePolicy', () => {
  it('accepts each kind and fills in rsbackup defaults for age and decay', () => {
    assert.deepEqual(validatePolicy({ kind: 'max_backups', count: 7 }, 'p'), {
      kind: 'max_backups',
      count: 7,
    });
    assert.deepEqual(validatePolicy({ kind: 'retention_duration', days: 30 }, 'p'), {
      kind: 'retention_duration',
      days: 30,
    });
    assert.deepEqual(validatePolicy({ kind: 'keep', daily: 7, weekly: 0 }, 'p'), {
      kind: 'keep',
      daily: 7,
      weekly: 0,
    });
    assert.deepEqual(validatePolicy({ kind: 'age' }, 'p'), { kind: 'age', minBackups: 1, pruneAgeDays: 366 });
    assert.deepEqual(validatePolicy({ kind: 'decay', scale: 1.5 }, 'p'), {
      kind: 'decay',
      start: 1,
      window: 1,
      scale: 1.5,
      limit: 366,
    });
  });

  const bad = (value: unknown, pattern: RegExp) =>
    assert.throws(
      () => validatePolicy(value, 'nightly.yaml: retention'),
      (e: unknown) => e instanceof HoardError && e.code === 'RETENTION_INVALID' && pattern.test(e.message),
    );

  it('rejects bad input with RETENTION_INVALID, naming the field and what was expected', () => {
    bad('daily', /^nightly\.yaml: retention: expected a mapping with a kind/);
    bad([], /got a list/);
    bad({ kind: 'weekly' }, /retention\.kind: expected one of max_backups, .*decay, got "weekly"/);
    bad({ count: 3 }, /retention\.kind: expected one of .* got nothing/);
    bad({ kind: 'max_backups' }, /retention\.count: is required \(a whole number ≥ 1\)/);
    bad({ kind: 'max_backups', count: 0 }, /retention\.count: expected a whole number ≥ 1, got 0/);
    bad({ kind: 'max_backups', count: 2.5 }, /retention\.count: expected a whole number ≥ 1, got 2\.5/);
    bad({ kind: 'retention_duration', days: '30' }, /retention\.days: expected a whole number ≥ 1, got "30"/);
    bad({ kind: 'keep', daily: -1 }, /retention\.daily: expected a whole number ≥ 0, got -1/);
    bad(
      { kind: 'keep', daily: 0 },
      /needs at least one of last, hourly, daily, weekly, monthly, yearly above 0/,
    );
    bad(
      { kind: 'keep', keep_daily: 7 },
      /retention\.keep_daily: is not a field of a keep policy \(it takes last, /,
    );
    bad({ kind: 'age', min_backups: 2 }, /retention\.min_backups: is not a field of a age policy/);
    bad({ kind: 'age', pruneAgeDays: 0 }, /retention\.pruneAgeDays: expected a whole number ≥ 1, got 0/);
    bad({ kind: 'decay', scale: 1 }, /retention\.scale: expected a number above 1, got 1/);
    bad({ kind: 'decay', window: 0 }, /retention\.window: expected a whole number ≥ 1, got 0/);
  });

  it('decide refuses a policy that bypassed validation rather than delete on it', () => {
    assert.throws(
      () => decide(daily(3), { kind: 'max_backups', count: 0 }, NOW),
      (e: unknown) => e instanceof HoardError && e.code === 'RETENTION_INVALID',
    );
  });
});

describe('rules that hold for every policy', () => {
  const everything: Policy[] = [
    { kind: 'max_backups', count: 1 },
    { kind: 'retention_duration', days: 1 },
    { kind: 'keep', last: 1 },
    { kind: 'age', minBackups: 1, pruneAgeDays: 1 },
    { kind: 'decay', start: 1, window: 1, scale: 2, limit: 1 },
  ];

  it('removes nothing after a failed protect, whatever the policy', () => {
    const history = [backup('failed', '2026-11-20T03:00:00Z', 'error'), ...daily(40).slice(1)];
    for (const policy of everything) {
      const decisions = decide(history, policy, NOW);
      assert.deepEqual(removed(decisions), [], policy.kind);
      assert.ok(decisions.every((d) => d.reasons.length === 1 && d.reasons[0] === FAILED_PROTECT));
    }
  });

  it('removes nothing while the newest checkpoint is still being protected', () => {
    const history = [backup('running', '2026-11-20T11:00:00Z', 'protecting'), ...daily(10)];
    const decisions = decide(history, { kind: 'max_backups', count: 1 }, NOW);
    assert.deepEqual(removed(decisions), []);
    assert.match(reasonsOf(decisions, 'd5')![0]!, /newest checkpoint \(running\) is protecting/);
  });

  it('ignores checkpoints already being deleted when judging the last protect', () => {
    const history = [backup('gone', '2026-11-20T11:00:00Z', 'deleted'), ...daily(3)];
    const decisions = decide(history, { kind: 'max_backups', count: 1 }, NOW);
    assert.deepEqual(removed(decisions), ['d1', 'd2']);
    assert.equal(decisions[0]!.id, 'gone');
    assert.equal(decisions[0]!.keep, true);
    assert.match(decisions[0]!.reasons[0]!, /status deleted: retention removes only available and error/);
  });

  it('never deletes the newest available checkpoint, even when the policy would', () => {
    const history = [backup('old', '2026-01-01T00:00:00Z'), backup('older', '2025-06-01T00:00:00Z')];
    for (const policy of everything) {
      const decisions = decide(history, policy, NOW);
      assert.deepEqual(kept(decisions), ['old'], policy.kind);
    }
    const decisions = decide(history, { kind: 'retention_duration', days: 30 }, NOW);
    assert.deepEqual(reasonsOf(decisions, 'old'), [LAST_AVAILABLE, 'overrides: older than 30 days']);
    assert.deepEqual(reasonsOf(decisions, 'older'), ['older than 30 days']);
  });

  it('removes error checkpoints that a later available one superseded, and leaves other states alone', () => {
    const history = [
      ...daily(2),
      backup('failed', '2026-11-18T03:00:00Z', 'error'),
      backup('copy', '2026-11-17T03:00:00Z', 'copying'),
      backup('half-gone', '2026-11-16T03:00:00Z', 'error_deleting'),
    ];
    const decisions = decide(history, { kind: 'max_backups', count: 5 }, NOW);
    assert.deepEqual(removed(decisions), ['failed']);
    assert.deepEqual(reasonsOf(decisions, 'failed'), [
      'error checkpoint: a failed protect, superseded by available checkpoint d0',
    ]);
    assert.match(reasonsOf(decisions, 'copy')![0]!, /^status copying/);
  });

  it('answers newest first whatever the input order, and nothing for no history', () => {
    const decisions = decide([...daily(4)].reverse(), { kind: 'max_backups', count: 2 }, NOW);
    assert.deepEqual(
      decisions.map((d) => d.id),
      ['d0', 'd1', 'd2', 'd3'],
    );
    assert.deepEqual(decide([], { kind: 'max_backups', count: 2 }, NOW), []);
  });

  it('rejects a checkpoint without a valid createdAt', () => {
    assert.throws(
      () => decide([backup('x', 'not a date')], { kind: 'max_backups', count: 1 }, NOW),
      (e: unknown) =>
        e instanceof HoardError && e.code === 'RETENTION_INVALID' && /checkpoint x/.test(e.message),
    );
  });
});

describe('max_backups and retention_duration (Karbor)', () => {
  it('max_backups keeps the newest N available checkpoints', () => {
    const decisions = decide(daily(5), { kind: 'max_backups', count: 3 }, NOW);
    assert.deepEqual(kept(decisions), ['d0', 'd1', 'd2']);
    assert.deepEqual(reasonsOf(decisions, 'd3'), ['not among the newest 3 (max_backups)']);
  });

  it('retention_duration removes checkpoints more than N×24 hours old', () => {
    const history = [
      backup('new', NOW),
      backup('exactly', new Date(NOW.getTime() - 30 * DAY)),
      backup('just-over', new Date(NOW.getTime() - 30 * DAY - 1)),
    ];
    const decisions = decide(history, { kind: 'retention_duration', days: 30 }, NOW);
    assert.deepEqual(kept(decisions), ['new', 'exactly']);
    assert.deepEqual(reasonsOf(decisions, 'just-over'), ['older than 30 days']);
  });
});

describe('keep (restic forget semantics)', () => {
  it("restic's documented example: --keep-daily 4 over twelve weekly Sunday backups keeps the last four", () => {
    const sundays = [
      '2019-09-01',
      '2019-09-08',
      '2019-09-15',
      '2019-09-22',
      '2019-09-29',
      '2019-10-06',
      '2019-10-13',
      '2019-10-20',
      '2019-10-27',
      '2019-11-03',
      '2019-11-10',
      '2019-11-17',
    ].map((day) => backup(day, `${day}T11:00:00Z`));
    const decisions = decide(sundays, { kind: 'keep', daily: 4 }, new Date('2019-11-18T00:00:00Z'));
    assert.deepEqual(kept(decisions), ['2019-11-17', '2019-11-10', '2019-11-03', '2019-10-27']);
    assert.deepEqual(reasonsOf(decisions, '2019-11-17'), ['daily snapshot for 2019-11-17']);
    assert.deepEqual(reasonsOf(decisions, '2019-10-20'), ['keep daily 4 is used up']);
  });

  it("restic's documented example: daily backups, --keep-daily 7 --keep-weekly 5 keeps 7 dailies and 4 more Sundays", () => {
    // 2026-11-22 is a Sunday, so the seven dailies are exactly one ISO week and hold one weekly.
    const now = new Date('2026-11-22T12:00:00Z');
    const decisions = decide(daily(60, now), { kind: 'keep', daily: 7, weekly: 5 }, now);
    assert.deepEqual(kept(decisions), ['d0', 'd1', 'd2', 'd3', 'd4', 'd5', 'd6', 'd7', 'd14', 'd21', 'd28']);
    assert.deepEqual(reasonsOf(decisions, 'd0'), [
      'daily snapshot for 2026-11-22',
      'weekly snapshot for 2026-W47',
    ]);
    assert.deepEqual(reasonsOf(decisions, 'd7'), ['weekly snapshot for 2026-W46']);
    assert.deepEqual(reasonsOf(decisions, 'd8'), [
      'keep daily 7 is used up',
      'weekly: a newer snapshot is kept for 2026-W46',
    ]);
  });

  it('keeps the newest of each hour, the newest N with last, and months and years by calendar', () => {
    const history = [
      backup('h11', '2026-11-20T11:05:00Z'),
      backup('h10c', '2026-11-20T10:50:00Z'),
      backup('h10b', '2026-11-20T10:20:00Z'),
      backup('h09', '2026-11-20T09:59:59Z'),
      backup('oct', '2026-10-31T23:00:00Z'),
      backup('2025', '2025-12-31T23:59:59Z'),
    ];
    assert.deepEqual(kept(decide(history, { kind: 'keep', hourly: 3 }, NOW)), ['h11', 'h10c', 'h09']);
    assert.deepEqual(kept(decide(history, { kind: 'keep', last: 2 }, NOW)), ['h11', 'h10c']);
    assert.deepEqual(kept(decide(history, { kind: 'keep', monthly: 2 }, NOW)), ['h11', 'oct']);
    const yearly = decide(history, { kind: 'keep', yearly: 2 }, NOW);
    assert.deepEqual(kept(yearly), ['h11', '2025']);
    assert.deepEqual(reasonsOf(yearly, '2025'), ['yearly snapshot for 2025']);
  });

  it('keeps the oldest snapshot too when a rule has counts left (restic 0.17)', () => {
    const history = [
      backup('today', '2026-11-20T03:00:00Z'),
      backup('yesterday-late', '2026-11-19T20:00:00Z'),
      backup('yesterday-early', '2026-11-19T08:00:00Z'),
    ];
    const decisions = decide(history, { kind: 'keep', daily: 7 }, NOW);
    assert.deepEqual(kept(decisions), ['today', 'yesterday-late', 'yesterday-early']);
    assert.deepEqual(reasonsOf(decisions, 'yesterday-early'), [
      'oldest daily snapshot (keep daily 7 was not used up)',
    ]);
    assert.deepEqual(removed(decide(history, { kind: 'keep', daily: 2 }, NOW)), ['yesterday-early']);
  });

  it('takes days and ISO weeks in UTC, across a year boundary', () => {
    const days = [backup('after', '2026-11-20T00:30:00Z'), backup('before', '2026-11-19T23:30:00Z')];
    assert.deepEqual(kept(decide(days, { kind: 'keep', daily: 2 }, NOW)), ['after', 'before']);
    const weeks = [
      backup('mon', '2021-01-04T12:00:00Z'), // 2021-W01
      backup('sun', '2021-01-03T12:00:00Z'), // 2020-W53
      backup('thu', '2020-12-31T12:00:00Z'), // 2020-W53
      backup('prev', '2020-12-27T12:00:00Z'), // 2020-W52
    ];
    const decisions = decide(weeks, { kind: 'keep', weekly: 3 }, new Date('2021-01-05T00:00:00Z'));
    assert.deepEqual(kept(decisions), ['mon', 'sun', 'prev']);
    assert.deepEqual(reasonsOf(decisions, 'sun'), ['weekly snapshot for 2020-W53']);
    assert.deepEqual(reasonsOf(decisions, 'thu'), ['weekly: a newer snapshot is kept for 2020-W53']);
  });
});

describe('age (rsbackup)', () => {
  const ages = [0, 10, 40, 50, 60];
  const history = ages.map((age) => backup(`a${age}`, new Date(NOW.getTime() - age * DAY)));

  it('removes the oldest backups past prune age while more than min backups remain', () => {
    const decisions = decide(history, { kind: 'age', minBackups: 2, pruneAgeDays: 30 }, NOW);
    assert.deepEqual(removed(decisions), ['a40', 'a50', 'a60']);
    assert.deepEqual(reasonsOf(decisions, 'a60'), [
      'age 60 days > prune age 30 and 5 remaining > min backups 2',
    ]);
    assert.deepEqual(reasonsOf(decisions, 'a10'), ['age 10 days is not over prune age 30']);
  });

  it('keeps old backups when only min backups would remain, removing oldest first', () => {
    const decisions = decide(history, { kind: 'age', minBackups: 4, pruneAgeDays: 30 }, NOW);
    assert.deepEqual(removed(decisions), ['a60']);
    assert.deepEqual(reasonsOf(decisions, 'a50'), ['only 4 remain and min backups is 4']);
  });

  it('counts age in whole UTC calendar days, as rsbackup counts dates', () => {
    const now = new Date('2026-11-20T00:30:00Z');
    const history = [backup('new', now), backup('old', '2026-10-21T23:50:00Z')]; // 29.03 days, 30 dates apart
    const decisions = decide(history, { kind: 'age', minBackups: 1, pruneAgeDays: 29 }, now);
    assert.deepEqual(reasonsOf(decisions, 'old'), [
      'age 30 days > prune age 29 and 2 remaining > min backups 1',
    ]);
  });
});

describe('decay (rsbackup)', () => {
  it("matches rsbackup's own prune_decay_bucket test vectors", () => {
    // rsbackup's unit test lists buckets for a = age - start = 1, 2, 3, ...
    const vectors: [number, number, number[]][] = [
      [1, 2, [0, 1, 1, 2, 2, 2, 2, 3]],
      [2, 2, [0, 0, 1, 1, 1, 1, 2, 2, 2, 2, 2, 2, 2, 2, 3]],
      [1, 3, [0, 1, 1, 1, 2, 2, 2, 2, 2, 2, 2, 2, 2, 3]],
      [2, 3, [0, 0, 1, 1, 1, 1, 1, 1, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 3]],
    ];
    for (const [window, scale, buckets] of vectors) {
      const got = buckets.map((_, i) => decayBucket(i + 1 + 1, { start: 1, window, scale }));
      assert.deepEqual(got, buckets, `window ${window}, scale ${scale}`);
    }
  });

  it('with the defaults (start 1, window 1, scale 2) buckets double: ages 2, 3–4, 5–8, 9–16, …', () => {
    const p = { start: 1, window: 1, scale: 2 };
    const table: [number, number][] = [
      [0, -1],
      [1, -1],
      [2, 0],
      [3, 1],
      [4, 1],
      [5, 2],
      [8, 2],
      [9, 3],
      [16, 3],
      [17, 4],
      [32, 4],
      [33, 5],
      [64, 5],
      [65, 6],
      [257, 8],
      [366, 8],
    ];
    for (const [age, bucket] of table) assert.equal(decayBucket(age, p), bucket, `age ${age}`);
  });

  it('each bucket is scale times as long as the one before', () => {
    for (const [window, scale] of [
      [1, 2],
      [2, 3],
      [3, 4],
      [7, 2],
    ] as const) {
      const sizes = new Map<number, number>();
      for (let age = 1; age <= 2000; age++) {
        const bucket = decayBucket(age, { start: 0, window, scale });
        sizes.set(bucket, (sizes.get(bucket) ?? 0) + 1);
      }
      for (let n = 0; 2 * window * scale ** (n + 1) < 2000; n++)
        assert.equal(sizes.get(n), window * scale ** n);
    }
  });

  it('keeps backups up to decay start and the oldest backup of each bucket', () => {
    const decisions = decide(daily(41), { kind: 'decay', start: 1, window: 1, scale: 2, limit: 366 }, NOW);
    assert.deepEqual(kept(decisions), ['d0', 'd1', 'd2', 'd4', 'd8', 'd16', 'd32', 'd40']);
    assert.deepEqual(reasonsOf(decisions, 'd1'), ['age 1 days is not over decay start 1']);
    assert.deepEqual(reasonsOf(decisions, 'd8'), ['oldest in decay bucket 2 (ages 5–8 days)']);
    assert.deepEqual(reasonsOf(decisions, 'd7'), ['not the oldest in decay bucket 2 (ages 5–8 days)']);
    assert.deepEqual(reasonsOf(decisions, 'd2'), ['oldest in decay bucket 0 (ages 2 days)']);
  });

  it('removes backups past the decay limit, but never the last available one', () => {
    const policy: Policy = { kind: 'decay', start: 1, window: 1, scale: 2, limit: 10 };
    const decisions = decide(daily(14), policy, NOW);
    assert.deepEqual(removed(decisions), ['d3', 'd5', 'd6', 'd7', 'd9', 'd11', 'd12', 'd13']);
    assert.deepEqual(reasonsOf(decisions, 'd11'), ['age 11 days > decay limit 10']);
    const allOld = daily(14).slice(11);
    assert.deepEqual(kept(decide(allOld, policy, NOW)), ['d11']);
  });

  it('keeps a single backup, as rsbackup does', () => {
    const decisions = decide(
      daily(20).slice(19),
      { kind: 'decay', start: 1, window: 1, scale: 2, limit: 5 },
      NOW,
    );
    assert.deepEqual(decisions, [{ id: 'd19', keep: true, reasons: ['the only backup'] }]);
  });
});
