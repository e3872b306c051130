/**
 * Runs the real `hoard` CLI for a crash campaign: plainly, with a SIGKILL after a delay, or
 * under strace with a SIGKILL injected at the N-th call of one system call. Keeps count of
 * what is running, so that checks can insist that nothing is.
 */
import { type ChildProcess, execFileSync, spawn } from 'node:child_process';
import { readFile, rm } from 'node:fs/promises';
import { MAIN } from '../cli/helpers.js';

/** A SIGKILL injected by strace at the `n`-th call of `syscall` (counted per thread). */
export interface Injection {
  syscall: string;
  n: number;
}

export interface RunOptions {
  /** Kill the process with SIGKILL this many ms after it is spawned (if it still runs). */
  killAfterMs?: number;
  /** Kill the process with SIGKILL when this settles (if it still runs). */
  killWhen?: Promise<unknown>;
  /** Run under strace, which kills the process at this system call. */
  inject?: Injection;
  /** Extra environment. */
  env?: Record<string, string>;
  /** Called with the process once spawned (to stop and continue it). */
  onSpawn?: (child: ChildProcess) => void;
}

export interface Outcome {
  args: string[];
  code: number | null;
  /** True if the process died of SIGKILL (ours or strace's). */
  killed: boolean;
  stdout: string;
  stderr: string;
  // biome-ignore lint/suspicious/noExplicitAny: the CLI's JSON output, read field by field
  json: any;
  ms: number;
}

/** The `hoard --home HOME` of one campaign. */
export class HoardCli {
  private readonly running = new Set<ChildProcess>();

  constructor(
    readonly home: string,
    private readonly env: Record<string, string>,
  ) {}

  /** How many hoard processes this campaign started are still running. */
  get active(): number {
    return this.running.size;
  }

  run(args: string[], options: RunOptions = {}): Promise<Outcome> {
    const hoardArgv = [MAIN, '--home', this.home, '--json', ...args];
    const env = { ...process.env, ...this.env, ...options.env };
    const { inject } = options;
    const child = inject
      ? spawn(
          'strace',
          [
            '-f',
            '-qq',
            '-o',
            '/dev/null',
            '-e',
            `trace=${inject.syscall}`,
            '-e',
            `inject=${inject.syscall}:signal=SIGKILL:when=${inject.n}`,
            process.execPath,
            ...hoardArgv,
          ],
          // One libuv thread: strace counts calls per thread, so the N-th call is then the
          // process's N-th asynchronous one, whichever of the bank's writes it is.
          { env: { ...env, UV_THREADPOOL_SIZE: '1' }, stdio: ['ignore', 'pipe', 'pipe'] },
        )
      : spawn(process.execPath, hoardArgv, { env, stdio: ['ignore', 'pipe', 'pipe'] });
    this.running.add(child);
    options.onSpawn?.(child);
    const started = Date.now();
    let stdout = '';
    let stderr = '';
    child.stdout!.on('data', (d) => (stdout += d));
    child.stderr!.on('data', (d) => (stderr += d));
    const timer =
      options.killAfterMs === undefined
        ? undefined
        : setTimeout(() => child.kill('SIGKILL'), options.killAfterMs);
    const kill = () => child.kill('SIGKILL');
    options.killWhen?.then(kill, kill);
    return new Promise((resolve, reject) => {
      child.on('error', reject);
      child.on('close', (code, signal) => {
        clearTimeout(timer);
        this.running.delete(child);
        let json: unknown;
        try {
          json = JSON.parse(stdout);
        } catch {
          json = undefined;
        }
        resolve({ args, code, killed: signal === 'SIGKILL', stdout, stderr, json, ms: Date.now() - started });
      });
    });
  }

  /**
   * The number of calls of each system call a run makes, from `strace -f -c` (one libuv
   * thread, as `run` uses under strace).
   */
  async count(args: string[], file: string): Promise<{ outcome: Outcome; calls: Map<string, number> }> {
    const env = { ...process.env, ...this.env, UV_THREADPOOL_SIZE: '1' };
    const child = spawn(
      'strace',
      ['-f', '-c', '-o', file, process.execPath, MAIN, '--home', this.home, '--json', ...args],
      {
        env,
        stdio: ['ignore', 'pipe', 'pipe'],
      },
    );
    this.running.add(child);
    const started = Date.now();
    let stdout = '';
    let stderr = '';
    child.stdout!.on('data', (d) => (stdout += d));
    child.stderr!.on('data', (d) => (stderr += d));
    const { code, signal } = await new Promise<{ code: number | null; signal: string | null }>(
      (resolve, reject) => {
        child.on('error', reject);
        child.on('close', (code, signal) => resolve({ code, signal }));
      },
    );
    this.running.delete(child);
    let json: unknown;
    try {
      json = JSON.parse(stdout);
    } catch {
      json = undefined;
    }
    const calls = parseStraceSummary(await readFile(file, 'utf8'));
    await rm(file, { force: true });
    return {
      outcome: { args, code, killed: signal === 'SIGKILL', stdout, stderr, json, ms: Date.now() - started },
      calls,
    };
  }
}

/** Calls per system call from strace's `-c` table. */
export function parseStraceSummary(text: string): Map<string, number> {
  const calls = new Map<string, number>();
  for (const line of text.split('\n')) {
    const cols = line.trim().split(/\s+/);
    if (cols.length < 5 || !/^[0-9.]+$/.test(cols[0]!)) continue;
    const name = cols[cols.length - 1]!;
    const count = Number(cols[3]);
    if (name !== 'total' && Number.isFinite(count)) calls.set(name, count);
  }
  return calls;
}

/** Why strace cannot be used here, or undefined if it can (installed, and allowed to trace). */
export function straceUnusable(): string | undefined {
  try {
    execFileSync('strace', ['-f', '-qq', '-o', '/dev/null', '-e', 'trace=rename', 'true'], { stdio: 'pipe' });
    return undefined;
  } catch (error) {
    const e = error as NodeJS.ErrnoException & { stderr?: Buffer };
    if (e.code === 'ENOENT') return 'strace is not installed';
    return `strace cannot trace here: ${e.stderr?.toString().trim().split('\n')[0] ?? e.message}`;
  }
}
