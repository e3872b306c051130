/**
 * Running the CLI from a test. `hoard` calls `main(argv, io)` in this process (fast: no Node
 * start-up, no module loading per call); `spawnHoard` starts a real `hoard` process, for what
 * only a process shows: signals, SIGKILL, a closed pipe, the README's walk-throughs.
 */
import assert from 'node:assert/strict';
import { type ChildProcess, spawn } from 'node:child_process';
import { readdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { PassThrough } from 'node:stream';
import { fileURLToPath } from 'node:url';
import { main } from '../../src/cli/main.js';

export const MAIN = fileURLToPath(new URL('../../src/cli/main.js', import.meta.url));
/** The repository's root: examples/ and the README's commands run from here. */
export const ROOT = fileURLToPath(new URL('../../../', import.meta.url));

export interface Ran {
  code: number | null;
  stdout: string;
  stderr: string;
  /** stdout parsed as JSON, or undefined when it is not one JSON document. */
  // biome-ignore lint/suspicious/noExplicitAny: the CLI's JSON output, checked field by field by the tests
  json: any;
}

export interface RunOptions {
  /** Variables over this process's environment. */
  env?: Record<string, string>;
  /** The working directory (default: this process's). */
  cwd?: string;
}

/** Variables set over process.env by in-process calls still running, with the values they replaced. */
const overlaid = new Map<string, { value: string; was: string | undefined }>();
let running = 0;

/**
 * `hoard ARGS…` in this process, with no stdin: its exit code and everything it printed. `env`
 * is set over process.env for the call (the layers below the CLI read process.env); calls
 * running at once must agree on it.
 */
export async function hoard(args: string[], env: Record<string, string> = {}, cwd?: string): Promise<Ran> {
  for (const [name, value] of Object.entries(env)) {
    const set = overlaid.get(name);
    if (set !== undefined && set.value !== value)
      throw new Error(`in-process hoard calls at once with different ${name}: use spawnHoard`);
  }
  for (const [name, value] of Object.entries(env)) {
    if (!overlaid.has(name)) overlaid.set(name, { value, was: process.env[name] });
    process.env[name] = value;
  }
  running++;
  let stdout = '';
  let stderr = '';
  const stdin = new PassThrough();
  stdin.end();
  try {
    const code = await main(args, {
      stdout: { write: (text: string) => (stdout += text) },
      stderr: { write: (text: string) => (stderr += text) },
      env: { ...process.env },
      cwd: cwd ?? process.cwd(),
      stdin,
      exit: (code) => {
        throw new Error(`hoard ${args.join(' ')} asked to exit the process (${code})`);
      },
    });
    return { code, stdout, stderr, json: parsed(stdout) };
  } finally {
    if (--running === 0) {
      for (const [name, { was }] of overlaid) {
        if (was === undefined) delete process.env[name];
        else process.env[name] = was;
      }
      overlaid.clear();
    }
  }
}

/** A real `hoard ARGS…` process, stdin closed, stdout and stderr piped; `done` when it has exited. */
export function spawnHoard(
  args: string[],
  options: RunOptions = {},
): { child: ChildProcess; done: Promise<Ran> } {
  const child = spawn(process.execPath, [MAIN, ...args], {
    stdio: ['ignore', 'pipe', 'pipe'],
    env: { ...process.env, ...options.env },
    ...(options.cwd ? { cwd: options.cwd } : {}),
  });
  let stdout = '';
  let stderr = '';
  child.stdout!.on('data', (d) => (stdout += d));
  child.stderr!.on('data', (d) => (stderr += d));
  const done = new Promise<Ran>((resolve, reject) => {
    child.on('error', reject);
    child.on('close', (code) => resolve({ code, stdout, stderr, json: parsed(stdout) }));
  });
  return { child, done };
}

/** `spawnHoard(args, options).done`: the exit code and output of a real process. */
export function hoardProcess(args: string[], options: RunOptions = {}): Promise<Ran> {
  return spawnHoard(args, options).done;
}

function parsed(stdout: string): unknown {
  try {
    return JSON.parse(stdout);
  } catch {
    return undefined;
  }
}

/** The command failed with `exit` and said why in one line on stderr, matching `message`. */
export function oneLine(r: { code: number | null; stderr: string }, exit: number, message: RegExp): void {
  assert.equal(r.code, exit, r.stderr);
  const lines = r.stderr.trim().split('\n');
  assert.equal(lines.length, 1, `one line on stderr, got:\n${r.stderr}`);
  assert.match(lines[0]!, message);
}

/** Every file under `dir` with its bytes: to show what a command wrote, or that it wrote nothing. */
export async function files(dir: string): Promise<Map<string, Buffer>> {
  const out = new Map<string, Buffer>();
  for (const entry of await readdir(dir, { recursive: true, withFileTypes: true })) {
    if (entry.isFile())
      out.set(join(entry.parentPath, entry.name), await readFile(join(entry.parentPath, entry.name)));
  }
  return out;
}
