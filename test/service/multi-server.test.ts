/**
 * Several servers sharing one PostgreSQL catalog (127.0.0.1:5432, or HOARD_TEST_PG_URL):
 *
 * - schedulers on separate connections, on a controlled clock, all ticking at the same
 *   instant for every fire (the race two `hoard serve` processes only meet by chance): each
 *   fire runs once, and missed fires after downtime are one skipped record and one run;
 * - two real `hoard serve` processes and a per-second schedule: every fire is accounted for
 *   exactly once (run or recorded skipped), each serves the other's records, and when the
 *   one that was running the schedule stops, the other carries on;
 * - a server killed outright in the middle of an operation: the other marks its log failed
 *   once its heartbeat is stale, and a client following the log's events there sees the end.
 *
 * Nothing here skips: no PostgreSQL server fails the test, saying so.
 */
import assert from 'node:assert/strict';
import { type ChildProcess, spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtemp } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { setTimeout as delay } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';
import pg from 'pg';
import { PostgresCatalog, type ScheduledOperationRecord } from '../../src/catalog/index.js';
import { Scheduler } from '../../src/service/scheduler.js';
import type { Json } from './helpers.js';

const MAIN = fileURLToPath(new URL('../../src/cli/main.js', import.meta.url));
const ADMIN_URL = process.env.HOARD_TEST_PG_URL ?? 'postgresql://postgres@127.0.0.1:5432/postgres';
const DATABASE = `hoard_test_catalog_${randomBytes(4).toString('hex')}`;
/** Longest wait for something a server does (a loaded 2-core CI machine included). */
const WAIT_MS = 60_000;
const MINUTE = 60_000;

function catalogUrl(): string {
  const url = new URL(ADMIN_URL);
  url.pathname = `/${DATABASE}`;
  return url.toString();
}

async function admin<T>(work: (client: pg.Client) => Promise<T>): Promise<T> {
  const client = new pg.Client({ connectionString: ADMIN_URL });
  try {
    await client.connect();
  } catch (error) {
    throw new Error(
      `PostgreSQL at ${ADMIN_URL} is needed for this test (start it, or set HOARD_TEST_PG_URL): ${(error as Error).message}`,
    );
  }
  try {
    return await work(client);
  } finally {
    await client.end();
  }
}

/** Polls `probe` until it returns a value other than undefined; fails after WAIT_MS saying `what`. */
async function until<T>(what: string, probe: () => Promise<T | undefined>): Promise<T> {
  const deadline = Date.now() + WAIT_MS;
  for (;;) {
    const value = await probe();
    if (value !== undefined) return value;
    assert.ok(Date.now() < deadline, `waited ${WAIT_MS} ms for ${what}`);
    await delay(100);
  }
}

before(() => admin((c) => c.query(`CREATE DATABASE ${DATABASE}`)));
after(() => admin((c) => c.query(`DROP DATABASE IF EXISTS ${DATABASE} WITH (FORCE)`)));

