/**
 * Runs one user command of an `exec.task` hook: `/bin/sh -c` in its own process group, with
 * bounded memory for its output, and a timeout or abort that kills the whole group
 * (background children included), not just the shell.
 */

import { type ChildProcessByStdio, spawn } from 'node:child_process';
import { readdir, readFile } from 'node:fs/promises';
import type { Readable } from 'node:stream';
import { setTimeout as delay } from 'node:timers/promises';
import { HoardError } from '../../errors.js';
import { lastLines, signalGroup } from '../process-util.js';

export interface CommandOptions {
  /** Variables set for the command over a copy of `process.env`. Never shown in messages or error details. */
  env?: Record<string, string> | undefined;
  /** Working directory. Default: this process's. */
  cwd?: string | undefined;
  /**
   * Milliseconds the command may run. Past it, its process group is killed and the run rejects
   * with `HOOK_TIMEOUT`. Default: no limit.
   */
  timeoutMs?: number | undefined;
  /** Aborting kills the command's process group; the run then rejects with the signal's reason. */
  signal?: AbortSignal | undefined;
  /**
   * Bytes kept from the end of stderr, and separately of stdout; everything before is only seen
   * by `onOutput`. Default 4096.
   */
  stderrTailBytes?: number | undefined;
  /** Milliseconds between SIGTERM and SIGKILL to the process group on timeout or abort. Default 2000. */
  killGraceMs?: number | undefined;
  /**
   * Called with every chunk as it arrives (e.g. to forward it to a log). If it throws, the command
   * is killed and the run rejects with what it threw.
   */
  onOutput?: ((stream: 'stdout' | 'stderr', chunk: Buffer) => void) | undefined;
}

export interface CommandResult {
  /** Always 0: any other exit rejects. */
  exitCode: number;
  /** The last `stderrTailBytes` of stdout (fewer if the cut fell inside a UTF-8 character). */
  stdoutTail: string;
  /** The last `stderrTailBytes` of stderr. */
  stderrTail: string;
  durationMs: number;
}

const DEFAULT_TAIL_BYTES = 4096;
const DEFAULT_KILL_GRACE_MS = 2000;
/** After SIGKILL, how long to wait for the group to be gone before reporting anyway. */
const KILL_WAIT_MS = 1000;
/**
 * After the shell exits, how long its pipes may stay open before we stop reading them: a
 * background process that inherited stdout or stderr would otherwise hold the hook forever.
 */
const DRAIN_MS = 500;
/** How often a dying process group is checked for survivors. */
const POLL_MS = 20;
/** setTimeout fires at once for delays past this. */
const MAX_TIMER_MS = 2 ** 31 - 1;
/** Longest command text put in a message; `details.command` keeps it whole. */
const MAX_SHOWN_COMMAND = 200;

type Stop = { kind: 'timeout' } | { kind: 'abort' } | { kind: 'output'; error: unknown };
type Exit = { code: number | null; signal: NodeJS.Signals | null; error?: Error };

/**
 * Runs `command` with `/bin/sh -c` and resolves once it exited with status 0 and its output
 * pipes closed. A non-zero exit or death by signal rejects with `HOOK_FAILED`, carrying the exit
 * code and the end of stderr. Whatever ends it early (timeout, abort, a throwing `onOutput`)
 * settles only after its process group is dead, or after SIGKILL and a further second.
 */
