/**
 * Looking inside checkpoints through the API: resources, a resource's entries, diff and a
 * partial restore, each only for the project that owns the checkpoint.
 */
import assert from 'node:assert/strict';
import { mkdir, readdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { assertError, startServer, type TestServer } from './helpers.js';

describe('browsing checkpoints through the API', () => {
  let server: TestServer;
  let alice = '';
  let bob = '';
  let data = '';
  const ids: string[] = [];
  const base = (id: string) => `/v1/acme/providers/local/checkpoints/${id}`;

  before(async () => {
    server = await startServer();
    alice = await server.tokenFor('acme');
    bob = await server.tokenFor('globex');
    data = join(server.dir, 'data');
    await mkdir(join(data, 'sub'), { recursive: true });
    await writeFile(join(data, 'a.txt'), 'alpha');
    await writeFile(join(data, 'sub', 'b.txt'), 'beta');
    const plan = await server.call(alice, 'POST', '/v1/acme/plans', {
      name: 'files',
      resources: [{ type: 'fs.directory', id: 'data', path: data }],
    });
    assert.equal(plan.status, 201, JSON.stringify(plan.body));
    for (const round of [1, 2]) {
      if (round === 2) await writeFile(join(data, 'c.txt'), 'gamma');
      const accepted = await server.call(alice, 'POST', '/v1/acme/providers/local/checkpoints', {
        planId: plan.body.plan.id,
      });
      const log = await server.waitFor(alice, 'acme', accepted.body.operationLog.id);
      assert.equal(log.status, 'succeeded');
      ids.push(log.checkpointId);
    }
  });
  after(() => server.close());

  it("lists a checkpoint's resources and a resource's entries (# sent as %23)", async () => {
    const resources = await server.call(alice, 'GET', `${base(ids[0]!)}/resources`);
    assert.equal(resources.status, 200, JSON.stringify(resources.body));
    assert.equal(resources.body.resources[0].resource, 'fs.directory#data');
    assert.equal(resources.body.resources[0].browse, 'entries');
    const root = await server.call(alice, 'GET', `${base(ids[0]!)}/resources/fs.directory%23data`);
    assert.equal(root.status, 200, JSON.stringify(root.body));
    assert.deepEqual(
      root.body.entries.map((e: { path: string }) => e.path),
      ['a.txt', 'sub'],
    );
    const deep = await server.call(alice, 'GET', `${base(ids[0]!)}/resources/data?path=sub&recursive=true`);
    assert.deepEqual(
      deep.body.entries.map((e: { path: string; size: number }) => [e.path, e.size]),
      [['sub/b.txt', 4]],
    );
    assertError(
      await server.call(alice, 'GET', `${base(ids[0]!)}/resources/data?path=nope`),
      404,
      'PATH_NOT_FOUND',
      /no "nope"/,
    );
    assertError(
      await server.call(alice, 'GET', `${base(ids[0]!)}/resources/fs.directory%23other`),
      404,
      'RESOURCE_NOT_FOUND',
    );
  });

  it('diffs two checkpoints of the project', async () => {
    const r = await server.call(alice, 'GET', `${base(ids[1]!)}/diff?from=${ids[0]}`);
    assert.equal(r.status, 200, JSON.stringify(r.body));
    assert.deepEqual(r.body.resources[0].added, ['c.txt']);
    assert.deepEqual(r.body.stats, { added: 1, removed: 0, modified: 0 });
  });

  it('restores only the included paths, and refuses a missing one before the 202', async () => {
    const target = join(server.dir, 'part');
    const body = (include: string[]) => ({
      providerId: 'local',
      checkpointId: ids[0],
      parameters: { 'fs.directory#data': { target, include } },
    });
    assertError(
      await server.call(alice, 'POST', '/v1/acme/restores', body(['gone'])),
      404,
      'PATH_NOT_FOUND',
      /"gone"/,
    );
    const accepted = await server.call(alice, 'POST', '/v1/acme/restores', body(['sub']));
    assert.equal(accepted.status, 202, JSON.stringify(accepted.body));
    const log = await server.waitFor(alice, 'acme', accepted.body.operationLog.id);
    assert.equal(log.status, 'succeeded', JSON.stringify(log.error));
    assert.deepEqual((await readdir(target, { recursive: true })).sort(), ['sub', 'sub/b.txt']);
  });

  it('restores only the resources named in `resources`, and refuses one the checkpoint lacks', async () => {
    const other = join(server.dir, 'other');
    await mkdir(other, { recursive: true });
    await writeFile(join(other, 'o.txt'), 'other');
    const plan = await server.call(alice, 'POST', '/v1/acme/plans', {
      name: 'two-trees',
      resources: [
        { type: 'fs.directory', id: 'data', path: data },
        { type: 'fs.directory', id: 'other', path: other },
      ],
    });
    const protect = await server.call(alice, 'POST', '/v1/acme/providers/local/checkpoints', {
      planId: plan.body.plan.id,
    });
    const made = await server.waitFor(alice, 'acme', protect.body.operationLog.id);
    assert.equal(made.status, 'succeeded');
    const target = join(server.dir, 'only-other');
    const body = (resources: unknown) => ({
      providerId: 'local',
      checkpointId: made.checkpointId,
      target,
      resources,
    });
    assertError(
      await server.call(alice, 'POST', '/v1/acme/restores', body(['nope'])),
      404,
      'RESOURCE_NOT_FOUND',
      /"nope"/,
    );
    assertError(
      await server.call(alice, 'POST', '/v1/acme/restores', body([])),
      400,
      'REQUEST_INVALID',
      /resources/,
    );
    // Without `resources` the one `target` fits no single resource: two take one.
    assertError(
      await server.call(alice, 'POST', '/v1/acme/restores', { ...body(undefined), resources: undefined }),
      400,
      'USAGE',
    );
    const accepted = await server.call(alice, 'POST', '/v1/acme/restores', body(['fs.directory#other']));
    assert.equal(accepted.status, 202, JSON.stringify(accepted.body));
    const log = await server.waitFor(alice, 'acme', accepted.body.operationLog.id);
    assert.equal(log.status, 'succeeded', JSON.stringify(log.error));
    assert.deepEqual(await readdir(target), ['o.txt']);
    const tasks = (log.result as { operation: { tasks: { resource: string }[] } }).operation.tasks;
    assert.deepEqual([...new Set(tasks.map((t) => t.resource))], ['fs.directory#other']);
  });

  it("is 404 to another project's token", async () => {
    const other = `/v1/globex/providers/local/checkpoints/${ids[0]}`;
    for (const path of [`${other}/resources`, `${other}/resources/data`, `${other}/diff?from=${ids[1]}`])
      assertError(await server.call(bob, 'GET', path), 404, 'NOT_FOUND');
  });

  it('is in the OpenAPI document', async () => {
    const doc = await server.call(undefined, 'GET', '/openapi.json');
    const paths = Object.keys(doc.body.paths);
    for (const p of ['/resources', '/resources/{resource}', '/diff'])
      assert.ok(
        paths.includes(`/v1/{project}/providers/{providerId}/checkpoints/{checkpointId}${p}`),
        `${p} in ${paths.join(' ')}`,
      );
  });
});