describe('schedulers of several servers on one PostgreSQL catalog (controlled clock)', () => {
  const catalogs: PostgresCatalog[] = [];
  after(() => Promise.all(catalogs.map((c) => c.close())));

  it('ticking at the same instant, they run each fire once; after downtime, one run and one skipped record', async () => {
    // Two servers' pools on one schema; three schedulers on each.
    for (let i = 0; i < 2; i++) catalogs.push(new PostgresCatalog(catalogUrl(), { schema: 'race', max: 4 }));
    const [one, two] = catalogs as [PostgresCatalog, PostgresCatalog];
    await Promise.all([one.migrate(), two.migrate()]);
    const trigger = await one.createTrigger({
      project: 'p',
      name: 'every minute',
      type: 'time',
      properties: { pattern: '* * * * *', window: 600 },
    });
    const op = await two.createScheduledOperation({
      project: 'p',
      name: 'protect',
      operationType: 'protect',
      triggerId: trigger.id,
      definition: { planId: '0190a5c2-0000-7000-8000-000000000001' },
    });
    const start = Math.floor(Date.parse(op.createdAt) / MINUTE) * MINUTE;
    let now = new Date(start);
    const launched: { fireAt: string; by: number }[] = [];
    const schedulers = (count: number) =>
      Array.from(
        { length: count },
        (_, n) =>
          new Scheduler({
            catalog: catalogs[n % 2]!,
            now: () => now,
            tickMs: 1_000_000,
            owner: `server ${n}`,
            launch: async (o: ScheduledOperationRecord, fireAt: Date) => {
              if (o.id === op.id) launched.push({ fireAt: fireAt.toISOString(), by: n });
            },
          }),
      );
    const fire = (minute: number) => new Date(start + minute * MINUTE).toISOString();

    let running = schedulers(6);
    for (let minute = 1; minute <= 5; minute++) {
      now = new Date(start + minute * MINUTE + 100);
      await Promise.all(running.map((s) => s.tick()));
      await Promise.all(running.map((s) => s.tick())); // and again: nothing new is due
    }
    assert.deepEqual(
      launched.map((l) => l.fireAt),
      [1, 2, 3, 4, 5].map(fire),
    );

    // Every server is down for minutes 6–11; at 12:30 six new schedulers start together.
    running = schedulers(6);
    now = new Date(start + 12 * MINUTE + 30_000);
    await Promise.all(running.map((s) => s.tick()));
    assert.deepEqual(
      launched.map((l) => l.fireAt),
      [1, 2, 3, 4, 5, 12].map(fire),
    );
    const skipped = (await one.listOperationLogs('p', { scheduledOperationId: op.id, status: 'skipped' }))
      .items;
    assert.equal(skipped.length, 1, JSON.stringify(skipped));
    assert.equal(skipped[0]!.fireAt, fire(6));
    assert.match(skipped[0]!.error!.message, /^6 run\(s\) from /);

    // Disabled through one connection: no scheduler on either claims the next fire.
    assert.equal(await two.setScheduledOperationEnabled('p', op.id, false), true);
    now = new Date(start + 13 * MINUTE + 100);
    await Promise.all(running.map((s) => s.tick()));
    assert.equal(launched.length, 6);
  });
});