export async function runCommand(command: string, options: CommandOptions = {}): Promise<CommandResult> {
  const tailBytes = options.stderrTailBytes ?? DEFAULT_TAIL_BYTES;
  const killGraceMs = options.killGraceMs ?? DEFAULT_KILL_GRACE_MS;
  const { signal, timeoutMs, onOutput } = options;
  checkOptions(tailBytes, killGraceMs, timeoutMs);
  if (signal?.aborted) throw abortReason(command, signal, 'before it started');

  const started = performance.now();
  let child: ChildProcessByStdio<null, Readable, Readable>;
  try {
    child = spawn('/bin/sh', ['-c', command], {
      env: { ...process.env, ...options.env },
      cwd: options.cwd,
      detached: true,
      stdio: ['ignore', 'pipe', 'pipe'],
    });
  } catch (error) {
    throw notStarted(command, options.cwd, error);
  }

  const stdout = new OutputTail(tailBytes);
  const stderr = new OutputTail(tailBytes);
  let finished = false;
  let drainTimer: NodeJS.Timeout | undefined;

  const closed = new Promise<Exit>((resolve) => {
    child.once('close', (code, exitSignal) => resolve({ code, signal: exitSignal }));
    // With no pid the spawn itself failed; any later error is followed by 'close'.
    child.on('error', (error) => {
      if (child.pid === undefined) resolve({ code: null, signal: null, error });
    });
  });

  let stop: (reason: Stop) => void = () => {};
  const stopped = new Promise<Stop>((resolve) => {
    stop = resolve;
  });
  const timer = timeoutMs === undefined ? undefined : setTimeout(() => stop({ kind: 'timeout' }), timeoutMs);
  const onAbort = () => stop({ kind: 'abort' });
  signal?.addEventListener('abort', onAbort, { once: true });
  const disarm = () => {
    clearTimeout(timer);
    signal?.removeEventListener('abort', onAbort);
  };

  child.once('exit', () => {
    // The command is over: what remains is reading what is left in the pipes.
    disarm();
    if (finished) destroyPipes(child);
    else drainTimer = setTimeout(() => destroyPipes(child), DRAIN_MS);
  });
  const output = (stream: 'stdout' | 'stderr', chunk: Buffer) => {
    if (finished) return;
    (stream === 'stdout' ? stdout : stderr).push(chunk);
    if (!onOutput) return;
    try {
      onOutput(stream, chunk);
    } catch (error) {
      stop({ kind: 'output', error });
    }
  };
  child.stdout.on('data', (chunk: Buffer) => output('stdout', chunk));
  child.stderr.on('data', (chunk: Buffer) => output('stderr', chunk));
  // Read errors end the stream, and 'close' follows; without a listener they would crash the process.
  child.stdout.on('error', () => {});
  child.stderr.on('error', () => {});

  try {
    const first = await Promise.race([closed, stopped]);
    if ('kind' in first) {
      await killGroup(child.pid, closed, killGraceMs);
      destroyPipes(child);
      if (first.kind === 'output') throw first.error;
      if (first.kind === 'abort') throw abortReason(command, signal!, 'and its process group was killed');
      throw new HoardError(
        'HOOK_TIMEOUT',
        `command "${show(command)}" did not finish within ${timeoutMs} ms; its process group was killed`,
        { details: { command, timeoutMs, stderrTail: stderr.text(), durationMs: elapsed(started) } },
      );
    }
    if (first.error) throw notStarted(command, options.cwd, first.error);
    const durationMs = elapsed(started);
    if (first.code !== 0) throw commandFailed(command, first, stderr.text(), durationMs);
    return { exitCode: 0, stdoutTail: stdout.text(), stderrTail: stderr.text(), durationMs };
  } finally {
    finished = true;
    disarm();
    clearTimeout(drainTimer);
  }
}

/**
 * The last `limit` bytes of a stream. Holds less than twice `limit` whatever the stream's
 * length, and copies what it keeps so the stream's (larger) read buffers can be freed.
 */
export class OutputTail {
  private chunks: Buffer[] = [];
  private size = 0;
  private seen = 0;

  constructor(private readonly limit: number) {}

  push(chunk: Buffer): void {
    this.seen += chunk.length;
    if (this.limit === 0) return;
    if (chunk.length >= this.limit) {
      this.chunks = [Buffer.from(chunk.subarray(chunk.length - this.limit))];
      this.size = this.limit;
      return;
    }
    this.chunks.push(Buffer.from(chunk));
    this.size += chunk.length;
    let head = this.chunks[0];
    while (head && this.size - head.length >= this.limit) {
      this.chunks.shift();
      this.size -= head.length;
      head = this.chunks[0];
    }
  }

  text(): string {
    let bytes = Buffer.concat(this.chunks, this.size);
    if (bytes.length > this.limit) bytes = bytes.subarray(bytes.length - this.limit);
    if (this.seen > bytes.length) {
      // The cut may have split a UTF-8 character: skip its continuation bytes.
      let start = 0;
      while (start < 3 && ((bytes[start] ?? 0) & 0xc0) === 0x80) start++;
      bytes = bytes.subarray(start);
    }
    return bytes.toString('utf8');
  }
}

/** SIGTERM to the group, then SIGKILL if anything of it still runs after `graceMs`. */
async function killGroup(pgid: number | undefined, closed: Promise<Exit>, graceMs: number): Promise<void> {
  if (pgid === undefined) return;
  signalGroup(pgid, 'SIGTERM');
  if (await groupGone(pgid, closed, graceMs)) return;
  signalGroup(pgid, 'SIGKILL');
  await groupGone(pgid, closed, KILL_WAIT_MS);
}

/** Waits until the shell has exited, its pipes have closed and nothing of its group runs, or `ms` passed. */
async function groupGone(pgid: number, closed: Promise<Exit>, ms: number): Promise<boolean> {
  const deadline = performance.now() + ms;
  if (!(await settlesWithin(closed, ms))) return false;
  while (await groupRunning(pgid)) {
    const left = deadline - performance.now();
    if (left <= 0) return false;
    await delay(Math.min(POLL_MS, left));
  }
  return true;
}

