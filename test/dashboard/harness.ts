/**
 * What the dashboard's browser tests share: a real `hoard serve` process, the CLI, files to
 * protect and compare, Debian's Chromium, and the wait for a route's view to be drawn.
 */
import assert from 'node:assert/strict';
import type { ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { Browser, BrowserContext, Page } from 'playwright-core';
import { ROOT, hoard as run, spawnHoard } from '../cli/helpers.js';

export const CHROMIUM = '/usr/bin/chromium';
export const CHROMIUM_ARGS = [
  '--no-sandbox',
  '--disable-gpu',
  '--disable-quic',
  '--no-first-run',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
];
/** Longest wait for anything the browser or the server does. */
export const WAIT_MS = 60_000;
/** The scheduler's tick in the served process (a trigger may fire every second). */
const TICK_MS = '200';

export async function writeFiles(root: string, files: Record<string, Buffer>): Promise<void> {
  for (const [path, bytes] of Object.entries(files)) {
    await mkdir(join(root, path, '..'), { recursive: true });
    await writeFile(join(root, path), bytes);
  }
}

export async function assertSameFiles(root: string, files: Record<string, Buffer>): Promise<void> {
  for (const [path, bytes] of Object.entries(files)) {
    const restored = await readFile(join(root, path));
    assert.ok(restored.equals(bytes), `${path}: restored bytes differ from the original`);
  }
}

/** Runs the CLI to completion (in-process); rejects with its stderr on a non-zero exit. */
export async function hoard(args: string[]): Promise<string> {
  const ran = await run(args, {}, ROOT);
  if (ran.code !== 0) throw new Error(`hoard ${args.join(' ')} exited ${ran.code}: ${ran.stderr}`);
  return ran.stdout;
}

/**
 * Starts `hoard serve --port 0 --json` (with `env` added to the environment) and resolves with
 * the URL it prints once it listens.
 */
export function serve(
  home: string,
  env: Record<string, string> = {},
): Promise<{ child: ChildProcess; url: string }> {
  const { child } = spawnHoard(['--home', home, 'serve', '--port', '0', '--json'], {
    cwd: ROOT,
    env: { HOARD_SCHEDULER_TICK_MS: TICK_MS, ...env },
  });
  let stdout = '';
  let stderr = '';
  child.stderr!.on('data', (d) => (stderr += d));
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`hoard serve did not print its URL within ${WAIT_MS} ms; stderr: ${stderr}`));
    }, WAIT_MS);
    child.on('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`hoard serve exited ${code} before listening: ${stderr}`));
    });
    child.stdout!.on('data', (d) => {
      stdout += d;
      const url = listeningUrl(stdout);
      if (url) {
        clearTimeout(timer);
        child.removeAllListeners('exit');
        resolve({ child, url });
      }
    });
  });
}

/** The `url` of the JSON document `serve --json` prints (one line or pretty-printed), once complete. */
function listeningUrl(stdout: string): string | undefined {
  for (const text of [stdout, ...stdout.split('\n')]) {
    try {
      const { url } = JSON.parse(text) as { url?: unknown };
      if (typeof url === 'string') return url;
    } catch {
      // not (yet) a whole JSON document
    }
  }
  return undefined;
}

export function stop(child: ChildProcess | undefined): Promise<void> {
  if (!child || child.exitCode !== null || child.signalCode !== null) return Promise.resolve();
  return new Promise((resolve) => {
    const timer = setTimeout(() => child.kill('SIGKILL'), 5000);
    child.once('exit', () => {
      clearTimeout(timer);
      resolve();
    });
    child.kill('SIGTERM');
  });
}

// Without Chromium the suite is skipped (test/setup/chromium.sh says so in npm test's first
// lines), except under CI=true, where it must run and fails saying what to install.
export const NO_CHROMIUM =
  !existsSync(CHROMIUM) && process.env.CI !== 'true'
    ? `no Chromium at ${CHROMIUM}: 'apt-get install chromium' to run these tests`
    : false;

/**
 * Waits until the route is `hash` (a string: exactly; a RegExp: matching) and the router has
 * drawn its view (`#main[data-shown]` is the current route). Until then the page may still
 * show the view being replaced: a hash change is handled after the click that caused it.
 */
export async function viewShown(page: Page, hash: string | RegExp): Promise<void> {
  const test =
    typeof hash === 'string'
      ? `location.hash === ${JSON.stringify(hash)}`
      : `new RegExp(${JSON.stringify(hash.source)}).test(location.hash)`;
  await page.waitForFunction(`${test} && document.getElementById('main').dataset.shown === location.hash`);
}

export interface TabOptions {
  /** The server's URL, and the route to open (`#/agents`; '' for the overview). */
  url: string;
  hash: string;
  project: string;
  secret: string;
  width?: number;
  height?: number;
  timezoneId?: string;
}

/**
 * A tab logged in to `project` with `secret`, showing `hash`, in a context of its own (the
 * caller closes it); `errors` collects every uncaught page error, for the test to assert on.
 */
export async function openLoggedIn(
  browser: Browser,
  { url, hash, project, secret, width = 1280, height = 900, timezoneId = 'Europe/Paris' }: TabOptions,
): Promise<{ page: Page; errors: string[]; context: BrowserContext }> {
  const context = await browser.newContext({ viewport: { width, height }, timezoneId, locale: 'en-GB' });
  const page = await context.newPage();
  page.setDefaultTimeout(WAIT_MS);
  const errors: string[] = [];
  page.on('pageerror', (error) => errors.push(error.message));
  await page.goto(`${url}/${hash}`);
  await page.getByTestId('login-project').fill(project);
  await page.getByTestId('login-token').fill(secret);
  await page.getByTestId('login-submit').click();
  await viewShown(page, hash || '#/overview');
  return { page, errors, context };
}
