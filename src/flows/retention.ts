/**
 * Retention policies (SPEC §9): which checkpoints of a plan a `retention_protect` run or
 * `hoard prune PLAN --dry-run` removes, and why. Pure: the caller passes the history and `now`,
 * and acts on (or prints) the decisions; nothing here touches a bank, a clock or the catalog.
 *
 * Rules that hold whatever the policy:
 * - Only `available` checkpoints are backups a policy keeps or removes.
 * - Retention does not run after a failed protect: if the newest checkpoint (ignoring ones
 *   already `deleting`, `deleted` or `error_deleting`) is not `available`, nothing is removed.
 *   Karbor's retention_protect deleted old checkpoints even when its protect had just failed
 *   (karbor/services/operationengine/operations/retention_operation.py); SPEC §10.
 * - The newest `available` checkpoint is never removed, even when every policy would (Karbor's
 *   retention_duration and rsbackup's decay-limit can otherwise remove every backup).
 * - `error` checkpoints older than the newest available one are removed: they hold nothing
 *   restorable and a later protect superseded them. This is Proxmox Backup Server's prune rule
 *   for failed backups (docs/maintenance.rst), made stricter by the failed-protect rule above.
 * - Anything else (`protecting`, `copying`, the deletion states, unknown states) is left alone.
 */
import { HoardError } from '../errors.js';

export interface Backup {
  id: string;
  createdAt: Date;
  /** A checkpoint status (src/checkpoints/status.ts); unknown values are left alone. */
  status: 'available' | 'error' | (string & {});
}

/** Numbers of days are whole days; calendar buckets and day ages are taken in UTC. */
export type Policy =
  /** Keep the newest `count` available checkpoints (Karbor's `max_backups`). */
  | { kind: 'max_backups'; count: number }
  /** Remove available checkpoints more than `days` × 24 hours old (Karbor's `retention_duration`). */
  | { kind: 'retention_duration'; days: number }
  /** restic's `forget --keep-*`: each count keeps the newest checkpoint of that many distinct hours/days/…. */
  | {
      kind: 'keep';
      last?: number;
      hourly?: number;
      daily?: number;
      weekly?: number;
      monthly?: number;
      yearly?: number;
    }
  /** rsbackup's `age`: remove checkpoints more than `pruneAgeDays` days old while more than `minBackups` remain. */
  | { kind: 'age'; minBackups: number; pruneAgeDays: number }
  /** rsbackup's `decay`: past `start` days keep one checkpoint per window, each window `scale` times the last; past `limit` days keep none. */
  | { kind: 'decay'; start: number; window: number; scale: number; limit: number };

export interface Decision {
  id: string;
  /** False: the caller should delete this checkpoint. */
  keep: boolean;
  /** Why, for people: `--dry-run` and the operation log print these. */
  reasons: string[];
}

const DAY_MS = 86_400_000;
const KINDS = ['max_backups', 'retention_duration', 'keep', 'age', 'decay'] as const;
const KEEP_FIELDS = ['last', 'hourly', 'daily', 'weekly', 'monthly', 'yearly'] as const;
type KeepField = (typeof KEEP_FIELDS)[number];

/** rsbackup's defaults (src/Defaults.h): min-backups 1, prune-age 366, decay-start 1, decay-window 1, decay-scale 2, decay-limit 366. */
const RSBACKUP_DEFAULTS = { minBackups: 1, pruneAgeDays: 366, start: 1, window: 1, scale: 2, limit: 366 };

/** States of checkpoints on their way out: they say nothing about whether the last protect worked. */
const LEAVING = new Set(['deleting', 'deleted', 'error_deleting']);

export const FAILED_PROTECT = 'the last protect failed; retention does not run after a failed protect';
export const LAST_AVAILABLE = 'the last available checkpoint is never deleted';

/**
 * Checks a policy from a plan, schedule or API body. `where` names it in messages
 * (e.g. `nightly.yaml: retention`). Missing rsbackup parameters take rsbackup's defaults.
 */
