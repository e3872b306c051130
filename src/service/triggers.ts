/**
 * Time triggers: a cron pattern (five fields, or six with seconds) in a time zone, an
 * optional start/end, and a `window` — how long after its fire time a missed run may still
 * start (Karbor's time trigger `window`). Cron parsing is croner's: a maintained, dependency-
 * free parser that handles zones, DST and six-field patterns, and says when a pattern never
 * fires.
 */
import { Cron } from 'croner';
import type { TimeTriggerProperties } from '../catalog/index.js';
import { HoardError } from '../errors.js';

export const DEFAULT_WINDOW_SECONDS = 1800;
/** The longest window: a missed run may start up to a week late. */
export const MAX_WINDOW_SECONDS = 7 * 86_400;

function cronOf(p: TimeTriggerProperties): Cron {
  return new Cron(p.pattern, {
    paused: true,
    timezone: p.timezone ?? 'UTC',
    ...(p.start ? { startAt: p.start } : {}),
    ...(p.end ? { stopAt: p.end } : {}),
  });
}

/** Checks a trigger's properties; TRIGGER_INVALID names the field and the problem. */
export function checkTrigger(p: TimeTriggerProperties, now = new Date()): void {
  const invalid = (field: string, message: string) =>
    new HoardError('TRIGGER_INVALID', `trigger properties.${field}: ${message}`, { details: { field } });
  for (const field of ['start', 'end'] as const) {
    const value = p[field];
    if (value !== undefined && Number.isNaN(Date.parse(value)))
      throw invalid(field, `"${value}" is not an ISO date-time (e.g. 2026-12-01T00:00:00Z)`);
  }
  if (p.start && p.end && Date.parse(p.end) <= Date.parse(p.start))
    throw invalid('end', 'must be after start');
  if (
    p.window !== undefined &&
    (!Number.isInteger(p.window) || p.window < 0 || p.window > MAX_WINDOW_SECONDS)
  )
    throw invalid('window', `must be a whole number of seconds from 0 to ${MAX_WINDOW_SECONDS} (a week)`);
  if (p.timezone !== undefined) {
    try {
      new Intl.DateTimeFormat('en', { timeZone: p.timezone });
    } catch {
      throw invalid('timezone', `"${p.timezone}" is not an IANA time zone (e.g. Europe/Paris)`);
    }
  }
  // croner also takes a seventh field (years) and nicknames (@daily); Hoard documents five
  // fields or six, so only those are accepted (stored triggers are read as croner reads them).
  const fields = p.pattern.trim().split(/\s+/).length;
  if (fields !== 5 && fields !== 6) {
    throw invalid(
      'pattern',
      `"${p.pattern}" is not a cron pattern: it has ${fields} field${fields === 1 ? '' : 's'}; a pattern has five (minute hour day-of-month month day-of-week), or six with seconds first`,
    );
  }
  let cron: Cron;
  try {
    cron = cronOf(p);
  } catch (error) {
    throw invalid('pattern', `"${p.pattern}" is not a cron pattern: ${(error as Error).message}`);
  }
  const from = p.start && Date.parse(p.start) > now.getTime() ? new Date(Date.parse(p.start) - 1) : now;
  if (!cron.nextRun(from)) {
    throw invalid(
      'pattern',
      p.end && Date.parse(p.end) <= now.getTime()
        ? `the trigger ended at ${p.end}; it would never fire`
        : `"${p.pattern}" never fires${p.end ? ` before ${p.end}` : ''}`,
    );
  }
}

/** What fell due in (after, until]: the newest fire, and how many came before it. */
export interface DueFires {
  latest: Date | undefined;
  /** Fires before `latest` (counted up to `max`; `truncated` past it). */
  earlier: number;
  earliest: Date | undefined;
  truncated: boolean;
}

export function dueFires(p: TimeTriggerProperties, after: Date, until: Date, max = 10_000): DueFires {
  const cron = cronOf(p);
  const latest = cron.previousRuns(1, until)[0];
  if (!latest || latest.getTime() <= after.getTime())
    return { latest: undefined, earlier: 0, earliest: undefined, truncated: false };
  let earlier = 0;
  let earliest: Date | undefined;
  for (let t = cron.nextRun(after); t && t.getTime() < latest.getTime(); t = cron.nextRun(t)) {
    earliest ??= t;
    if (++earlier >= max) return { latest, earlier, earliest, truncated: true };
  }
  return { latest, earlier, earliest, truncated: false };
}

/** The next `count` fire times after `from`. */
export function nextFires(p: TimeTriggerProperties, from: Date, count: number): Date[] {
  return cronOf(p).nextRuns(count, from);
}

export function windowMs(p: TimeTriggerProperties): number {
  return (p.window ?? DEFAULT_WINDOW_SECONDS) * 1000;
}
