/**
 * Runs one PostgreSQL client tool (pg_dump, pg_restore, pg_dumpall) with its archive streamed
 * through stdin or stdout, never held in memory. Like exec.task's commands it runs in its own
 * process group, so cancellation kills it whole, and a failure keeps the exit code and the
 * end of stderr, with passwords masked.
 */
import { spawn } from 'node:child_process';
import { join } from 'node:path';
import type { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { HoardError } from '../../errors.js';
import { lastLines, signalGroup } from '../process-util.js';
import { scrub } from './url.js';

export interface ToolOptions {
  /** Directory of the PostgreSQL client binaries; default: found on PATH. */
  bindir?: string | undefined;
  /** Variables set over a copy of `process.env` (e.g. `PGPASSWORD`). Never shown. */
  env?: Record<string, string> | undefined;
  /** Fed to the tool's stdin; the tool's stdin is closed when it ends. */
  stdin?: AsyncIterable<Uint8Array> | undefined;
  /** Pipe stdout for the caller to read (`Tool.stdout`); otherwise it is discarded. */
  stdout?: boolean | undefined;
  /** Aborting kills the tool's process group; `done` then rejects with the signal's reason. */
  signal: AbortSignal;
  /** Removed from anything put in an error. */
  secrets: readonly string[];
  /** What runs, for messages, e.g. `pg_dump of database "shop"`. */
  what: string;
  /** Milliseconds between SIGTERM and SIGKILL. Default 2000. */
  killGraceMs?: number | undefined;
}

export interface Tool {
  /** The tool's stdout when `stdout` was asked for. */
  stdout: Readable | null;
  /**
   * Settles once the tool has exited and its stdin feed has settled: resolves on exit 0,
   * rejects with HOOK_FAILED (exit code, end of stderr), the abort reason, or the feed's error.
   */
  done: Promise<void>;
  /** Kills the process group (SIGTERM, then SIGKILL after the grace period). */
  kill(): void;
}

const TAIL_BYTES = 8192;

export function startTool(name: string, args: readonly string[], options: ToolOptions): Tool {
  const { signal, secrets, what } = options;
  if (signal.aborted) throw abortReason(signal, what);
  const file = options.bindir ? join(options.bindir, name) : name;
  const child = spawn(file, args, {
    env: { ...process.env, ...options.env },
    detached: true,
    stdio: [options.stdin ? 'pipe' : 'ignore', options.stdout ? 'pipe' : 'ignore', 'pipe'],
  });
  let tail = Buffer.alloc(0);
  child.stderr!.on('data', (chunk: Buffer) => {
    tail = Buffer.concat([tail, chunk]);
    if (tail.length > 2 * TAIL_BYTES) tail = Buffer.from(tail.subarray(tail.length - TAIL_BYTES));
  });
  child.stderr!.on('error', () => {});

  let killTimer: NodeJS.Timeout | undefined;
  let exited = false;
  const kill = () => {
    if (exited || child.pid === undefined) return;
    signalGroup(child.pid, 'SIGTERM');
    killTimer ??= setTimeout(() => {
      if (!exited && child.pid !== undefined) signalGroup(child.pid, 'SIGKILL');
    }, options.killGraceMs ?? 2000);
  };
  const onAbort = () => kill();
  signal.addEventListener('abort', onAbort, { once: true });

  const closed = new Promise<{ code: number | null; signal: NodeJS.Signals | null; error?: Error }>(
    (resolve) => {
      child.once('close', (code, exitSignal) => resolve({ code, signal: exitSignal }));
      child.once('error', (error) => {
        if (child.pid === undefined) resolve({ code: null, signal: null, error });
      });
    },
  ).finally(() => {
    exited = true;
    clearTimeout(killTimer);
    signal.removeEventListener('abort', onAbort);
  });

  // Only the feed's own failures count: the tool may exit before reading all of it (EPIPE),
  // and then its exit status says what happened.
  let feedError: { error: unknown } | undefined;
  const feed = options.stdin;
  const fed = feed
    ? pipeline(
        (async function* () {
          try {
            yield* feed;
          } catch (error) {
            feedError = { error };
            throw error;
          }
        })(),
        child.stdin!,
      ).catch(() => {})
    : Promise.resolve();
  child.stdin?.on('error', () => {});
  // A tool that exited reads nothing more: stop feeding it.
  void closed.then(() => child.stdin?.destroy());

  const done = (async () => {
    const [exit] = await Promise.all([closed, fed]);
    if (signal.aborted) throw abortReason(signal, what);
    if (exit.error) {
      const missing = (exit.error as NodeJS.ErrnoException).code === 'ENOENT';
      throw new HoardError(
        'HOOK_FAILED',
        missing
          ? `${what}: ${file} was not found; install the PostgreSQL client tools or set the plugin's bindir`
          : `${what}: ${file} could not be started: ${exit.error.message}`,
        { details: { tool: name } },
      );
    }
    if (feedError) {
      const why = feedError.error instanceof Error ? feedError.error.message : String(feedError.error);
      throw new HoardError('HOOK_FAILED', `${what}: reading its input failed: ${scrub(why, secrets)}`, {
        details: { tool: name },
        cause: feedError.error,
      });
    }
    const stderrTail = scrub(tail.subarray(Math.max(0, tail.length - TAIL_BYTES)).toString('utf8'), secrets);
    if (exit.code !== 0) {
      const how = exit.signal ? `was killed by signal ${exit.signal}` : `exited with code ${exit.code}`;
      const last = lastLines(stderrTail);
      throw new HoardError('HOOK_FAILED', `${what}: ${name} ${how}${last ? `: ${last}` : ' (no stderr)'}`, {
        details: { tool: name, exitCode: exit.code, signal: exit.signal, stderrTail },
      });
    }
  })();
  // Callers may await `done` late (after reading stdout); a rejection is still theirs to see.
  done.catch(() => {});
  return { stdout: child.stdout, done, kill };
}

/** The signal's own reason, unless it is the default one, which says nothing of what was cancelled. */
export function abortReason(signal: AbortSignal, what: string): unknown {
  const reason: unknown = signal.reason;
  if (reason !== undefined && !(reason instanceof Error && reason.name === 'AbortError')) return reason;
  return new HoardError('TASK_CANCELLED', `${what} was cancelled`, { cause: reason });
}