export function validatePolicy(value: unknown, where: string): Policy {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    throw invalid(where, `expected a mapping with a kind (${KINDS.join(', ')}), got ${describe(value)}`);
  }
  const input = value as Record<string, unknown>;
  const kind = input.kind;
  switch (kind) {
    case 'max_backups':
      onlyFields(input, ['count'], where);
      return { kind, count: whole(input, 'count', 1, where) };
    case 'retention_duration':
      onlyFields(input, ['days'], where);
      return { kind, days: whole(input, 'days', 1, where) };
    case 'keep': {
      onlyFields(input, KEEP_FIELDS, where);
      const policy: Extract<Policy, { kind: 'keep' }> = { kind };
      for (const field of KEEP_FIELDS) {
        if (input[field] !== undefined) policy[field] = whole(input, field, 0, where);
      }
      if (!KEEP_FIELDS.some((field) => (policy[field] ?? 0) > 0)) {
        // restic keeps everything on an empty policy; a policy that does nothing is a mistake.
        throw invalid(where, `a keep policy needs at least one of ${KEEP_FIELDS.join(', ')} above 0`);
      }
      return policy;
    }
    case 'age':
      onlyFields(input, ['minBackups', 'pruneAgeDays'], where);
      return {
        kind,
        minBackups: whole(input, 'minBackups', 1, where, RSBACKUP_DEFAULTS.minBackups),
        pruneAgeDays: whole(input, 'pruneAgeDays', 1, where, RSBACKUP_DEFAULTS.pruneAgeDays),
      };
    case 'decay': {
      onlyFields(input, ['start', 'window', 'scale', 'limit'], where);
      const scale = input.scale ?? RSBACKUP_DEFAULTS.scale;
      if (typeof scale !== 'number' || !Number.isFinite(scale) || scale <= 1) {
        throw invalid(`${where}.scale`, `expected a number above 1, got ${describe(scale)}`);
      }
      return {
        kind,
        start: whole(input, 'start', 1, where, RSBACKUP_DEFAULTS.start),
        window: whole(input, 'window', 1, where, RSBACKUP_DEFAULTS.window),
        scale,
        limit: whole(input, 'limit', 1, where, RSBACKUP_DEFAULTS.limit),
      };
    }
    default:
      throw invalid(`${where}.kind`, `expected one of ${KINDS.join(', ')}, got ${describe(kind)}`);
  }
}

/**
 * Applies `policy` to a plan's checkpoint history. Returns one decision per checkpoint,
 * newest first (ties keep their input order). The policy is checked again here, so a policy
 * that bypassed `validatePolicy` cannot remove everything.
 */
export function decide(history: readonly Backup[], policy: Policy, now: Date): Decision[] {
  const checked = validatePolicy(policy, 'retention policy');
  for (const backup of history) {
    if (!(backup.createdAt instanceof Date) || Number.isNaN(backup.createdAt.getTime())) {
      throw new HoardError('RETENTION_INVALID', `checkpoint ${backup.id} has no valid createdAt`, {
        details: { checkpoint: backup.id },
      });
    }
  }
  const sorted = [...history].sort((a, b) => b.createdAt.getTime() - a.createdAt.getTime());
  const newest = sorted.find((backup) => !LEAVING.has(backup.status));

  if (newest !== undefined && newest.status !== 'available') {
    const why =
      newest.status === 'error'
        ? FAILED_PROTECT
        : `the newest checkpoint (${newest.id}) is ${newest.status}; retention runs only after a protect has succeeded`;
    return sorted.map((backup) => ({ id: backup.id, keep: true, reasons: [why] }));
  }

  const available = sorted.filter((backup) => backup.status === 'available');
  const verdicts = applyPolicy(available, checked, now);
  const verdictOf = new Map(available.map((backup, i) => [backup, verdicts[i]!]));
  const last = available[0];

  return sorted.map((backup): Decision => {
    const verdict = verdictOf.get(backup);
    if (verdict !== undefined) {
      if (backup === last && !verdict.keep) {
        return {
          id: backup.id,
          keep: true,
          reasons: [LAST_AVAILABLE, ...verdict.reasons.map((r) => `overrides: ${r}`)],
        };
      }
      return { id: backup.id, ...verdict };
    }
    if (backup.status === 'error' && last !== undefined) {
      return {
        id: backup.id,
        keep: false,
        reasons: [`error checkpoint: a failed protect, superseded by available checkpoint ${last.id}`],
      };
    }
    return {
      id: backup.id,
      keep: true,
      reasons: [`status ${backup.status}: retention removes only available and error checkpoints`],
    };
  });
}

