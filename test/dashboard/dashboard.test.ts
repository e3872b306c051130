/**
 * The dashboard end to end, as a user meets it: a real `hoard serve` process, a token made
 * with the CLI, and Debian's Chromium driven by playwright-core. The user logs in, protects a
 * plan, watches its hook graph go green, and restores the checkpoint into a directory whose
 * bytes must equal the originals.
 */
import assert from 'node:assert/strict';
import { type ChildProcess, spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { type Browser, type BrowserContext, chromium, type Page } from 'playwright-core';

const MAIN = fileURLToPath(new URL('../../src/cli/main.js', import.meta.url));
const ROOT = fileURLToPath(new URL('../../../', import.meta.url));
const CHROMIUM = '/usr/bin/chromium';
const PROJECT = 'e2e';
/** Browser-side expressions (the test is compiled without the DOM library). */
const SESSION = `sessionStorage.getItem('hoard.session')`;
const ALL_NODES_SUCCEEDED = `(() => {
  const nodes = [...document.querySelectorAll('[data-testid="graph-node"]')];
  return nodes.length > 0 && nodes.every((n) => n.dataset.status === 'succeeded');
})()`;
/** Longest wait for anything the browser or the server does. */
const WAIT_MS = 60_000;

/** The files the plan protects: path under the data directory → content. */
const FILES: Record<string, Buffer> = {
  'notes.txt': Buffer.from('the quick brown fox\n'),
  'empty.txt': Buffer.alloc(0),
  'nested/deeper/random.bin': randomBytes(300_000),
  'nested/été ☃.txt': Buffer.from('unicode names survive\n'),
};

/** Runs the CLI to completion; rejects with its stderr on a non-zero exit. */
function hoard(args: string[]): Promise<string> {
  const child = spawn(process.execPath, [MAIN, ...args], { cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'] });
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (d) => (stdout += d));
  child.stderr.on('data', (d) => (stderr += d));
  return new Promise((resolve, reject) =>
    child.on('close', (code) =>
      code === 0 ? resolve(stdout) : reject(new Error(`hoard ${args.join(' ')} exited ${code}: ${stderr}`)),
    ),
  );
}

/** Starts `hoard serve --port 0 --json` and resolves with the URL it prints once it listens. */
function serve(home: string): Promise<{ child: ChildProcess; url: string }> {
  const child = spawn(process.execPath, [MAIN, '--home', home, 'serve', '--port', '0', '--json'], {
    cwd: ROOT,
    stdio: ['ignore', 'pipe', 'pipe'],
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

function stop(child: ChildProcess | undefined): Promise<void> {
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

describe('the dashboard in Chromium', { timeout: 5 * WAIT_MS }, () => {
  let dir: string;
  let home: string;
  let data: string;
  let token: string;
  let server: ChildProcess | undefined;
  let url: string;
  let planId: string;
  let browser: Browser | undefined;
  const contexts: BrowserContext[] = [];

  before(async () => {
    if (!existsSync(CHROMIUM)) {
      throw new Error(
        `Chromium is not installed at ${CHROMIUM}: run "apt-get install chromium" to run this test`,
      );
    }
    dir = await mkdtemp(join(tmpdir(), 'hoard-dashboard-'));
    home = join(dir, 'home');
    data = join(dir, 'data');
    for (const [path, bytes] of Object.entries(FILES)) {
      await mkdir(join(data, path, '..'), { recursive: true });
      await writeFile(join(data, path), bytes);
    }

    const created = JSON.parse(
      await hoard(['--home', home, 'tokens', 'create', '--project', PROJECT, '--json']),
    );
    token = created.secret;
    assert.match(token, /^hrd_/);
    ({ child: server, url } = await serve(home));

    const res = await fetch(`${url}/v1/${PROJECT}/plans`, {
      method: 'POST',
      headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
      body: JSON.stringify({
        name: 'e2e-files',
        providerId: 'local',
        resources: [{ type: 'fs.directory', id: 'files', path: data }],
      }),
    });
    assert.equal(res.status, 201, await res.clone().text());
    planId = ((await res.json()) as { plan: { id: string } }).plan.id;

    browser = await chromium.launch({
      executablePath: CHROMIUM,
      args: [
        '--no-sandbox',
        '--disable-gpu',
        '--disable-quic',
        '--no-first-run',
        '--disable-background-networking',
        '--disable-component-update',
        '--disable-sync',
      ],
    });
  });

  after(async () => {
    for (const context of contexts) await context.close().catch(() => {});
    await browser?.close().catch(() => {});
    await stop(server);
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  /** A fresh tab (own sessionStorage) that fails the test on any uncaught page error. */
  async function open(): Promise<{ page: Page; errors: string[] }> {
    const context = await browser!.newContext();
    contexts.push(context);
    const page = await context.newPage();
    page.setDefaultTimeout(WAIT_MS);
    const errors: string[] = [];
    page.on('pageerror', (error) => errors.push(error.message));
    await page.goto(url);
    return { page, errors };
  }

  async function logIn(page: Page, secret: string): Promise<void> {
    await page.getByTestId('login-project').fill(PROJECT);
    await page.getByTestId('login-token').fill(secret);
    await page.getByTestId('login-submit').click();
  }

  /** Waits for the operation view to show a final status and returns it. */
  async function finalStatus(page: Page): Promise<string> {
    await page.waitForURL(/#\/operations\/.+/);
    const status = page.locator(
      '[data-testid="operation-status"]:is([data-status="succeeded"], [data-status="failed"], [data-status="skipped"])',
    );
    await status.waitFor();
    return (await status.getAttribute('data-status'))!;
  }

  it('a wrong token is rejected and the login form stays', async () => {
    const { page, errors } = await open();
    await logIn(page, 'hrd_not-a-real-token');
    const message = page.getByTestId('login-error');
    await message.waitFor();
    assert.equal((await message.textContent())?.trim(), 'token rejected');
    assert.equal(await page.getByTestId('login-form').isVisible(), true);
    assert.equal(await page.getByTestId('nav').isVisible(), false);
    assert.deepEqual(errors, []);
  });

  it('a token revoked in the middle of a session returns to the login form', async () => {
    const created = JSON.parse(
      await hoard(['--home', home, 'tokens', 'create', '--project', PROJECT, '--json']),
    );
    const { page, errors } = await open();
    await logIn(page, created.secret);
    await page.locator(`[data-testid="plan-row"][data-plan-id="${planId}"]`).waitFor();
    await hoard(['--home', home, 'tokens', 'revoke', created.token.id]);
    await page.getByTestId('nav-providers').click();
    await page.getByTestId('login-form').waitFor();
    assert.equal((await page.getByTestId('login-error').textContent())?.trim(), 'token rejected');
    assert.equal(await page.evaluate(SESSION), null);
    assert.deepEqual(errors, []);
  });

  it('protects a plan, shows every hook succeeded, and restores the checkpoint byte for byte', async () => {
    const { page, errors } = await open();
    await logIn(page, token);

    // Protect, then follow the operation until its graph is all green.
    const row = page.locator(`[data-testid="plan-row"][data-plan-id="${planId}"]`);
    await row.getByTestId('protect-button').click();
    assert.equal(await finalStatus(page), 'succeeded');
    await page.waitForFunction(ALL_NODES_SUCCEEDED);
    const nodes = await page
      .getByTestId('graph-node')
      .evaluateAll((els) => els.map((el) => el.getAttribute('data-task-id')));
    assert.deepEqual(nodes.sort(), [
      'fs.directory#files:complete',
      'fs.directory#files:main',
      'fs.directory#files:prepareBegin',
      'fs.directory#files:prepareFinish',
    ]);
    assert.equal(await page.locator('[data-testid="task-row"][data-status="succeeded"]').count(), 4);
    const checkpointId = (await page.getByTestId('operation-checkpoint').locator('a').textContent())!.trim();

    // The new checkpoint is listed as available; restore it into a new directory.
    await page.getByTestId('nav-checkpoints').click();
    const checkpoint = page.locator(
      `[data-testid="checkpoint-row"][data-checkpoint-id="${checkpointId}"][data-status="available"]`,
    );
    await checkpoint.waitFor();
    const target = join(dir, 'restored');
    await page.getByTestId('restore-target').fill(target);
    await checkpoint.getByTestId('restore-button').click();
    assert.equal(await finalStatus(page), 'succeeded');
    assert.equal(await page.locator('[data-testid="graph-node"]:not([data-status="succeeded"])').count(), 0);

    for (const [path, bytes] of Object.entries(FILES)) {
      const restored = await readFile(join(target, path));
      assert.ok(restored.equals(bytes), `${path}: restored bytes differ from the original`);
    }
    assert.deepEqual(errors, []);
  });

  it('verifies the checkpoint, then deletes it after a confirmation', async () => {
    const { page, errors } = await open();
    await logIn(page, token);
    await page.getByTestId('nav-checkpoints').click();
    const available = page.locator('[data-testid="checkpoint-row"][data-status="available"]');
    await available.first().waitFor();
    const checkpointId = (await available.first().getAttribute('data-checkpoint-id'))!;
    const row = page.locator(`[data-testid="checkpoint-row"][data-checkpoint-id="${checkpointId}"]`);

    await row.getByTestId('verify-button').click();
    assert.equal(await finalStatus(page), 'succeeded');

    await page.getByTestId('nav-checkpoints').click();
    const dialogs: string[] = [];
    page.once('dialog', (dialog) => {
      dialogs.push(dialog.type());
      void dialog.accept();
    });
    await row.getByTestId('delete-button').click();
    assert.equal(await finalStatus(page), 'succeeded');
    assert.deepEqual(dialogs, ['confirm']);

    await page.getByTestId('nav-checkpoints').click();
    await page
      .locator('[data-testid="checkpoints-table"], [data-testid="checkpoints-table-empty"]')
      .first()
      .waitFor();
    assert.equal(
      await page
        .locator(
          `[data-testid="checkpoint-row"][data-checkpoint-id="${checkpointId}"][data-status="available"]`,
        )
        .count(),
      0,
    );
    assert.deepEqual(errors, []);
  });

  it('lists the operations a page at a time, and logs out', async () => {
    const { page, errors } = await open();
    await logIn(page, token);
    await page.getByTestId('nav-operations').click();
    await page.locator('[data-testid="operation-row"][data-status="succeeded"]').first().waitFor();
    const kinds = await page
      .getByTestId('operation-row')
      .evaluateAll((rows) => rows.map((r) => r.querySelectorAll('td')[1]?.textContent));
    assert.deepEqual(kinds.sort(), ['delete', 'protect', 'restore', 'verify']);

    // Pages of one: next page shows the next older operation, first page returns.
    await page.goto(`${url}/#/operations?limit=1`);
    const shown = () =>
      page
        .getByTestId('operation-row')
        .evaluateAll((rows) => rows.map((r) => r.getAttribute('data-operation-id')));
    await page.getByTestId('operation-row').waitFor();
    const first = await shown();
    assert.equal(first.length, 1);
    await page.getByTestId('next-page').click();
    await page.waitForURL(/marker=/);
    await page.locator(`[data-testid="operation-row"]:not([data-operation-id="${first[0]}"])`).waitFor();
    assert.equal((await shown()).length, 1);
    await page.getByTestId('first-page').click();
    await page.locator(`[data-testid="operation-row"][data-operation-id="${first[0]}"]`).waitFor();

    await page.getByTestId('logout').click();
    await page.getByTestId('login-form').waitFor();
    assert.equal(await page.evaluate(SESSION), null);
    assert.deepEqual(errors, []);
  });
});
