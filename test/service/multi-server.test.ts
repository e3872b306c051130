/**
 * Two real `hoard serve` processes sharing one PostgreSQL catalog (127.0.0.1:5432, or
 * HOARD_TEST_PG_URL) and one home: a per-second scheduled protect runs exactly once per
 * fire, whichever process claims it; each serves the other's records. Also `hoard tokens`
 * and `hoard serve` as a user runs them. Nothing here skips: no server fails the test.
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
import type { Json } from './helpers.js';

const MAIN = fileURLToPath(new URL('../../src/cli/main.js', import.meta.url));
const ADMIN_URL = process.env.HOARD_TEST_PG_URL ?? 'postgresql://postgres@127.0.0.1:5432/postgres';
const DATABASE = `hoard_test_catalog_${randomBytes(4).toString('hex')}`;

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

/** Starts `hoard serve --port 0 --json` and resolves with its URL once it listens. */
function serve(
  home: string,
  env: Record<string, string>,
): Promise<{ child: ChildProcess; url: string; stderr: () => string }> {
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

describe('two servers sharing a PostgreSQL catalog', () => {
  let home: string;
  let env: Record<string, string>;
  const servers: ChildProcess[] = [];

  before(async () => {
    await admin((c) => c.query(`CREATE DATABASE ${DATABASE}`));
    home = join(await mkdtemp(join(tmpdir(), 'hoard-multi-')), 'home');
    env = { HOARD_CATALOG_URL: catalogUrl(), HOARD_SCHEDULER_TICK_MS: '100' };
  });

  after(async () => {
    for (const s of servers) s.kill('SIGTERM');
    await Promise.all(
      servers.map((s) => new Promise((r) => (s.exitCode !== null ? r(null) : s.on('close', r)))),
    );
    await admin((c) => c.query(`DROP DATABASE IF EXISTS ${DATABASE} WITH (FORCE)`));
  });

  it('runs each fire of a per-second schedule exactly once', async () => {
    const made = await run(['--home', home, 'tokens', 'create', '--project', 'shared', '--json'], env);
    assert.equal(made.code, 0, made.stderr);
    const { secret, token } = JSON.parse(made.stdout);
    assert.match(secret, /^hrd_/);
    assert.equal(token.project, 'shared');
    const listed = await run(['--home', home, 'tokens', 'list', '--json'], env);
    assert.doesNotMatch(listed.stdout, new RegExp(secret), 'secrets are never listed');

    const [a, b] = await Promise.all([serve(home, env), serve(home, env)]);
    servers.push(a.child, b.child);
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
    const op = await call(a.url, 'POST', '/v1/shared/scheduled_operations', {
      name: 'every second',
      operationType: 'protect',
      triggerId: trigger.body.trigger.id,
      operationDefinition: { planId: plan.body.plan.id },
    });
    assert.equal(op.status, 201, JSON.stringify(op.body));
    await delay(5_000);
    await call(b.url, 'PATCH', `/v1/shared/scheduled_operations/${op.body.scheduledOperation.id}`, {
      enabled: false,
    });
    await delay(1_000);

    const logs = await call(
      a.url,
      'GET',
      `/v1/shared/operation_logs?scheduledOperationId=${op.body.scheduledOperation.id}`,
    );
    const runs = (logs.body.operationLogs as Json[]).filter((l) => l.status !== 'skipped');
    assert.ok(runs.length >= 3, `at least 3 runs in 5 s, got ${runs.length}`);
    const fires = runs.map((l) => l.fireAt);
    assert.equal(new Set(fires).size, fires.length, `one run per fire: ${fires.join(', ')}`);
    for (const l of runs) assert.equal(l.status, 'succeeded', JSON.stringify(l.error));
    // Both servers see the same records.
    const fromB = await call(
      b.url,
      'GET',
      `/v1/shared/operation_logs?scheduledOperationId=${op.body.scheduledOperation.id}`,
    );
    assert.deepEqual(
      (fromB.body.operationLogs as Json[]).map((l) => l.id),
      (logs.body.operationLogs as Json[]).map((l) => l.id),
    );
    assert.doesNotMatch(a.stderr() + b.stderr(), /Error/, 'no faults logged');
  });
});