function run(
  args: string[],
  env: Record<string, string>,
): Promise<{ code: number | null; stdout: string; stderr: string }> {
  const child = spawn(process.execPath, [MAIN, ...args], {
    env: { ...process.env, ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (d) => (stdout += d));
  child.stderr.on('data', (d) => (stderr += d));
  return new Promise((resolve) => child.on('close', (code) => resolve({ code, stdout, stderr })));
}

interface Server {
  child: ChildProcess;
  url: string;
  stderr: () => string;
}

/** Starts `hoard serve --port 0 --json` and resolves with its URL once it listens. */
function serve(home: string, env: Record<string, string>): Promise<Server> {
  const child = spawn(process.execPath, [MAIN, '--home', home, 'serve', '--port', '0', '--json'], {
    env: { ...process.env, ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let stdout = '';
  let stderr = '';
  child.stderr!.on('data', (d) => (stderr += d));
  return new Promise((resolve, reject) => {
    child.stdout!.on('data', (d) => {
      stdout += d;
      try {
        resolve({ child, url: JSON.parse(stdout).url, stderr: () => stderr });
      } catch {}
    });
    child.on('close', (code) => reject(new Error(`hoard serve exited ${code}: ${stderr}`)));
  });
}

function stop(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve();
  return new Promise((resolve) => {
    child.once('exit', () => resolve());
    child.kill('SIGTERM');
  });
}

/** The fire times a log accounts for: its own, or for a "N run(s) from …" skipped record, N seconds. */
function firesOf(log: Json): number[] {
  const at = Date.parse(log.fireAt);
  const many = /^(\d+) run\(s\) from /.exec(log.error?.message ?? '');
  return many ? Array.from({ length: Number(many[1]) }, (_, i) => at + i * 1000) : [at];
}

describe('two hoard serve processes sharing a PostgreSQL catalog', () => {
  let home: string;
  let env: Record<string, string>;
  const servers: Server[] = [];

  before(async () => {
    home = join(await mkdtemp(join(tmpdir(), 'hoard-multi-')), 'home');
    env = { HOARD_CATALOG_URL: catalogUrl(), HOARD_SCHEDULER_TICK_MS: '100' };
  });
  after(() => Promise.all(servers.map((s) => stop(s.child))));

  it('account for each fire of a per-second schedule exactly once, and one carries on when the other stops', async () => {
    const made = await run(['--home', home, 'tokens', 'create', '--project', 'shared', '--json'], env);
    assert.equal(made.code, 0, made.stderr);
    const { secret, token } = JSON.parse(made.stdout);
    assert.match(secret, /^hrd_/);
    assert.equal(token.project, 'shared');
    const listed = await run(['--home', home, 'tokens', 'list', '--json'], env);
    assert.doesNotMatch(listed.stdout, new RegExp(secret), 'secrets are never listed');

    servers.push(...(await Promise.all([serve(home, env), serve(home, env)])));
    const [a, b] = servers as [Server, Server];
    const call = async (url: string, method: string, path: string, body?: unknown) => {
      const r = await fetch(`${url}${path}`, {
        method,
        headers: {
          authorization: `Bearer ${secret}`,
          ...(body ? { 'content-type': 'application/json' } : {}),
        },
        ...(body ? { body: JSON.stringify(body) } : {}),
      });
      return { status: r.status, body: (await r.json()) as Json };
    };

    const plan = await call(a.url, 'POST', '/v1/shared/plans', {
      name: 'tick',
      resources: [{ type: 'noop', id: 'x' }],
    });
    assert.equal(plan.status, 201, JSON.stringify(plan.body));
    const trigger = await call(b.url, 'POST', '/v1/shared/triggers', {
      name: 'each second',
      type: 'time',
      properties: { pattern: '* * * * * *' },
    });
    assert.equal(trigger.status, 201, JSON.stringify(trigger.body));
    const op = await call(a.url, 'POST', '/v1/shared/scheduled_operations', {
      name: 'every second',
      operationType: 'protect',
      triggerId: trigger.body.trigger.id,
      operationDefinition: { planId: plan.body.plan.id },
    });
    assert.equal(op.status, 201, JSON.stringify(op.body));
    const id = op.body.scheduledOperation.id;
    /** Every log of the schedule (all pages), as `server` lists it. */
    const logs = async (server: Server): Promise<Json[]> => {
      const all: Json[] = [];
      for (let marker = ''; ; ) {
        const page = await call(
          server.url,
          'GET',
          `/v1/shared/operation_logs?scheduledOperationId=${id}&limit=1000${marker ? `&marker=${marker}` : ''}`,
        );
        assert.equal(page.status, 200, JSON.stringify(page.body));
        all.push(...page.body.operationLogs);
        if (!page.body.next) return all;
        marker = page.body.next;
      }
    };
    const succeeded = (list: Json[]) => list.filter((l) => l.status === 'succeeded');

    // Both serving: a few runs, the same records from either.
    await until('3 scheduled runs', async () =>
      (await logs(a)).filter((l) => l.status === 'succeeded').length >= 3 ? true : undefined,
    );
    const fromA = await logs(a);
    const fromB = await logs(b);
    assert.deepEqual(
      fromB.map((l) => l.id),
      fromA.map((l) => l.id),
    );

    // Stop the server that ran the newest fire: the other takes over the next ones.
    const newest = succeeded(fromA)[0];
    const [gone, survivor] = newest.owner.endsWith(`:${a.child.pid}`) ? [a, b] : [b, a];
    assert.ok(newest.owner.endsWith(`:${gone.child.pid}`), `owner ${newest.owner}`);
    await stop(gone.child);
    const stoppedAt = Date.now();
    await until('2 runs by the other server after the stop', async () => {
      const after = succeeded(await logs(survivor)).filter(
        (l) => l.owner.endsWith(`:${survivor.child.pid}`) && Date.parse(l.fireAt) > stoppedAt,
      );
      return after.length >= 2 ? true : undefined;
    });

    // Disabled: once the PATCH has answered, every run there will be is listed.
    const disabled = await call(survivor.url, 'PATCH', `/v1/shared/scheduled_operations/${id}`, {
      enabled: false,
    });
    assert.equal(disabled.status, 200, JSON.stringify(disabled.body));
    const final = await until('the last runs to finish', async () => {
      const list = await logs(survivor);
      return list.every((l) => ['succeeded', 'failed', 'skipped'].includes(l.status)) ? list : undefined;
    });

    const runs = final.filter((l) => l.status !== 'skipped');
    for (const l of runs) assert.equal(l.status, 'succeeded', JSON.stringify(l.error));
    assert.ok(
      runs.every((l) => [a, b].some((s) => l.owner.endsWith(`:${s.child.pid}`))),
      'every run was made by one of the two servers',
    );
    // Each second from the first fire to the last is one log's: run once, or counted skipped.
    const fires = final.flatMap(firesOf).sort((x, y) => x - y);
    assert.equal(new Set(fires).size, fires.length, `a fire accounted for twice: ${fires.join(', ')}`);
    assert.equal(
      fires.length,
      (fires.at(-1)! - fires[0]!) / 1000 + 1,
      `a fire is missing: ${fires.map((f) => new Date(f).toISOString()).join(', ')}`,
    );
    assert.doesNotMatch(a.stderr() + b.stderr(), /Error/, 'no faults logged');
  });

  it('a server killed mid-operation: the other fails its log once the heartbeat is stale, and its event stream ends', async () => {
    const killHome = join(await mkdtemp(join(tmpdir(), 'hoard-kill-')), 'home');
    const killEnv = { ...env, HOARD_HEARTBEAT_MS: '200' };
    const made = await run(
      ['--home', killHome, 'tokens', 'create', '--project', 'ops', '--admin', '--json'],
      killEnv,
    );
    assert.equal(made.code, 0, made.stderr);
    const { secret } = JSON.parse(made.stdout);
    const [a, b] = (await Promise.all([serve(killHome, killEnv), serve(killHome, killEnv)])) as [
      Server,
      Server,
    ];
    servers.push(a, b);
    const call = async (url: string, method: string, path: string, body?: unknown) => {
      const r = await fetch(`${url}${path}`, {
        method,
        headers: {
          authorization: `Bearer ${secret}`,
          ...(body ? { 'content-type': 'application/json' } : {}),
        },
        ...(body ? { body: JSON.stringify(body) } : {}),
      });
      return { status: r.status, body: (await r.json()) as Json };
    };
    // exec.task (admin only): a main hook that outlives the server running it.
    const plan = await call(a.url, 'POST', '/v1/ops/plans', {
      name: 'slow',
      resources: [{ type: 'exec.task', id: 'app' }],
      parameters: { 'exec.task#app': { protect: { main: 'sleep 15' } } },
    });
    assert.equal(plan.status, 201, JSON.stringify(plan.body));
    const accepted = await call(a.url, 'POST', '/v1/ops/providers/local/checkpoints', {
      planId: plan.body.plan.id,
    });
    assert.equal(accepted.status, 202, JSON.stringify(accepted.body));
    const id = accepted.body.operationLog.id;
    await until('the protect to run on A', async () => {
      const log = (await call(b.url, 'GET', `/v1/ops/operation_logs/${id}`)).body.operationLog;
      return log.status === 'running' ? true : undefined;
    });

    // Follow it from B (which does not run it: B follows the catalog), then kill A.
    const stream = await fetch(`${b.url}/v1/ops/operation_logs/${id}/events?access_token=${secret}`, {
      signal: AbortSignal.timeout(WAIT_MS),
    });
    const events = stream.text();
    a.child.kill('SIGKILL');
    const text = await events;
    const end = /event: end\ndata: (.*)\n/.exec(text);
    assert.ok(end, text);
    const final = JSON.parse(end[1]!);
    assert.equal(final.status, 'failed');
    assert.equal(final.error.code, 'OPERATION_ABANDONED');
    assert.match(final.error.message, /stopped before it finished/);
    const shown = (await call(b.url, 'GET', `/v1/ops/operation_logs/${id}`)).body.operationLog;
    assert.equal(shown.status, 'failed');
    assert.doesNotMatch(b.stderr(), /Error/, 'no faults logged');
  });
});
