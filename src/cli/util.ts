import { constants } from 'node:os';
import { InvalidArgumentError } from 'commander';
import { HoardError } from '../errors.js';
import { CHECKPOINT_ID } from '../flows/checkpoints.js';

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

let interrupted: 'SIGINT' | 'SIGTERM' | undefined;

/** The signal that cut a run short, if one did: the CLI then exits 128 + its number (130 for Ctrl-C). */
export function interruptedBy(): 'SIGINT' | 'SIGTERM' | undefined {
  return interrupted;
}

/**
 * Runs `work` with a signal that the first Ctrl-C (or SIGTERM) aborts, so hooks are
 * cancelled and owed teardowns still run; a second Ctrl-C exits at once.
 */
export async function interruptible<T>(work: (signal: AbortSignal) => Promise<T>): Promise<T> {
  const controller = new AbortController();
  let interrupts = 0;
  const onSignal = (name: 'SIGINT' | 'SIGTERM') => {
    interrupted ??= name;
    if (++interrupts > 1) process.exit(128 + constants.signals[name]);
    process.stderr.write(`\n${name}: cancelling; running teardowns (press Ctrl-C again to exit now)\n`);
    controller.abort(new Error(`interrupted by ${name}`));
  };
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);
  try {
    return await work(controller.signal);
  } finally {
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
  }
}