/**
 * rsbackup's decay bucket for a backup `ageDays` old: past `start`, age is cut into windows, the
 * first `window` days long and each next one `scale` times longer; this returns the window's
 * number from 0, or -1 while `ageDays <= start` (not decaying yet).
 *
 * rsbackup computes `ceil(log_s((s - 1) * a / w + 1)) - 1` with `a = age - start`
 * (src/PrunePolicyDecay.cc, `prune_decay_bucket`; decay.pdf). In floating point
 * `Math.log(9) / Math.log(3)` is 2.0000000000000004, which puts a = 4 (w 1, s 3) in the wrong
 * bucket and fails rsbackup's own test vectors, so this starts from that estimate and settles
 * it against the window ends `w * (s^(n+1) - 1) / (s - 1)`, exact for whole windows and scales.
 * Where rsbackup's own rounding lands on the next bucket (a = 121 with w 1, s 3) this follows
 * the definition; with scale 2, the default, the two agree.
 */
export function decayBucket(ageDays: number, p: { start: number; window: number; scale: number }): number {
  const a = ageDays - p.start;
  if (!(a > 0)) return -1;
  const end = (n: number) => (n < 0 ? 0 : (p.window * (p.scale ** (n + 1) - 1)) / (p.scale - 1));
  let n = Math.max(0, Math.ceil(Math.log((p.scale - 1) * (a / p.window) + 1) / Math.log(p.scale)) - 1);
  while (n > 0 && a <= end(n - 1)) n--;
  while (a > end(n)) n++;
  return n;
}

interface Verdict {
  keep: boolean;
  reasons: string[];
}

/** `available` is newest first; the result is parallel to it. */
function applyPolicy(available: readonly Backup[], policy: Policy, now: Date): Verdict[] {
  switch (policy.kind) {
    case 'max_backups':
      return maxBackups(available, policy.count);
    case 'retention_duration':
      return retentionDuration(available, policy.days, now);
    case 'keep':
      return keepPolicy(available, policy);
    case 'age':
      return agePolicy(available, policy, now);
    case 'decay':
      return decayPolicy(available, policy, now);
  }
}

/** Karbor's `_delete_old_backup_by_max_backups`: available checkpoints past the newest `count` go. */
function maxBackups(available: readonly Backup[], count: number): Verdict[] {
  return available.map((_, i) =>
    i < count
      ? { keep: true, reasons: [`one of the newest ${count} (max_backups)`] }
      : { keep: false, reasons: [`not among the newest ${count} (max_backups)`] },
  );
}

/**
 * Karbor's `_delete_old_backup_by_duration` removes checkpoints more than `days` days old.
 * Karbor compared whole days from the creation date's midnight; this compares the exact age.
 */
function retentionDuration(available: readonly Backup[], days: number, now: Date): Verdict[] {
  return available.map((backup) =>
    now.getTime() - backup.createdAt.getTime() > days * DAY_MS
      ? { keep: false, reasons: [`older than ${days} days`] }
      : { keep: true, reasons: [`not older than ${days} days`] },
  );
}