async function settlesWithin(promise: Promise<unknown>, ms: number): Promise<boolean> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<boolean>((resolve) => {
    timer = setTimeout(resolve, ms, false);
  });
  try {
    return await Promise.race([promise.then(() => true), timeout]);
  } finally {
    clearTimeout(timer);
  }
}

/**
 * Whether a process of the group still runs. `kill(-pgid, 0)` also finds zombies: processes
 * already dead whose parent, or init, has not reaped them yet, which some container inits do
 * late. On Linux /proc tells them apart; elsewhere a zombie counts as running, which costs
 * only the grace period.
 */
async function groupRunning(pgid: number): Promise<boolean> {
  try {
    process.kill(-pgid, 0);
  } catch {
    return false;
  }
  if (process.platform !== 'linux') return true;
  let entries: string[];
  try {
    entries = await readdir('/proc');
  } catch {
    return true;
  }
  const stats = await Promise.all(
    entries
      .filter((name) => /^\d+$/.test(name))
      .map((pid) => readFile(`/proc/${pid}/stat`, 'utf8').catch(() => '')),
  );
  const group = String(pgid);
  return stats.some((stat) => {
    // "pid (comm) state ppid pgrp ...": comm may hold spaces and parentheses, so cut at the last ')'.
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return fields[2] === group && fields[0] !== 'Z' && fields[0] !== 'X';
  });
}

function destroyPipes(child: ChildProcessByStdio<null, Readable, Readable>): void {
  child.stdout.destroy();
  child.stderr.destroy();
}

function checkOptions(tailBytes: number, killGraceMs: number, timeoutMs: number | undefined): void {
  if (!Number.isSafeInteger(tailBytes) || tailBytes < 0) {
    throw new HoardError('PARAMS_INVALID', `stderrTailBytes must be a whole number >= 0, got ${tailBytes}`);
  }
  if (!(killGraceMs >= 0 && killGraceMs <= MAX_TIMER_MS)) {
    throw new HoardError(
      'PARAMS_INVALID',
      `killGraceMs must be between 0 and ${MAX_TIMER_MS}, got ${killGraceMs}`,
    );
  }
  if (timeoutMs !== undefined && !(timeoutMs > 0 && timeoutMs <= MAX_TIMER_MS)) {
    throw new HoardError(
      'PARAMS_INVALID',
      `timeoutMs must be more than 0 and at most ${MAX_TIMER_MS} (about 24 days), got ${timeoutMs}`,
    );
  }
}

/** The signal's own reason, unless it is the default one, which says nothing of what was cancelled. */
function abortReason(command: string, signal: AbortSignal, when: string): unknown {
  const reason: unknown = signal.reason;
  if (reason !== undefined && !(reason instanceof Error && reason.name === 'AbortError')) return reason;
  return new HoardError('TASK_CANCELLED', `command "${show(command)}" was cancelled ${when}`, {
    details: { command },
    cause: reason,
  });
}

function notStarted(command: string, cwd: string | undefined, cause: unknown): HoardError {
  const where = cwd === undefined ? '' : ` in "${cwd}"`;
  const why = cause instanceof Error ? cause.message : String(cause);
  return new HoardError('HOOK_FAILED', `command "${show(command)}" could not be started${where}: ${why}`, {
    details: { command, ...(cwd === undefined ? {} : { cwd }) },
    cause,
  });
}

function commandFailed(command: string, exit: Exit, stderrTail: string, durationMs: number): HoardError {
  const how = exit.signal
    ? `was killed by signal ${exit.signal}`
    : `exited with code ${exit.code}${EXIT_HINTS[exit.code ?? -1] ?? ''}`;
  const last = lastLines(stderrTail);
  return new HoardError(
    'HOOK_FAILED',
    `command "${show(command)}" ${how}${last ? `: ${last}` : ' (no stderr)'}`,
    {
      details: { command, exitCode: exit.code, signal: exit.signal, stderrTail, durationMs },
    },
  );
}

/** What `sh` means by these statuses. */
const EXIT_HINTS: Record<number, string> = { 126: ' (not executable)', 127: ' (command not found)' };

function show(command: string): string {
  const flat = command.replace(/\s+/g, ' ').trim();
  return flat.length > MAX_SHOWN_COMMAND ? `${flat.slice(0, MAX_SHOWN_COMMAND)}…` : flat;
}

function elapsed(started: number): number {
  return Math.round(performance.now() - started);
}
