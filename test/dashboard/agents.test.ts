/**
 * The dashboard's agents panel (SPEC §12) in Chromium against a real `hoard serve` with a
 * queue (the local Redis, a random HOARD_QUEUE_PREFIX) and real `hoard agent` processes: an
 * agent's host, plugins, version and heartbeat; the panel following agents that start and stop
 * without a reload; what a project's token sees; the empty states of a server with a queue
 * and of one without; a remote hook's task and progress live on its operation's page.
 * Screenshots go to /tmp/dash-shots/agents-*.png.
 */
import assert from 'node:assert/strict';
import type { ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { type Browser, type BrowserContext, chromium, type Page } from 'playwright-core';
import { connectQueue } from '../../src/queue/connection.js';
import { type Ran, spawnHoard } from '../cli/helpers.js';
import {
  CHROMIUM,
  CHROMIUM_ARGS,
  hoard,
  NO_CHROMIUM,
  openLoggedIn,
  serve,
  stop,
  viewShown,
  WAIT_MS,
} from './harness.js';

const PROJECT = 'panel';
const SHOTS = process.env.HOARD_DASHBOARD_SHOTS ?? '/tmp/dash-shots';
const REDIS = process.env.HOARD_TEST_REDIS_URL ?? 'redis://127.0.0.1:6379';
const PREFIX = `hoard-panel-${randomBytes(4).toString('hex')}`;
const QUEUE = { HOARD_QUEUE_URL: REDIS, HOARD_QUEUE_PREFIX: PREFIX };

interface Agent {
  child: ChildProcess;
  done: Promise<Ran>;
  id: string;
}

describe('the dashboard’s agents panel in Chromium', { timeout: 5 * WAIT_MS, skip: NO_CHROMIUM }, () => {
  let dir: string;
  let browser: Browser | undefined;
  const contexts: BrowserContext[] = [];
  const agents: Agent[] = [];
  const servers: ChildProcess[] = [];
  /** The server with a queue, and one without. */
  let queued: { url: string; token: string; admin: string };
  let plain: { url: string; token: string };

  /**
   * A home with the provider file every agent and the server share (one id: one provider,
   * one bank), and a project's tokens.
   */
  async function home(name: string): Promise<string> {
    const path = join(dir, name);
    await mkdir(join(path, 'providers'), { recursive: true });
    await writeFile(
      join(path, 'providers', 'shared.conf'),
      `[provider]\nname = shared\nid = 3f9a6c1e-7d2b-4e58-9a0c-6b1d4e8f2a57\nbank = fs\nplugin = exec.task\nplugin = fs.directory\n[fs]\npath = ${join(dir, 'bank')}\n`,
    );
    return path;
  }

  const token = async (path: string, admin = false) =>
    JSON.parse(
      await hoard([
        '--home',
        path,
        'tokens',
        'create',
        '--project',
        PROJECT,
        ...(admin ? ['--admin'] : []),
        '--json',
      ]),
    ).secret as string;

  /** `hoard agent --host HOST` in its own process and home; resolves once it has registered. */
  async function startAgent(host: string): Promise<Agent> {
    const { child, done } = spawnHoard(['--json', 'agent', '--host', host], {
      env: { ...QUEUE, HOARD_HOME: await home(`agent-${host}-${agents.length}`) },
    });
    let out = '';
    const id = await new Promise<string>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`agent ${host} did not start`)), WAIT_MS);
      child.stdout!.on('data', (d) => {
        out += d;
        try {
          resolve((JSON.parse(out) as { agent: string }).agent);
          clearTimeout(timer);
        } catch {}
      });
      void done.then((r) => reject(new Error(`agent ${host} exited ${r.code}: ${r.stderr}`)));
    });
    const agent = { child, done, id };
    agents.push(agent);
    return agent;
  }

  before(async () => {
    if (!existsSync(CHROMIUM)) throw new Error(`Chromium is not installed at ${CHROMIUM}`);
    dir = await mkdtemp(join(tmpdir(), 'hoard-panel-'));
    await mkdir(SHOTS, { recursive: true });
    const withQueue = await home('server');
    const withoutQueue = await home('plain');
    queued = { url: '', token: await token(withQueue), admin: await token(withQueue, true) };
    plain = { url: '', token: await token(withoutQueue) };
    const [a, b] = await Promise.all([serve(withQueue, QUEUE), serve(withoutQueue), startAgent('web-1')]);
    servers.push(a.child, b.child);
    queued.url = a.url;
    plain.url = b.url;
    browser = await chromium.launch({ executablePath: CHROMIUM, args: CHROMIUM_ARGS });
  });

  after(async () => {
    for (const context of contexts) await context.close().catch(() => {});
    await browser?.close().catch(() => {});
    for (const agent of agents) agent.child.kill('SIGKILL');
    await Promise.all(agents.map((a) => a.done));
    await Promise.all(servers.map((s) => stop(s)));
    const redis = await connectQueue({ url: REDIS, prefix: PREFIX });
    const keys = await redis.keys(`${PREFIX}:*`);
    if (keys.length > 0) await redis.del(...keys);
    redis.disconnect();
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  /** A logged-in tab on the agents panel; fails the test on any uncaught page error. */
  async function open(url: string, secret: string, width = 1280): Promise<{ page: Page; errors: string[] }> {
    const { page, errors, context } = await openLoggedIn(browser!, {
      url,
      hash: '#/agents',
      project: PROJECT,
      secret,
      width,
      height: 700,
    });
    contexts.push(context);
    return { page, errors };
  }

  const row = (page: Page, host: string) => page.locator(`[data-testid="agent-row"][data-host="${host}"]`);

  it('shows an agent up with its host, plugins, version, concurrency and the age of its heartbeat', async () => {
    const { page, errors } = await open(queued.url, queued.admin);
    const web = row(page, 'web-1');
    await web.waitFor();
    assert.equal(await web.getAttribute('data-kind'), 'agent');
    assert.equal(await web.getAttribute('data-member-id'), agents[0]!.id);
    assert.equal((await web.getByTestId('agent-host').textContent())?.trim(), 'web-1');
    const plugins = (await web.getByTestId('agent-plugins').textContent())!;
    assert.match(plugins, /exec\.task/);
    assert.match(plugins, /fs\.directory/);
    assert.match((await web.getByTestId('agent-version').textContent())!, /^\d+\.\d+\.\d+/);
    assert.equal((await web.getByTestId('agent-running').textContent())?.trim(), '0 of 1 hooks');
    // The heartbeat as an age, its time as the API gave it; renewed every 2 s, so recent.
    const beat = web.getByTestId('agent-heartbeat');
    assert.match((await beat.textContent())!, /^(just now|\d s ago)$/);
    assert.ok(Date.now() - Date.parse((await beat.getAttribute('data-at'))!) < 10_000);
    await page.screenshot({ path: join(SHOTS, 'agents-desktop.png'), fullPage: true });
    assert.deepEqual(errors, []);
  });

  it('the plan form offers the hosts of the agents up in each resource’s Host field', async () => {
    const { page, errors } = await open(queued.url, queued.admin);
    await row(page, 'web-1').waitFor();
    await page.evaluate("location.hash = '#/plans'");
    const field = page.getByTestId('resource-host').first();
    await field.waitFor({ state: 'attached' });
    assert.equal(await field.getAttribute('list'), 'agent-hosts');
    await page.locator('[data-testid="agent-hosts"] option[value="web-1"]').waitFor({ state: 'attached' });
    assert.deepEqual(errors, []);
  });

  it('follows agents that start and stop without a reload', async () => {
    const { page, errors } = await open(queued.url, queued.admin);
    await row(page, 'web-1').waitFor();
    const before = await page.getByTestId('agent-heartbeat').first().getAttribute('data-at');
    const db = await startAgent('db-1');
    await row(page, 'db-1').waitFor();
    // Its heartbeat is renewed on the page too (the list is fetched again, not just redrawn).
    await page.waitForFunction(
      `document.querySelector('[data-testid="agent-row"][data-host="web-1"] [data-testid="agent-heartbeat"]')?.getAttribute('data-at') !== ${JSON.stringify(before)}`,
    );
    // A clean stop removes its record at once.
    db.child.kill('SIGTERM');
    assert.equal((await db.done).code, 0);
    await row(page, 'db-1').waitFor({ state: 'detached' });
    assert.equal(await row(page, 'web-1').count(), 1);
    assert.deepEqual(errors, []);
  });

  it('a project’s token sees the agents of the hosts its plans name, and says how to start one when none are', async () => {
    const { page, errors } = await open(queued.url, queued.token);
    const empty = page.getByTestId('agents-empty');
    await empty.waitFor();
    assert.equal(await empty.getAttribute('data-queue'), 'true');
    const text = (await empty.textContent())!;
    assert.match(text, /No agents or workers are up/);
    assert.match(text, /hoard agent --host NAME/);
    await page.screenshot({ path: join(SHOTS, 'agents-empty.png'), fullPage: true });

    // A plan naming web-1: its agent now shows on the panel (on the next refresh).
    const res = await fetch(`${queued.url}/v1/${PROJECT}/plans`, {
      method: 'POST',
      headers: { authorization: `Bearer ${queued.token}`, 'content-type': 'application/json' },
      body: JSON.stringify({
        name: 'on-web-1',
        resources: [{ type: 'fs.directory', id: 'uploads', host: 'web-1', path: join(dir, 'uploads') }],
      }),
    });
    assert.equal(res.status, 201, await res.text());
    await row(page, 'web-1').waitFor();
    assert.match((await row(page, 'web-1').getByTestId('agent-plugins').textContent())!, /fs\.directory/);
    assert.deepEqual(errors, []);
  });

  it('a server without a queue says it has no agents and how to set one up', async () => {
    const { page, errors } = await open(plain.url, plain.token);
    const empty = page.getByTestId('agents-empty');
    await empty.waitFor();
    assert.equal(await empty.getAttribute('data-queue'), 'false');
    const text = (await empty.textContent())!;
    assert.match(text, /no queue configured \(HOARD_QUEUE_URL/);
    assert.match(text, /hoard agent --host NAME/);
    assert.equal(await page.getByTestId('agent-row').count(), 0);
    assert.deepEqual(errors, []);
  });

  it('an operation’s page follows a remote hook live: waiting for an agent, taken by it, done', async () => {
    const call = async (method: string, path: string, body?: unknown) => {
      const res = await fetch(`${queued.url}/v1/${PROJECT}/${path}`, {
        method,
        headers: { authorization: `Bearer ${queued.admin}`, 'content-type': 'application/json' },
        ...(body === undefined ? {} : { body: JSON.stringify(body) }),
      });
      const text = await res.text();
      assert.ok(res.ok, `${method} ${path}: ${res.status} ${text}`);
      // biome-ignore lint/suspicious/noExplicitAny: API bodies, checked field by field below
      return JSON.parse(text) as Record<string, any>;
    };
    // A host with no agent yet: the hook waits in its queue (agent_wait, 60 s) while the page
    // subscribes, so the agent's one "taken by" report cannot go out before the page listens
    // (the event stream does not replay progress). Its hook outlives the agent's first 200 ms.
    const plan = (
      await call('POST', 'plans', {
        name: 'remote-sleep',
        resources: [{ type: 'exec.task', id: 'nap', host: 'late-1' }],
        parameters: { 'exec.task': { protect: { main: 'sleep 2' } } },
      })
    ).plan;
    const run = (await call('POST', 'providers/shared/checkpoints', { planId: plan.id })).operationLog;
    const { page, errors } = await open(queued.url, queued.admin);
    const subscribed = page.waitForResponse((r) =>
      new URL(r.url()).pathname.endsWith(`/operation_logs/${run.id}/events`),
    );
    await page.evaluate(`location.hash = ${JSON.stringify(`#/operations/${run.id}`)}`);
    await viewShown(page, `#/operations/${run.id}`);
    await subscribed;
    const main = page.locator('[data-testid="task-row"][data-task-id="exec.task#nap:main"]');
    await main.and(page.locator('[data-status="running"]')).waitFor();
    const progress = main.locator('td').nth(4);
    assert.equal((await progress.textContent())?.trim(), '', 'no progress before an agent takes it');

    const agent = await startAgent('late-1');
    // The agent's first report, relayed by the server's queue transport as a live event.
    await page.waitForFunction(
      `document.querySelector('[data-testid="task-row"][data-task-id="exec.task#nap:main"][data-status="running"] td:nth-of-type(5)')?.textContent === ${JSON.stringify(`0% (taken by ${agent.id})`)}`,
    );
    await page.screenshot({ path: join(SHOTS, 'agents-remote-hook.png'), fullPage: true });
    await main.and(page.locator('[data-status="succeeded"]')).waitFor();
    await page.locator('[data-testid="operation-status"][data-status="succeeded"]').waitFor();
    assert.equal((await progress.textContent())?.trim(), '', 'progress is shown only while it runs');
    assert.equal((await call('GET', `operation_logs/${run.id}`)).operationLog.status, 'succeeded');
    assert.deepEqual(errors, []);
  });

  it('fits 420 px without a page-wide horizontal scroll', async () => {
    for (const [name, url, secret] of [
      ['agents-420', queued.url, queued.admin],
      ['agents-empty-420', plain.url, plain.token],
    ] as const) {
      const { page, errors } = await open(url, secret, 420);
      await page.locator('[data-testid="agent-row"], [data-testid="agents-empty"]').first().waitFor();
      const overflow = (await page.evaluate('document.documentElement.scrollWidth')) as number;
      await page.screenshot({ path: join(SHOTS, `${name}.png`), fullPage: true });
      assert.ok(overflow <= 420, `${name} is ${overflow} px wide`);
      assert.deepEqual(errors, []);
    }
  });
});