/**
 * restic's `ApplyPolicy` (internal/restic/snapshot_policy.go, restic 0.17): newest first, each
 * rule with counts left keeps a snapshot whose hour/day/ISO week/month/year differs from the
 * last one it kept, and spends a count; `last` keeps the first `last` snapshots. A rule that
 * still has counts left at the oldest snapshot keeps that too ("oldest daily snapshot"), so the
 * history kept is as long as it can be (doc/060_forget.rst). A snapshot any rule keeps is kept.
 * Calendar periods are UTC here; restic uses the snapshot's own time zone.
 */
function keepPolicy(available: readonly Backup[], policy: Extract<Policy, { kind: 'keep' }>): Verdict[] {
  const periods: Record<KeepField, (d: Date, nr: number) => string> = {
    last: (_d, nr) => String(nr),
    hourly: (d) => `${d.toISOString().slice(0, 13)}:00Z`,
    daily: (d) => d.toISOString().slice(0, 10),
    weekly: isoWeek,
    monthly: (d) => d.toISOString().slice(0, 7),
    yearly: (d) => String(d.getUTCFullYear()),
  };
  const rules = KEEP_FIELDS.filter((field) => (policy[field] ?? 0) > 0).map((field) => ({
    field,
    total: policy[field]!,
    left: policy[field]!,
    lastKept: undefined as string | undefined,
  }));
  return available.map((backup, nr) => {
    const kept: string[] = [];
    const passed: string[] = [];
    const oldest = nr === available.length - 1;
    for (const rule of rules) {
      const period = periods[rule.field](backup.createdAt, nr);
      if (rule.left === 0) {
        passed.push(`keep ${rule.field} ${rule.total} is used up`);
      } else if (period !== rule.lastKept) {
        rule.left--;
        rule.lastKept = period;
        kept.push(
          rule.field === 'last'
            ? `last snapshot (${rule.total - rule.left} of ${rule.total})`
            : `${rule.field} snapshot for ${period}`,
        );
      } else if (oldest) {
        rule.left--;
        kept.push(`oldest ${rule.field} snapshot (keep ${rule.field} ${rule.total} was not used up)`);
      } else {
        passed.push(`${rule.field}: a newer snapshot is kept for ${period}`);
      }
    }
    return kept.length > 0 ? { keep: true, reasons: kept } : { keep: false, reasons: passed };
  });
}

/**
 * rsbackup's `age` policy (src/PrunePolicyAge.cc): oldest first, a backup more than
 * `pruneAgeDays` days old goes while more than `minBackups` remain. Ages are whole calendar days.
 */
function agePolicy(
  available: readonly Backup[],
  policy: { minBackups: number; pruneAgeDays: number },
  now: Date,
): Verdict[] {
  const verdicts: Verdict[] = new Array(available.length);
  let left = available.length;
  for (let i = available.length - 1; i >= 0; i--) {
    const age = ageDays(now, available[i]!.createdAt);
    if (age <= policy.pruneAgeDays) {
      verdicts[i] = { keep: true, reasons: [`age ${age} days is not over prune age ${policy.pruneAgeDays}`] };
    } else if (left <= policy.minBackups) {
      verdicts[i] = { keep: true, reasons: [`only ${left} remain and min backups is ${policy.minBackups}`] };
    } else {
      verdicts[i] = {
        keep: false,
        reasons: [
          `age ${age} days > prune age ${policy.pruneAgeDays} and ${left} remaining > min backups ${policy.minBackups}`,
        ],
      };
      left--;
    }
  }
  return verdicts;
}

/**
 * rsbackup's `decay` policy (src/PrunePolicyDecay.cc, rsbackup.5 PRUNING): backups up to `start`
 * days old stay; past `limit` days they go; in between only the oldest backup of each decay
 * bucket stays. rsbackup keeps everything when there is a single backup.
 */
