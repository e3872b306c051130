/**
 * The checkpoint list's answers are kept between requests (routes/checkpoints.ts, the plans in
 * ownership.ts, the fs bank's directory listings), and none of that may show what is no longer
 * true: a checkpoint deleted by this server, a checkpoint another process made, a plan renamed
 * here or made by another server on the same catalog are all seen by the very next request.
 */
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { setTimeout as delay } from 'node:timers/promises';
import { SqliteCatalog } from '../../src/catalog/index.js';
import { newCheckpointId } from '../../src/checkpoints/keys.js';
import { CheckpointStore } from '../../src/checkpoints/store.js';
import { loadProviders, localProvider } from '../../src/providers/provider.js';
import { createService, type Service } from '../../src/service/server.js';
import { type Json, startServer, type TestServer } from './helpers.js';

const PROJECT = 'listing';

describe('the checkpoint list kept between requests', { timeout: 120_000 }, () => {
  let server: TestServer;
  let token: string;
  let plan: Json;
  /** A second server on the same home and SQLite catalog file, with its own connection. */
  let other: { service: Service; catalog: SqliteCatalog; url: string };

  const list = async (url: string, query: string) => {
    const r = await fetch(`${url}/v1/${PROJECT}/providers/local/checkpoints?${query}`, {
      headers: { authorization: `Bearer ${token}` },
    });
    const text = await r.text();
    assert.equal(r.status, 200, text);
    assert.match(r.headers.get('content-type') ?? '', /^application\/json/);
    return { text, body: JSON.parse(text) as Json };
  };

  const protect = async (planId: string) => {
    const r = await server.call(token, 'POST', `/v1/${PROJECT}/providers/local/checkpoints`, { planId });
    assert.equal(r.status, 202, JSON.stringify(r.body));
    const done = await server.waitFor(token, PROJECT, r.body.operationLog.id);
    assert.equal(done.status, 'succeeded', JSON.stringify(done.error));
    return done.checkpointId as string;
  };

  before(async () => {
    server = await startServer();
    token = await server.tokenFor(PROJECT);
    const made = await server.call(token, 'POST', `/v1/${PROJECT}/plans`, {
      name: 'kept',
      resources: [{ type: 'noop', id: 'x' }],
    });
    assert.equal(made.status, 201, JSON.stringify(made.body));
    plan = made.body.plan;
    for (let i = 0; i < 3; i++) await protect(plan.id);
    const catalog = new SqliteCatalog(join(server.home, 'catalog.sqlite'));
    const { providers } = await loadProviders(server.home);
    const service = await createService({ catalog, providers, tickMs: 0, owner: 'server B' });
    other = { service, catalog, url: await service.app.listen({ port: 0, host: '127.0.0.1' }) };
    // The newest index directories unchanged for 2 s, so the fs bank keeps their listings too.
    await delay(2100);
  });

  after(async () => {
    await other?.service.close(5_000);
    await other?.catalog.close();
    await server?.close();
  });

  it('the same page twice is the same answer, as the response schema writes it', async () => {
    const first = await list(server.url, `planId=${plan.id}`);
    const second = await list(server.url, `planId=${plan.id}`);
    assert.equal(second.text, first.text);
    assert.equal(first.body.checkpoints.length, 3);
    for (const c of first.body.checkpoints) {
      assert.equal(c.status, 'available');
      assert.equal(c.planId, plan.id);
      assert.equal(c.planName, 'kept');
      assert.equal(c.project, PROJECT);
      assert.ok(c.stats && typeof c.stats.durationMs === 'number', JSON.stringify(c));
    }
    assert.equal(first.body.next, null);
    // A page of 2 of the 3: its next marker, the same the second time.
    const small = await list(server.url, `planId=${plan.id}&limit=2`);
    assert.equal(small.body.next, small.body.checkpoints[1].id);
    assert.equal((await list(server.url, `planId=${plan.id}&limit=2`)).text, small.text);
  });

  it('a checkpoint this server deleted is gone from the next list', async () => {
    const before = await list(server.url, `planId=${plan.id}`);
    const id = before.body.checkpoints[1].id;
    const r = await server.call(token, 'DELETE', `/v1/${PROJECT}/providers/local/checkpoints/${id}`);
    assert.equal(r.status, 202, JSON.stringify(r.body));
    assert.equal((await server.waitFor(token, PROJECT, r.body.operationLog.id)).status, 'succeeded');
    // A deleted checkpoint's keys are gone: it is no longer listed.
    const after = await list(server.url, `planId=${plan.id}`);
    assert.deepEqual(
      after.body.checkpoints.map((c: Json) => c.id),
      before.body.checkpoints.map((c: Json) => c.id).filter((c: string) => c !== id),
    );
  });

  it('a checkpoint another process wrote into the bank is listed at once', async () => {
    await list(server.url, `planId=${plan.id}`);
    // Another process's view of the same bank: its own objects, nothing shared in memory.
    const provider = await localProvider(server.home);
    const id = newCheckpointId(new Date());
    const at = new Date().toISOString();
    const stats = { files: 1, bytes: 10, newBytes: 10, storedBytes: 10, durationMs: 1 };
    await new CheckpointStore(provider.bank).create({
      version: 1,
      id,
      plan: plan.id,
      provider: { id: provider.id, name: provider.name },
      status: 'available',
      createdAt: at,
      updatedAt: at,
      resources: [{ type: 'noop', id: 'x', status: 'available', stats }],
      graph: { resources: [{ type: 'noop', id: 'x', children: [] }] },
      parameters: {},
      operations: [],
      stats,
    });
    const listed = await list(server.url, `planId=${plan.id}`);
    assert.equal(listed.body.checkpoints[0].id, id);
    assert.deepEqual(listed.body.checkpoints[0].stats, stats);
  });

  it('a plan renamed through this server is named so at once', async () => {
    assert.equal((await list(server.url, `planId=${plan.id}`)).body.checkpoints[0].planName, 'kept');
    const r = await server.call(token, 'PUT', `/v1/${PROJECT}/plans/${plan.id}`, {
      name: 'renamed',
      resources: [{ type: 'noop', id: 'x' }],
    });
    assert.equal(r.status, 200, JSON.stringify(r.body));
    const listed = await list(server.url, `planId=${plan.id}`);
    assert.deepEqual(new Set(listed.body.checkpoints.map((c: Json) => c.planName)), new Set(['renamed']));
  });

  it('a plan another server made is found at once: its checkpoints are listed', async () => {
    await list(server.url, `planId=${plan.id}`); // this server's plans read just now
    const made = await fetch(`${other.url}/v1/${PROJECT}/plans`, {
      method: 'POST',
      headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
      body: JSON.stringify({ name: 'from-b', resources: [{ type: 'noop', id: 'y' }] }),
    });
    const text = await made.text();
    assert.equal(made.status, 201, text);
    const fromB = (JSON.parse(text) as Json).plan;
    const id = await protect(fromB.id);
    const listed = await list(server.url, `planId=${fromB.id}`);
    assert.deepEqual(
      listed.body.checkpoints.map((c: Json) => [c.id, c.planName]),
      [[id, 'from-b']],
    );
  });
});
