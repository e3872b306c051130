/**
 * The API and the protection service apart (SPEC §12): one real `hoard serve --no-runner` and
 * two real `hoard worker` processes sharing a SQLite catalog file and the real Redis (a random
 * HOARD_QUEUE_PREFIX of this file's own).
 *
 * - 50 protects through the API: each runs exactly once (counted by their hooks' side effects,
 *   not only by statuses), on both workers; a job delivered again runs nothing;
 * - a scheduled operation fires in the server and runs on a worker;
 * - restores (with their request's target), verifications and deletes run on workers too;
 * - a cancel through the API reaches the worker: the hook is aborted, the teardown runs, the
 *   API's event stream shows the worker's task events and the end;
 * - a worker killed with SIGKILL mid-operation: its log is failed as abandoned (not run again,
 *   even when BullMQ delivers its job again), and the next protect recovers the checkpoint;
 * - `serve --no-runner` and `worker` without HOARD_QUEUE_URL are a clear usage error.
 */
import assert from 'node:assert/strict';
import type { ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdir, mkdtemp, readFile, writeFile } from 'node:fs/promises';
import { hostname, tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { setTimeout as delay } from 'node:timers/promises';
import { Queue } from 'bullmq';
import { connectQueue } from '../../src/queue/connection.js';
import { OPERATIONS_QUEUE } from '../../src/queue/operations.js';
import { listMembers } from '../../src/queue/registry.js';
import { hoard, oneLine, spawnHoard } from '../cli/helpers.js';
import { NO_REDIS, REDIS_URL as REDIS } from '../queue/redis-server.js';
import type { Json } from './helpers.js';

const PREFIX = `hoard-test-workers-${randomBytes(4).toString('hex')}`;
/** Longest wait for something a process does (a loaded 2-core machine included). */
const WAIT_MS = 30_000;

interface Proc {
  child: ChildProcess;
  /** Its first JSON document on stdout. */
  json: Json;
  stderr: () => string;
}

/** Starts `hoard ARGS --json` and resolves once it has printed its JSON document. */
function start(args: string[], env: Record<string, string>): Promise<Proc> {
  const { child, done } = spawnHoard(['--json', ...args], { env });
  let stdout = '';
  let stderr = '';
  child.stderr!.on('data', (d) => (stderr += d));
  return new Promise((resolve, reject) => {
    child.stdout!.on('data', (d) => {
      stdout += d;
      try {
        resolve({ child, json: JSON.parse(stdout), stderr: () => stderr });
      } catch {}
    });
    void done.then(({ code }) => reject(new Error(`hoard ${args.join(' ')} exited ${code}: ${stderr}`)));
  });
}

function stop(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve();
  return new Promise((resolve) => {
    child.once('exit', () => resolve());
    child.kill('SIGTERM');
  });
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

const lines = async (file: string) =>
  (await readFile(file, 'utf8').catch(() => '')).split('\n').filter(Boolean);

let dir: string;
let home: string;
let env: Record<string, string>;
let server: Proc;
let workers: Proc[] = [];
let secret: string;

async function call(method: string, path: string, body?: unknown): Promise<{ status: number; body: Json }> {
  const r = await fetch(`${server.json.url}${path}`, {
    method,
    headers: {
      authorization: `Bearer ${secret}`,
      ...(body ? { 'content-type': 'application/json' } : {}),
    },
    ...(body ? { body: JSON.stringify(body) } : {}),
  });
  return { status: r.status, body: (await r.json()) as Json };
}

const getLog = async (id: string) => (await call('GET', `/v1/ops/operation_logs/${id}`)).body.operationLog;

async function ended(id: string): Promise<Json> {
  return until(`operation ${id} to end`, async () => {
    const log = await getLog(id);
    return ['queued', 'running'].includes(log.status) ? undefined : log;
  });
}

async function protect(planId: string): Promise<string> {
  const accepted = await call('POST', '/v1/ops/providers/local/checkpoints', { planId });
  assert.equal(accepted.status, 202, JSON.stringify(accepted.body));
  assert.equal(accepted.body.operationLog.status, 'queued');
  return accepted.body.operationLog.id;
}

async function createPlan(name: string, resources: unknown[], parameters: unknown): Promise<Json> {
  const r = await call('POST', '/v1/ops/plans', { name, resources, parameters });
  assert.equal(r.status, 201, JSON.stringify(r.body));
  return r.body.plan;
}

/** The pid in a log's owner (`host:pid`). */
const pidOf = (log: Json) => Number(String(log.owner).split(':').pop());

describe('without HOARD_QUEUE_URL', () => {
  it('serve --no-runner and worker are a usage error naming it', async () => {
    const noQueue = {
      HOARD_HOME: join(await mkdtemp(join(tmpdir(), 'hoard-no-queue-')), 'home'),
      HOARD_QUEUE_URL: '',
    };
    oneLine(
      await hoard(['serve', '--no-runner', '--port', '0'], noQueue),
      2,
      /--no-runner .*set HOARD_QUEUE_URL/,
    );
    oneLine(await hoard(['worker'], noQueue), 2, /hoard worker .*set HOARD_QUEUE_URL=redis:/);
  });
});

describe('hoard serve --no-runner with two hoard worker processes', { skip: NO_REDIS }, () => {
  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'hoard-workers-'));
    home = join(dir, 'home');
    env = {
      HOARD_HOME: home,
      HOARD_QUEUE_URL: REDIS,
      HOARD_QUEUE_PREFIX: PREFIX,
      HOARD_SCHEDULER_TICK_MS: '200',
      // Stale after 8 s; a killed worker's job is delivered again after 5 s (a shorter lock is
      // not renewed in time on a loaded machine); its checkpoint's lease is free for
      // recovery after 3 s.
      HOARD_HEARTBEAT_MS: '2000',
      HOARD_WORKER_LOCK_MS: '5000',
      HOARD_LEASE_TTL_MS: '3000',
    };
    const made = await hoard(['tokens', 'create', '--project', 'ops', '--admin', '--json'], env);
    assert.equal(made.code, 0, made.stderr);
    secret = made.json.secret;
    [server, ...workers] = await Promise.all([
      start(['serve', '--no-runner', '--port', '0'], env),
      start(['worker', '--concurrency', '2'], env),
      start(['worker', '--concurrency', '2'], env),
    ]);
    assert.equal(server.json.operations, 'queued');
  });

  after(async () => {
    await Promise.all([server, ...workers].filter(Boolean).map((p) => stop(p.child)));
    const redis = await connectQueue({ url: REDIS, prefix: PREFIX });
    for (let cursor = '0'; ; ) {
      const [next, keys] = await redis.scan(cursor, 'MATCH', `${PREFIX}:*`, 'COUNT', 1000);
      if (keys.length) await redis.del(...keys);
      cursor = next;
      if (cursor === '0') break;
    }
    redis.disconnect();
  });

  it('run each of 50 operations exactly once, on both workers, which the registry lists', async () => {
    const journal = join(dir, 'fifty.log');
    const plan = await createPlan('fifty', [{ type: 'exec.task', id: 'app' }], {
      'exec.task#app': { protect: { main: `echo "$HOARD_CHECKPOINT_ID" >> ${journal}` } },
    });
    const ids = await Promise.all(Array.from({ length: 50 }, () => protect(plan.id)));
    const logs = await Promise.all(ids.map(ended));
    for (const log of logs) assert.equal(log.status, 'succeeded', JSON.stringify(log));
    const ran = await lines(journal);
    assert.equal(ran.length, 50, 'each main hook ran once');
    assert.deepEqual(new Set(ran), new Set(logs.map((l) => l.checkpointId)));
    const pids = new Set(logs.map(pidOf));
    assert.deepEqual(
      pids,
      new Set(workers.map((w) => w.child.pid)),
      'both workers ran some, the server none',
    );

    // The same job added again is the same job; a second delivery of a log under another job
    // id finds it ended and runs nothing.
    const first = ids[0]!;
    const queue = new Queue(OPERATIONS_QUEUE, { connection: { url: REDIS }, prefix: PREFIX });
    try {
      await queue.add('operation', { logId: first }, { jobId: first });
      await queue.add('operation', { logId: first }, { jobId: `${first}.again` });
      await until('the second delivery to be done', async () =>
        (await queue.getJobState(`${first}.again`)) === 'completed' ? true : undefined,
      );
      assert.equal((await queue.getJobState(first)) as string, 'completed');
    } finally {
      await queue.close();
    }
    assert.equal((await lines(journal)).length, 50, 'nothing ran again');

    const redis = await connectQueue({ url: REDIS, prefix: PREFIX });
    try {
      const members = await listMembers(redis, PREFIX);
      assert.deepEqual(
        members.map((m) => [m.kind, m.host, m.concurrency]),
        [
          ['worker', hostname(), 2],
          ['worker', hostname(), 2],
        ],
      );
      assert.ok(members.every((m) => m.plugins.includes('exec.task') && m.version));
    } finally {
      redis.disconnect();
    }
  });

  it('run scheduled operations the server fires', async () => {
    const journal = join(dir, 'scheduled.log');
    const plan = await createPlan('every-second', [{ type: 'exec.task', id: 'app' }], {
      'exec.task#app': { protect: { main: `echo "$HOARD_CHECKPOINT_ID" >> ${journal}` } },
    });
    const trigger = await call('POST', '/v1/ops/triggers', {
      name: 'second',
      type: 'time',
      properties: { pattern: '* * * * * *' },
    });
    assert.equal(trigger.status, 201, JSON.stringify(trigger.body));
    const scheduled = await call('POST', '/v1/ops/scheduled_operations', {
      name: 'each second',
      operationType: 'protect',
      triggerId: trigger.body.trigger.id,
      operationDefinition: { planId: plan.id },
    });
    assert.equal(scheduled.status, 201, JSON.stringify(scheduled.body));
    const id = scheduled.body.scheduledOperation.id;
    const runs = await until('two scheduled runs to succeed', async () => {
      const page = await call('GET', `/v1/ops/operation_logs?scheduledOperationId=${id}&status=succeeded`);
      return page.body.operationLogs.length >= 2 ? (page.body.operationLogs as Json[]) : undefined;
    });
    const off = await call('PATCH', `/v1/ops/scheduled_operations/${id}`, { enabled: false });
    assert.equal(off.status, 200, JSON.stringify(off.body));
    const workerPids = new Set(workers.map((w) => w.child.pid));
    for (const run of runs) assert.ok(workerPids.has(pidOf(run)), `run by a worker: ${run.owner}`);
    const ran = await lines(journal);
    for (const run of runs) assert.ok(ran.includes(run.checkpointId));
  });

  it("show a worker's progress in the API's event stream; run restores, verifications and deletes too", async () => {
    const data = join(dir, 'data');
    await mkdir(join(data, 'sub'), { recursive: true });
    await writeFile(join(data, 'a.txt'), 'alpha\n');
    await writeFile(join(data, 'sub', 'b.bin'), Buffer.alloc(100_000, 7));
    // The directory is read after its parent's prepareBegin, which waits for the test to
    // follow the events first.
    const go = join(dir, 'go');
    const plan = await createPlan(
      'files',
      [
        { type: 'exec.task', id: 'gate', children: ['files'] },
        { type: 'fs.directory', id: 'files', path: data },
      ],
      { 'exec.task#gate': { protect: { prepareBegin: `while [ ! -e ${go} ]; do sleep 0.05; done` } } },
    );
    const id = await protect(plan.id);
    const stream = await fetch(
      `${server.json.url}/v1/ops/operation_logs/${id}/events?access_token=${secret}`,
      {
        signal: AbortSignal.timeout(WAIT_MS),
      },
    );
    const events = stream.text();
    await writeFile(go, '');
    const text = await events;
    assert.match(
      text,
      /event: progress\ndata: \{"resource":"fs.directory#files","hook":"main","fraction":1\b/,
      text,
    );
    assert.match(
      text,
      /event: task\ndata: \{"resource":"fs.directory#files","hook":"main","status":"succeeded"/,
    );
    const protected_ = await ended(id);
    assert.equal(protected_.status, 'succeeded', JSON.stringify(protected_));
    const checkpointId = protected_.checkpointId;
    const start = async (path: string, body: object) => {
      const r = await call('POST', `/v1/ops/${path}`, { providerId: 'local', checkpointId, ...body });
      assert.equal(r.status, 202, JSON.stringify(r.body));
      return ended(r.body.operationLog.id);
    };
    const target = join(dir, 'restored');
    const restored = await start('restores', { target });
    assert.equal(restored.status, 'succeeded', JSON.stringify(restored));
    assert.equal(await readFile(join(target, 'a.txt'), 'utf8'), 'alpha\n');
    assert.deepEqual(await readFile(join(target, 'sub', 'b.bin')), Buffer.alloc(100_000, 7));
    // The request's own parameters travel in the log: without overwrite, a second restore
    // over it is refused by the worker.
    const again = await start('restores', { target });
    assert.equal(again.status, 'failed', JSON.stringify(again));
    const verified = await start('verifications', {});
    assert.equal(verified.status, 'succeeded', JSON.stringify(verified));
    const deleted = await call('DELETE', `/v1/ops/providers/local/checkpoints/${checkpointId}`);
    assert.equal(deleted.status, 202, JSON.stringify(deleted.body));
    const gone = await ended(deleted.body.operationLog.id);
    assert.equal(gone.status, 'succeeded', JSON.stringify(gone));
    const workerPids = new Set(workers.map((w) => w.child.pid));
    for (const log of [restored, again, verified, gone]) assert.ok(workerPids.has(pidOf(log)), log.owner);
    const shown = await call('GET', `/v1/ops/providers/local/checkpoints/${checkpointId}`);
    assert.equal(shown.status, 404, JSON.stringify(shown.body));
  });

  describe('a slow plan (app frozen while its child sleeps)', () => {
    let journal: string;
    let stopFile: string;
    let plan: Json;
    before(async () => {
      journal = join(dir, 'slow.log');
      stopFile = join(dir, 'no-more-sleep');
      plan = await createPlan(
        'slow',
        [
          { type: 'exec.task', id: 'app', children: ['slow'] },
          { type: 'exec.task', id: 'slow' },
        ],
        {
          'exec.task#app': {
            protect: {
              prepareBegin: `echo "frozen $HOARD_CHECKPOINT_ID" >> ${journal}`,
              prepareFinish: `echo "thawed $HOARD_CHECKPOINT_ID" >> ${journal}`,
            },
          },
          'exec.task#slow': {
            protect: {
              prepareBegin: `echo "started $HOARD_CHECKPOINT_ID" >> ${journal}; [ -e ${stopFile} ] || sleep 20`,
            },
          },
        },
      );
    });
    const journalOf = async (checkpointId: string) =>
      (await lines(journal)).filter((l) => l.endsWith(checkpointId)).map((l) => l.split(' ')[0]);
    async function startSlow(): Promise<Json> {
      const id = await protect(plan.id);
      return until('the slow hook to start on a worker', async () => {
        const log = await getLog(id);
        return log.checkpointId && (await journalOf(log.checkpointId)).includes('started') ? log : undefined;
      });
    }

    it('a cancel through the API reaches the worker: the hook is aborted, the teardown runs, events reach the API', async () => {
      const log = await startSlow();
      const stream = await fetch(
        `${server.json.url}/v1/ops/operation_logs/${log.id}/events?access_token=${secret}`,
        { signal: AbortSignal.timeout(WAIT_MS) },
      );
      const events = stream.text();
      const started = Date.now();
      const cancel = await call('POST', `/v1/ops/operation_logs/${log.id}/cancel`);
      assert.equal(cancel.status, 202, JSON.stringify(cancel.body));
      const text = await events;
      assert.ok(Date.now() - started < 15_000, 'stopped well before the 20 s sleep ended');
      const end = /event: end\ndata: (.*)\n/.exec(text);
      assert.ok(end, text);
      const final = JSON.parse(end[1]!);
      assert.equal(final.status, 'cancelled', text);
      assert.equal(final.error.code, 'OPERATION_CANCELLED');
      // The worker's task events reached the API: the thaw after the cancel among them.
      assert.match(
        text,
        /event: task\ndata: \{"resource":"exec.task#app","hook":"prepareFinish","status":"succeeded"/,
      );
      assert.deepEqual(await journalOf(log.checkpointId), ['frozen', 'started', 'thawed']);
      const shown = await call('GET', `/v1/ops/providers/local/checkpoints/${log.checkpointId}`);
      assert.equal(shown.body.checkpoint.status, 'error');
    });

    it('a worker killed mid-operation: the log is failed as abandoned, never run again, and the checkpoint recovered', async () => {
      const log = await startSlow();
      const victim = workers.find((w) => w.child.pid === pidOf(log));
      assert.ok(victim, `run by a worker: ${log.owner}`);
      const stream = await fetch(
        `${server.json.url}/v1/ops/operation_logs/${log.id}/events?access_token=${secret}`,
        { signal: AbortSignal.timeout(WAIT_MS) },
      );
      const events = stream.text();
      victim.child.kill('SIGKILL');
      await writeFile(stopFile, '');
      const text = await events;
      const end = /event: end\ndata: (.*)\n/.exec(text);
      assert.ok(end, text);
      const final = JSON.parse(end[1]!);
      assert.equal(final.status, 'failed', text);
      assert.equal(final.error.code, 'OPERATION_ABANDONED');

      // BullMQ delivers the dead worker's job again (lock 5 s): the other worker finds the log
      // ended and runs nothing.
      const queue = new Queue(OPERATIONS_QUEUE, { connection: { url: REDIS }, prefix: PREFIX });
      try {
        await until('the job to be delivered again and finish', async () =>
          (await queue.getJobState(log.id)) === 'completed' ? true : undefined,
        );
      } finally {
        await queue.close();
      }
      assert.deepEqual(await journalOf(log.checkpointId), ['frozen', 'started'], 'nothing ran twice');

      // The next protect (on the surviving worker) recovers the dead checkpoint: its owed thaw runs.
      const next = await ended(await protect(plan.id));
      assert.equal(next.status, 'succeeded', JSON.stringify(next));
      assert.notEqual(pidOf(next), victim.child.pid);
      assert.deepEqual(await journalOf(log.checkpointId), ['frozen', 'started', 'thawed']);
      const dead = await call('GET', `/v1/ops/providers/local/checkpoints/${log.checkpointId}`);
      assert.equal(dead.body.checkpoint.status, 'error');
      assert.equal((await getLog(log.id)).status, 'failed', 'still failed after the next protect');
      for (const p of [server, ...workers.filter((w) => w !== victim)])
        assert.doesNotMatch(p.stderr(), /Error/, 'no faults logged');
    });
  });
});

describe('hoard operations cancel of an operation no worker has taken', { skip: NO_REDIS }, () => {
  const prefix = `hoard-test-cancel-queued-${randomBytes(4).toString('hex')}`;
  let queuedEnv: Record<string, string>;
  let api: Proc;
  let token: string;

  before(async () => {
    queuedEnv = {
      HOARD_HOME: join(await mkdtemp(join(tmpdir(), 'hoard-cancel-queued-')), 'home'),
      HOARD_QUEUE_URL: REDIS,
      HOARD_QUEUE_PREFIX: prefix,
      HOARD_SCHEDULER_TICK_MS: '0',
    };
    token = (await hoard(['tokens', 'create', '--project', 'ops', '--admin', '--json'], queuedEnv)).json
      .secret;
    api = await start(['serve', '--no-runner', '--port', '0'], queuedEnv);
  });

  after(async () => {
    if (api) await stop(api.child);
    const redis = await connectQueue({ url: REDIS, prefix });
    const keys = await redis.keys(`${prefix}:*`);
    if (keys.length) await redis.del(...keys);
    redis.disconnect();
  });

  it('ends it cancelled at once, removes its job and ends the API event stream', async () => {
    const request = async (method: string, path: string, body?: unknown) => {
      const r = await fetch(`${api.json.url}${path}`, {
        method,
        headers: {
          authorization: `Bearer ${token}`,
          ...(body ? { 'content-type': 'application/json' } : {}),
        },
        ...(body ? { body: JSON.stringify(body) } : {}),
      });
      return (await r.json()) as Json;
    };
    const { plan } = await request('POST', '/v1/ops/plans', {
      name: 'waits',
      resources: [{ type: 'exec.task', id: 'never' }],
      parameters: { 'exec.task': { protect: { main: 'true' } } },
    });
    const { operationLog } = await request('POST', '/v1/ops/providers/local/checkpoints', {
      planId: plan.id,
    });
    assert.equal(operationLog.status, 'queued');
    const queue = new Queue(OPERATIONS_QUEUE, { connection: { url: REDIS }, prefix });
    try {
      assert.equal(await queue.getJobState(operationLog.id), 'waiting');
      const stream = await fetch(
        `${api.json.url}/v1/ops/operation_logs/${operationLog.id}/events?access_token=${token}`,
        { signal: AbortSignal.timeout(WAIT_MS) },
      );
      const events = stream.text();
      const r = await hoard(['operations', 'cancel', operationLog.id, '--json'], queuedEnv);
      assert.equal(r.code, 0, r.stderr);
      assert.equal(r.json.operationLog.status, 'cancelled');
      assert.equal(r.json.operationLog.error.code, 'OPERATION_CANCELLED');
      assert.equal(
        (await request('GET', `/v1/ops/operation_logs/${operationLog.id}`)).operationLog.status,
        'cancelled',
      );
      assert.equal(await queue.getJobState(operationLog.id), 'unknown', 'its job is gone');
      const text = await events;
      const end = /event: end\ndata: (.*)\n/.exec(text);
      assert.ok(end, text);
      assert.equal(JSON.parse(end[1]!).status, 'cancelled');
    } finally {
      await queue.close();
    }
  });
});