function decayPolicy(
  available: readonly Backup[],
  p: Extract<Policy, { kind: 'decay' }>,
  now: Date,
): Verdict[] {
  if (available.length === 1) return [{ keep: true, reasons: ['the only backup'] }];
  const ages = available.map((backup) => ageDays(now, backup.createdAt));
  const oldestInBucket = new Map<number, number>();
  // Oldest first, as rsbackup walks them: of backups made at the same instant, the first walked stays.
  for (let i = available.length - 1; i >= 0; i--) {
    const age = ages[i]!;
    if (age - p.start <= 0 || age > p.limit) continue;
    const bucket = decayBucket(age, p);
    const held = oldestInBucket.get(bucket);
    if (held === undefined || available[i]!.createdAt < available[held]!.createdAt)
      oldestInBucket.set(bucket, i);
  }
  return available.map((_, i): Verdict => {
    const age = ages[i]!;
    if (age - p.start <= 0)
      return { keep: true, reasons: [`age ${age} days is not over decay start ${p.start}`] };
    if (age > p.limit) return { keep: false, reasons: [`age ${age} days > decay limit ${p.limit}`] };
    const bucket = decayBucket(age, p);
    const span = bucketAges(bucket, p);
    if (oldestInBucket.get(bucket) === i) {
      return { keep: true, reasons: [`oldest in decay bucket ${bucket} (ages ${span})`] };
    }
    return { keep: false, reasons: [`not the oldest in decay bucket ${bucket} (ages ${span})`] };
  });
}

/** The whole-day ages a decay bucket covers, for reasons: "4–5 days". */
function bucketAges(n: number, p: { start: number; window: number; scale: number }): string {
  const end = (k: number) => (k < 0 ? 0 : (p.window * (p.scale ** (k + 1) - 1)) / (p.scale - 1));
  const first = p.start + Math.floor(end(n - 1)) + 1;
  const lastAge = p.start + Math.floor(end(n));
  return first === lastAge ? `${first} days` : `${first}–${lastAge} days`;
}

/** Whole calendar days between two instants, as rsbackup's `Date::today() - Date(time)`, in UTC. */
function ageDays(now: Date, then: Date): number {
  return Math.floor(now.getTime() / DAY_MS) - Math.floor(then.getTime() / DAY_MS);
}

/** ISO 8601 week, as Go's `Time.ISOWeek` that restic's weekly rule uses: "2026-W47". */
function isoWeek(d: Date): string {
  const day = new Date(Date.UTC(d.getUTCFullYear(), d.getUTCMonth(), d.getUTCDate()));
  // The Thursday of this week decides the week's year.
  day.setUTCDate(day.getUTCDate() + 3 - ((day.getUTCDay() + 6) % 7));
  const year = day.getUTCFullYear();
  const week = 1 + Math.floor((day.getTime() - Date.UTC(year, 0, 1)) / (7 * DAY_MS));
  return `${year}-W${String(week).padStart(2, '0')}`;
}

function whole(
  input: Record<string, unknown>,
  field: string,
  min: number,
  where: string,
  fallback?: number,
): number {
  const value = input[field] ?? fallback;
  if (value === undefined) throw invalid(`${where}.${field}`, `is required (a whole number ≥ ${min})`);
  if (typeof value !== 'number' || !Number.isSafeInteger(value) || value < min) {
    throw invalid(`${where}.${field}`, `expected a whole number ≥ ${min}, got ${describe(value)}`);
  }
  return value;
}

function onlyFields(input: Record<string, unknown>, allowed: readonly string[], where: string): void {
  for (const field of Object.keys(input)) {
    if (field !== 'kind' && !allowed.includes(field)) {
      throw invalid(
        `${where}.${field}`,
        `is not a field of a ${String(input.kind)} policy (it takes ${allowed.join(', ')})`,
      );
    }
  }
}

function invalid(field: string, problem: string): HoardError {
  return new HoardError('RETENTION_INVALID', `${field}: ${problem}`, { details: { field } });
}

function describe(value: unknown): string {
  if (value === undefined) return 'nothing';
  if (Array.isArray(value)) return 'a list';
  if (typeof value === 'object' && value !== null) return 'a mapping';
  return JSON.stringify(value) ?? String(value);
}
