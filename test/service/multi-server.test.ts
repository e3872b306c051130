/**
 * Several servers sharing one PostgreSQL catalog (127.0.0.1:5432, or HOARD_TEST_PG_URL):
 *
 * - schedulers on separate connections, on a controlled clock, all ticking at the same
 *   instant for every fire (the race two `hoard serve` processes only meet by chance): each
 *   fire runs once, and missed fires after downtime are one skipped record and one run;
 * - two services (in-process, each its own connections and owner) and a per-second schedule
 *   on a controlled clock: every fire is accounted for exactly once, each serves the other's
 *   records, and when the one that was running the schedule stops, the other carries on;
 * - two real `hoard serve` processes, one killed outright in the middle of an operation: the other marks its log failed
 *   once its heartbeat is stale, and a client following the log's events there sees the end.
 *
 * Nothing here skips: no PostgreSQL server fails the test, saying so.
 */
import assert from 'node:assert/strict';
import type { ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtemp } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { setTimeout as delay } from 'node:timers/promises';
import pg from 'pg';
import { openCatalog, PostgresCatalog, type ScheduledOperationRecord } from '../../src/catalog/index.js';
import { loadProviders } from '../../src/providers/provider.js';
import { Scheduler } from '../../src/service/scheduler.js';
import { createService } from '../../src/service/server.js';
import { hoard, spawnHoard } from '../cli/helpers.js';
import type { Json } from './helpers.js';

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

interface Server {
  child: ChildProcess;
  url: string;
  stderr: () => string;
}

/** Starts `hoard serve --port 0 --json` as a real process and resolves with its URL once it listens. */
function serve(home: string, env: Record<string, string>): Promise<Server> {
  const { child, done } = spawnHoard(['--home', home, 'serve', '--port', '0', '--json'], { env });
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
    void done.then(({ code }) => reject(new Error(`hoard serve exited ${code}: ${stderr}`)));
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

describe('two servers sharing a PostgreSQL catalog (controlled clock)', () => {
  it('account for each fire of a per-second schedule exactly once, and one carries on when the other stops', async () => {
    const home = join(await mkdtemp(join(tmpdir(), 'hoard-multi-')), 'home');
    const env = { HOARD_CATALOG_URL: catalogUrl() };
    const made = await hoard(['--home', home, 'tokens', 'create', '--project', 'shared', '--json'], env);
    assert.equal(made.code, 0, made.stderr);
    const { secret, token } = made.json;
    assert.match(secret, /^hrd_/);
    assert.equal(token.project, 'shared');
    const listed = await hoard(['--home', home, 'tokens', 'list', '--json'], env);
    assert.doesNotMatch(listed.stdout, new RegExp(secret), 'secrets are never listed');

    // Two services, each with its own catalog connections and its own name in the catalog, as
    // two `hoard serve` would have; their schedulers tick when the test moves the clock.
    let clock = Date.now();
    const { providers } = await loadProviders(home);
    const open = async (owner: string) => {
      const catalog = await openCatalog(home, env);
      const service = await createService({
        catalog,
        providers,
        tickMs: 3_600_000,
        now: () => new Date(clock),
        owner,
      });
      const url = await service.app.listen({ port: 0, host: '127.0.0.1' });
      let closed: Promise<void> | undefined;
      const close = () => (closed ??= service.close(5_000).then(() => catalog.close()));
      return { owner, service, url, close };
    };
    const a = await open('server A');
    const b = await open('server B');
    try {
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
      /** Every log of the schedule (all pages), as the server at `url` lists it. */
      const logs = async (url: string): Promise<Json[]> => {
        const all: Json[] = [];
        for (let marker = ''; ; ) {
          const page = await call(
            url,
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
      // From the schedule's own creation time (the scheduler's first `since`), not from the
      // time now: a second may have turned between the two (it did under CI's load).
      const start = Math.floor(Date.parse(op.body.scheduledOperation.createdAt) / 1000) * 1000 + 1000;
      /** Moves the clock to `second`, both (running) schedulers tick at that instant, and the fire's run ends. */
      const second = async (n: number, running: (typeof a)[]) => {
        clock = start + n * 1000 + 50;
        await Promise.all(running.map((s) => s.service.scheduler!.tick()));
        const fire = new Date(start + n * 1000).toISOString();
        await until(`the run of second ${n}`, async () =>
          succeeded(await logs(running[0]!.url)).some((l) => l.fireAt === fire) ? true : undefined,
        );
      };

      // Both serving: a few runs, the same records from either.
      // Second 0 is the first whole second after the schedule was made: its first fire.
      for (let n = 0; n <= 2; n++) await second(n, [a, b]);
      const fromA = await logs(a.url);
      const fromB = await logs(b.url);
      assert.deepEqual(
        fromB.map((l) => l.id),
        fromA.map((l) => l.id),
      );

      // Stop the server that ran the newest fire: the other takes over the next ones.
      const newest = succeeded(fromA)[0];
      const [gone, survivor] = newest.owner === a.owner ? [a, b] : [b, a];
      assert.equal(newest.owner, gone.owner);
      await gone.close();
      for (let n = 3; n <= 4; n++) await second(n, [survivor]);
      const after = succeeded(await logs(survivor.url)).filter((l) => Date.parse(l.fireAt) >= start + 3000);
      assert.deepEqual(
        after.map((l) => l.owner),
        [survivor.owner, survivor.owner],
      );

      // Disabled: once the PATCH has answered, no tick starts another run.
      const disabled = await call(survivor.url, 'PATCH', `/v1/shared/scheduled_operations/${id}`, {
        enabled: false,
      });
      assert.equal(disabled.status, 200, JSON.stringify(disabled.body));
      clock = start + 5050;
      await survivor.service.scheduler!.tick();
      const final = await until('the last runs to finish', async () => {
        const list = await logs(survivor.url);
        return list.every((l) => ['succeeded', 'failed', 'skipped'].includes(l.status)) ? list : undefined;
      });

      const runs = final.filter((l) => l.status !== 'skipped');
      for (const l of runs) assert.equal(l.status, 'succeeded', JSON.stringify(l.error));
      assert.ok(
        runs.every((l) => [a.owner, b.owner].includes(l.owner)),
        'every run was made by one of the two servers',
      );
      // Each second from the first fire to the last is one log's, and nothing after the disable.
      const fires = final.flatMap(firesOf).sort((x, y) => x - y);
      assert.deepEqual(
        fires,
        [0, 1, 2, 3, 4].map((n) => start + n * 1000),
        `fires: ${fires.map((f) => new Date(f).toISOString()).join(', ')}`,
      );
    } finally {
      await Promise.all([a.close(), b.close()]);
    }
  });
});

describe('two hoard serve processes sharing a PostgreSQL catalog', () => {
  const servers: Server[] = [];
  after(() => Promise.all(servers.map((s) => stop(s.child))));

  it('a server killed mid-operation: the other fails its log once the heartbeat is stale, and its event stream ends', async () => {
    const killHome = join(await mkdtemp(join(tmpdir(), 'hoard-kill-')), 'home');
    const killEnv = {
      HOARD_CATALOG_URL: catalogUrl(),
      HOARD_SCHEDULER_TICK_MS: '100',
      HOARD_HEARTBEAT_MS: '200',
    };
    const made = await hoard(
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
