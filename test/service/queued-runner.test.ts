/**
 * The API of `hoard serve --no-runner` with no worker running (in-process, the real Redis
 * under a prefix of this file's own): operations are recorded `queued` with one job each,
 * kept alive while they wait, failed as abandoned when their job is lost, and cancelled at
 * once while no worker has them.
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { mkdtemp } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { setTimeout as delay } from 'node:timers/promises';
import { SqliteCatalog } from '../../src/catalog/index.js';
import { loadProviders } from '../../src/providers/provider.js';
import { connectQueue } from '../../src/queue/connection.js';
import { OperationQueue } from '../../src/queue/operations.js';
import { createService, type Service } from '../../src/service/server.js';
import { NO_REDIS, REDIS_URL as REDIS } from '../queue/redis-server.js';
import type { Json } from './helpers.js';

const PREFIX = `hoard-test-queued-${randomBytes(4).toString('hex')}`;
const HEARTBEAT_MS = 200;

let catalog: SqliteCatalog;
let queue: OperationQueue;
let service: Service;
let url: string;
let secret: string;
let planId: string;

async function call(method: string, path: string, body?: unknown): Promise<{ status: number; body: Json }> {
  const r = await fetch(`${url}${path}`, {
    method,
    headers: {
      authorization: `Bearer ${secret}`,
      ...(body ? { 'content-type': 'application/json' } : {}),
    },
    ...(body ? { body: JSON.stringify(body) } : {}),
  });
  return { status: r.status, body: (await r.json()) as Json };
}

async function protect(): Promise<string> {
  const accepted = await call('POST', '/v1/p/providers/local/checkpoints', { planId });
  assert.equal(accepted.status, 202, JSON.stringify(accepted.body));
  return accepted.body.operationLog.id;
}

describe('hoard serve --no-runner with no worker', { skip: NO_REDIS }, () => {
  before(async () => {
    const home = join(await mkdtemp(join(tmpdir(), 'hoard-queued-')), 'home');
    catalog = new SqliteCatalog(join(home, 'catalog.sqlite'));
    await catalog.migrate();
    queue = await OperationQueue.open({ url: REDIS, prefix: PREFIX });
    const { providers } = await loadProviders(home);
    service = await createService({ catalog, providers, tickMs: 0, heartbeatMs: HEARTBEAT_MS, queue });
    url = await service.app.listen({ port: 0, host: '127.0.0.1' });
    secret = (await catalog.createToken({ project: 'p' })).secret;
    const plan = await call('POST', '/v1/p/plans', { name: 'n', resources: [{ type: 'noop', id: 'x' }] });
    assert.equal(plan.status, 201, JSON.stringify(plan.body));
    planId = plan.body.plan.id;
  });

  after(async () => {
    await service.close(0);
    await queue.close();
    await catalog.close();
    const redis = await connectQueue({ url: REDIS, prefix: PREFIX });
    const keys = await redis.keys(`${PREFIX}:*`);
    if (keys.length) await redis.del(...keys);
    redis.disconnect();
  });

  it('records an operation queued with one job, and keeps it alive while the job waits', async () => {
    const id = await protect();
    assert.deepEqual(await queue.waiting(), [id]);
    await queue.add(id); // the same id again: the same job
    assert.deepEqual(await queue.waiting(), [id]);
    // Four heartbeats and more: a waiting job's log is not mistaken for a dead server's.
    await delay(HEARTBEAT_MS * 8);
    const log = (await call('GET', `/v1/p/operation_logs/${id}`)).body.operationLog;
    assert.equal(log.status, 'queued', JSON.stringify(log));
    assert.equal(log.startedAt, null, 'nothing ran it');

    // Cancelled while it waits: it ends at once, and its job is gone.
    const stream = await fetch(`${url}/v1/p/operation_logs/${id}/events?access_token=${secret}`, {
      signal: AbortSignal.timeout(10_000),
    });
    const events = stream.text();
    const cancel = await call('POST', `/v1/p/operation_logs/${id}/cancel`);
    assert.equal(cancel.status, 202, JSON.stringify(cancel.body));
    const end = /event: end\ndata: (.*)\n/.exec(await events);
    assert.ok(end);
    const final = JSON.parse(end[1]!);
    assert.equal(final.status, 'cancelled');
    assert.match(final.error.message, /before a worker started it/);
    assert.deepEqual(await queue.waiting(), []);
  });

  it('fails an operation whose job was lost as abandoned', async () => {
    const id = await protect();
    assert.equal(await queue.remove(id), true);
    const deadline = Date.now() + 10_000;
    let log: Json;
    do {
      await delay(HEARTBEAT_MS);
      log = (await call('GET', `/v1/p/operation_logs/${id}`)).body.operationLog;
    } while (log.status === 'queued' && Date.now() < deadline);
    assert.equal(log.status, 'failed', JSON.stringify(log));
    assert.equal(log.error.code, 'OPERATION_ABANDONED');
  });
});
