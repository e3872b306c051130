import { setFlagsFromString } from 'node:v8';
import { InvalidArgumentError } from 'commander';
import { HoardError } from '../errors.js';
import { CHECKPOINT_ID } from '../flows/vocabulary.js';
import type { CliContext } from './context.js';

/**
 * For a command that moves data (protect, restore): keeps this process's young generations at
 * their first size. V8 otherwise grows the main thread's to 3 × 16 MiB once many objects
 * survive a scavenge (a walk's entries do) and keeps it: ~25 MiB of peak RSS for no speed
 * measured. Node resets V8's flags each time it starts a worker thread, so the env variable
 * tells Hoard's worker threads (inheriting it) to set the flag again as they start.
 */
export function smallYoungGeneration(): void {
  process.env.HOARD_SMALL_YOUNG_GENERATION = '1';
  setFlagsFromString('--semi-space-growth-factor=1');
}

/** Commander parser for `--limit 20`-style options. */
export function positiveInt(value: string): number {
  const n = Number(value);
  if (!Number.isInteger(n) || n < 1) throw new InvalidArgumentError('expected a whole number ≥ 1');
  return n;
}

/** Commander parser for `--port 0`-style options. */
export function positiveIntOrZero(value: string): number {
  const n = Number(value);
  if (!Number.isInteger(n) || n < 0 || n > 65535)
    throw new InvalidArgumentError('expected a whole number from 0 to 65535');
  return n;
}

/**
 * Commander parser for a CHECKPOINT argument (and `--marker`): a checkpoint id. Anything
 * else — a typo, a newline or another control character — is CHECKPOINT_NOT_FOUND naming
 * the argument, shown escaped so the message stays one line.
 */
/** The start of a checkpoint id, at least 6 characters (SPEC §8): `20261123T09`, `20261123T094512345Z-3f`. */
export const CHECKPOINT_PREFIX = /^\d{6}(\d{0,2}|\d{2}T\d{0,9}|\d{2}T\d{9}Z(-[0-9a-f]{0,8})?)$/;

/**
 * A `--since`/`--until` value: an ISO time, or a duration back from now (`90m`, `12h`, `7d`,
 * `2w`), as an ISO time; USAGE naming the option otherwise.
 */
export function timeArgument(name: string): (value: string) => string {
  return (value) => {
    const back = /^(\d+)([mhdw])$/.exec(value);
    if (back) {
      const unit = { m: 60_000, h: 3_600_000, d: 86_400_000, w: 604_800_000 }[
        back[2] as 'm' | 'h' | 'd' | 'w'
      ];
      return new Date(Date.now() - Number(back[1]) * unit).toISOString();
    }
    if (/^\d{4}-\d{2}-\d{2}/.test(value) && !Number.isNaN(Date.parse(value)))
      return new Date(value).toISOString();
    throw new HoardError(
      'USAGE',
      `${name}: ${JSON.stringify(value)} is neither an ISO time (2026-12-01, 2026-12-01T09:30:00Z) nor a duration back from now (90m, 12h, 7d, 2w)`,
    );
  };
}

/** A CHECKPOINT argument (SPEC §8): a full id, a prefix of at least 6 characters, or `latest`. */
export function checkpointReference(name: string): (value: string) => string {
  return (value) => {
    if (CHECKPOINT_ID.test(value) || value === 'latest' || CHECKPOINT_PREFIX.test(value)) return value;
    throw new HoardError(
      'CHECKPOINT_NOT_FOUND',
      `argument ${name}: ${JSON.stringify(value)} is not a checkpoint id (they look like 20261123T094512345Z-3fa9c1d2), a unique prefix of one (at least 6 characters) or "latest"`,
      { details: { argument: name, checkpoint: value } },
    );
  };
}

export function checkpointArgument(name: string): (value: string) => string {
  return (value) => {
    if (CHECKPOINT_ID.test(value)) return value;
    throw new HoardError(
      'CHECKPOINT_NOT_FOUND',
      `${name.startsWith('-') ? name : `argument ${name}`}: ${JSON.stringify(value)} is not a checkpoint id (they look like 20261123T094512345Z-3fa9c1d2)`,
      { details: { argument: name, checkpoint: value } },
    );
  };
}

/** Commander reducer for repeatable options. */
export function collect(value: string, previous: string[]): string[] {
  return [...previous, value];
}

/**
 * Resolves once SIGINT or SIGTERM has stopped a long-running command (`serve`, `worker`):
 * the first signal runs `close` (running operations get 30 s), a second exits at once (130).
 */
export function runUntilStopped(ctx: CliContext, close: () => Promise<unknown>): Promise<void> {
  return new Promise<void>((resolve) => {
    let stopping = false;
    const stop = (signal: NodeJS.Signals) => {
      if (stopping) ctx.io.exit(130);
      stopping = true;
      ctx.io.stderr.write(`\n${signal}: stopping (running operations get 30 s; again to exit now)\n`);
      void close().finally(() => {
        process.off('SIGINT', stop);
        process.off('SIGTERM', stop);
        resolve();
      });
    };
    process.on('SIGINT', stop);
    process.on('SIGTERM', stop);
  });
}
