/**
 * The REST API end to end over real HTTP: tokens and projects, bad input as 4xx with the
 * common error body, protect → restore → verify → delete through 202s and operation logs,
 * server-sent events, a failing operation that leaves the server serving, OpenAPI, metrics.
 */
import assert from 'node:assert/strict';
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { assertError, type Json, startServer, type TestServer } from './helpers.js';

let server: TestServer;
let alice: string; // project acme
let bob: string; // project globex
let admin: string;
let data: string;

before(async () => {
  server = await startServer();
  alice = await server.tokenFor('acme');
  bob = await server.tokenFor('globex');
  admin = await server.tokenFor('ops', true);
  data = join(server.dir, 'data');
  await mkdir(join(data, 'sub'), { recursive: true });
  await writeFile(join(data, 'a.txt'), 'alpha\n');
  await writeFile(join(data, 'sub', 'b.bin'), Buffer.alloc(300_000, 7));
});
after(() => server.close());

const planBody = (name: string, extra: object = {}) => ({
  name,
  resources: [{ type: 'fs.directory', id: 'data', path: data }],
  ...extra,
});

describe('authentication and projects', () => {
  it('refuses a missing, malformed, unknown or revoked token with 401', async () => {
    assertError(await server.call(undefined, 'GET', '/v1/acme/plans'), 401, 'UNAUTHENTICATED', /Bearer/);
    assertError(
      await server.call(undefined, 'GET', '/v1/acme/plans', undefined, { authorization: 'Basic abc' }),
      401,
      'UNAUTHENTICATED',
    );
    assertError(
      await server.call('hrd_nope', 'GET', '/v1/acme/plans'),
      401,
      'UNAUTHENTICATED',
      /unknown or revoked/,
    );
    const { token, secret } = await server.catalog.createToken({ project: 'acme' });
    assert.equal((await server.call(secret, 'GET', '/v1/acme/plans')).status, 200);
    await server.catalog.revokeToken(null, token.id);
    assertError(await server.call(secret, 'GET', '/v1/acme/plans'), 401, 'UNAUTHENTICATED');
  });

  it('cannot be bypassed by spelling the path differently', async () => {
    for (const path of ['/%761/acme/plans', '/v1/acme/%70lans', '/v1//acme/plans', '/v1/acme/plans/']) {
      const r = await server.call(undefined, 'GET', path);
      assert.ok([401, 404].includes(r.status), `${path}: ${r.status}`);
      assert.ok(!r.body?.plans, `${path} listed plans without a token`);
    }
  });

  it('takes a token in the query string only on the events stream', async () => {
    assertError(
      await server.call(undefined, 'GET', `/v1/acme/providers?access_token=${alice}&x=/events`),
      401,
      'UNAUTHENTICATED',
    );
    assertError(
      await server.call(undefined, 'GET', `/v1/acme/plans?access_token=${alice}`),
      401,
      'UNAUTHENTICATED',
    );
  });

  it("forbids another project's path; an admin may use Json and list projects", async () => {
    assertError(await server.call(alice, 'GET', '/v1/globex/plans'), 403, 'FORBIDDEN', /acme/);
    assertError(await server.call(alice, 'GET', '/v1/projects'), 403, 'FORBIDDEN');
    assert.equal((await server.call(admin, 'GET', '/v1/globex/plans')).status, 200);
    const projects = await server.call(admin, 'GET', '/v1/projects');
    assert.equal(projects.status, 200);
    for (const p of ['acme', 'globex', 'ops']) assert.ok(projects.body.projects.includes(p), p);
  });
});

describe('bad input is a 4xx with a clear message, never a 500', () => {
  it('malformed JSON, wrong types, unknown and missing fields', async () => {
    assertError(await server.call(alice, 'POST', '/v1/acme/plans', '{"name": '), 400, 'REQUEST_INVALID');
    let e = assertError(
      await server.call(alice, 'POST', '/v1/acme/plans', { name: 5, resources: [] }),
      400,
      'REQUEST_INVALID',
      /body\/name must be string/,
    );
    assert.ok(e.details.errors.length >= 2, 'every problem is listed');
    e = assertError(
      await server.call(alice, 'POST', '/v1/acme/plans', { ...planBody('x'), colour: 'red' }),
      400,
      'REQUEST_INVALID',
      /unknown field "colour"/,
    );
    assertError(
      await server.call(alice, 'POST', '/v1/acme/plans', { resources: [{}] }),
      400,
      'REQUEST_INVALID',
      /missing the field "name"/,
    );
    assertError(
      await server.call(alice, 'GET', '/v1/acme/plans?limit=0'),
      400,
      'REQUEST_INVALID',
      /querystring\/limit/,
    );
  });

  it('unknown types and parameters are refused like a plan file', async () => {
    assertError(
      await server.call(alice, 'POST', '/v1/acme/plans', {
        name: 'bad',
        resources: [{ type: 'nosuch.type', id: 'x' }],
      }),
      400,
      'PLUGIN_UNKNOWN',
      /nosuch\.type/,
    );
    assertError(
      await server.call(
        alice,
        'POST',
        '/v1/acme/plans',
        planBody('bad2', { parameters: { 'fs.directory': { exclude: 7 } } }),
      ),
      400,
      'PARAMS_INVALID',
      /exclude/,
    );
    assertError(
      await server.call(alice, 'POST', '/v1/acme/plans', planBody('bad3', { providerId: 'nowhere' })),
      404,
      'PROVIDER_UNKNOWN',
      /nowhere/,
    );
  });

  it('oversized bodies, wrong media types, unknown ids and routes', async () => {
    const big = JSON.stringify(planBody('big', { description: 'x'.repeat(2 * 1024 * 1024) }));
    assertError(await server.call(alice, 'POST', '/v1/acme/plans', big), 413, 'BODY_TOO_LARGE');
    assertError(
      await server.call(alice, 'POST', '/v1/acme/plans', 'name=x', { 'content-type': 'text/plain' }),
      415,
      'UNSUPPORTED_MEDIA_TYPE',
    );
    assertError(
      await server.call(alice, 'GET', '/v1/acme/plans/01890000-0000-7000-8000-000000000000'),
      404,
      'NOT_FOUND',
    );
    assertError(
      await server.call(alice, 'GET', '/v1/acme/plans/not-a-uuid'),
      400,
      'REQUEST_INVALID',
      /params\/id/,
    );
    assertError(await server.call(alice, 'GET', '/v1/acme/nothing-here'), 404, 'NOT_FOUND', /no route/);
    // A path served under other methods: 405, naming them (also in Allow).
    const wrongMethod = await server.call(alice, 'PUT', '/v1/acme/plans');
    const error = assertError(
      wrongMethod,
      405,
      'METHOD_NOT_ALLOWED',
      /PUT is not allowed on \/v1\/acme\/plans; it takes/,
    );
    assert.deepEqual([...error.details.allowed].sort(), ['GET', 'POST']);
    assertError(
      await server.call(alice, 'DELETE', '/v1/acme/plans/01890000-0000-7000-8000-000000000000/nothing'),
      404,
      'NOT_FOUND',
    );
    assertError(
      await server.call(alice, 'GET', '/v1/acme/providers/local/checkpoints/20260101T000000000Z-00000000'),
      404,
      'NOT_FOUND',
    );
  });

  it('a checkpoint id with a newline or other control character in the path or body is a 400 naming it', async () => {
    const id = '20260101T000000000Z-00000000';
    for (const bad of [`${id}%0AX`, `${id}%0A`, `${id.slice(0, 10)}%1B%5B31m`]) {
      assertError(
        await server.call(alice, 'GET', `/v1/acme/providers/local/checkpoints/${bad}`),
        400,
        'REQUEST_INVALID',
        /^params\/checkpointId must match pattern/,
      );
      assertError(
        await server.call(alice, 'DELETE', `/v1/acme/providers/local/checkpoints/${bad}`),
        400,
        'REQUEST_INVALID',
        /^params\/checkpointId/,
      );
    }
    for (const what of ['restores', 'verifications', 'copies']) {
      assertError(
        await server.call(alice, 'POST', `/v1/acme/${what}`, {
          providerId: 'local',
          checkpointId: `${id}\n`,
          ...(what === 'copies' ? { toProviderId: 'local' } : {}),
        }),
        400,
        'REQUEST_INVALID',
        /^body\/checkpointId must match pattern/,
      );
    }
  });

  it('a damaged checkpoint record is 422 CHECKPOINT_CORRUPT to its project, 404 to another', async () => {
    const token = await server.tokenFor('damaged');
    const plan = await server.call(token, 'POST', '/v1/damaged/plans', planBody('files'));
    const protect = await server.call(token, 'POST', '/v1/damaged/providers/local/checkpoints', {
      planId: plan.body.plan.id,
    });
    const { checkpointId } = await server.waitFor(token, 'damaged', protect.body.operationLog.id);
    const meta = join(server.home, 'banks', 'local', 'checkpoints', checkpointId, 'meta.json');
    await writeFile(meta, (await readFile(meta, 'utf8')).slice(0, 40));
    const damaged = new RegExp(`checkpoints/${checkpointId}/meta\\.json is damaged: not valid JSON`);
    const path = `/v1/damaged/providers/local/checkpoints/${checkpointId}`;
    const e = assertError(await server.call(token, 'GET', path), 422, 'CHECKPOINT_CORRUPT', damaged);
    assert.equal(e.details.key, `checkpoints/${checkpointId}/meta.json`);
    assertError(
      await server.call(token, 'POST', '/v1/damaged/verifications', { providerId: 'local', checkpointId }),
      422,
      'CHECKPOINT_CORRUPT',
    );
    assertError(
      await server.call(bob, 'GET', `/v1/globex/providers/local/checkpoints/${checkpointId}`),
      404,
      'NOT_FOUND',
    );
  });

  it('a body nested deeper than 64 levels is a 400, not a stack overflow', async () => {
    const deep = (n: number) => `${'['.repeat(n)}${']'.repeat(n)}`;
    const body = (n: number) =>
      `{"name": "deep", "resources": [{"type": "fs.directory", "id": "d", "path": ${JSON.stringify(data)}, "x": ${deep(n)}}]}`;
    assertError(
      await server.call(alice, 'POST', '/v1/acme/plans', body(100_000)),
      400,
      'REQUEST_INVALID',
      /nested more than 64 levels/,
    );
    assertError(await server.call(alice, 'POST', '/v1/acme/plans', body(61)), 400, 'PLAN_INVALID', /\bx\b/);
    assert.equal((await server.call(undefined, 'GET', '/healthz')).status, 200);
  });

  it('a duplicate plan name is a 409', async () => {
    assert.equal((await server.call(alice, 'POST', '/v1/acme/plans', planBody('dup'))).status, 201);
    assertError(
      await server.call(alice, 'POST', '/v1/acme/plans', planBody('dup')),
      409,
      'CATALOG_CONFLICT',
      /dup/,
    );
    // Another project may use the name.
    assert.equal((await server.call(bob, 'POST', '/v1/globex/plans', planBody('dup'))).status, 201);
  });

  it('cron patterns that never fire, or are not cron, are refused', async () => {
    const trigger = (properties: object) =>
      server.call(alice, 'POST', '/v1/acme/triggers', { name: 't', type: 'time', properties });
    assertError(await trigger({ pattern: '0 0 30 2 *' }), 400, 'TRIGGER_INVALID', /never fires/);
    assertError(await trigger({ pattern: 'every day' }), 400, 'TRIGGER_INVALID', /not a cron pattern/);
    assertError(await trigger({ pattern: '0 0 3 * * * 2030' }), 400, 'TRIGGER_INVALID', /it has 7 fields/);
    assertError(
      await trigger({ pattern: '0 * * * *', end: '2001-01-01T00:00:00Z' }),
      400,
      'TRIGGER_INVALID',
      /ended|never fire/,
    );
    assertError(
      await trigger({ pattern: '0 * * * *', timezone: 'Mars/Olympus' }),
      400,
      'TRIGGER_INVALID',
      /time zone/,
    );
    assertError(
      await trigger({ pattern: '0 * * * *', window: 1e30 }),
      400,
      'REQUEST_INVALID',
      /body\/properties\/window must be <= 604800/,
    );
    const ok = await trigger({ pattern: '0 3 * * *', timezone: 'Europe/Paris' });
    assert.equal(ok.status, 201, JSON.stringify(ok.body));
    assert.equal(ok.body.nextFires.length, 5);
    assert.ok(
      ok.body.nextFires.every((t: string) => /T0[12]:00:00/.test(t)),
      'three in Paris is one or two UTC',
    );
  });
});

describe('protect, restore, verify and delete through the API', () => {
  it('runs them as 202s with operation logs, live events, and isolation between projects', async () => {
    const created = await server.call(alice, 'POST', '/v1/acme/plans', planBody('files'));
    assert.equal(created.status, 201, JSON.stringify(created.body));
    const plan = created.body.plan;

    const accepted = await server.call(alice, 'POST', '/v1/acme/providers/local/checkpoints', {
      planId: plan.id,
    });
    assert.equal(accepted.status, 202, JSON.stringify(accepted.body));
    assert.equal(
      accepted.headers.get('location'),
      `/v1/acme/operation_logs/${accepted.body.operationLog.id}`,
    );

    // Follow it live: events arrive in order and end with the final log.
    const events = await readEvents(
      `${server.url}/v1/acme/operation_logs/${accepted.body.operationLog.id}/events?access_token=${alice}`,
    );
    assert.equal(events[0]!.event, 'status');
    const end = events.at(-1)!;
    assert.equal(end.event, 'end');
    assert.equal(end.data.status, 'succeeded', JSON.stringify(end.data.error));

    const protectLog = await server.waitFor(alice, 'acme', accepted.body.operationLog.id);
    assert.equal(protectLog.status, 'succeeded');
    const checkpointId = protectLog.checkpointId;
    assert.match(checkpointId, /^\d{8}T\d{9}Z-[0-9a-f]{8}$/);
    assert.equal(protectLog.result.checkpoint.status, 'available');
    assert.equal(protectLog.result.checkpoint.plan, plan.id, 'the bank files it under the plan id');
    assert.ok(protectLog.result.operation.tasks.length >= 4);

    const list = await server.call(alice, 'GET', '/v1/acme/providers/local/checkpoints');
    assert.equal(list.status, 200);
    const listed = list.body.checkpoints.find((c: { id: string }) => c.id === checkpointId);
    assert.equal(listed.status, 'available');
    assert.equal(listed.planName, 'files');
    // SPEC §13: the list and the checkpoint carry the protect's statistics.
    assert.ok(listed.stats.files >= 1 && listed.stats.bytes > 0, JSON.stringify(listed.stats));

    const shown = await server.call(alice, 'GET', `/v1/acme/providers/local/checkpoints/${checkpointId}`);
    assert.equal(shown.body.checkpoint.id, checkpointId);
    assert.deepEqual(shown.body.checkpoint.stats, listed.stats);
    const resource = shown.body.checkpoint.resources[0];
    assert.deepEqual(Object.keys(resource.stats).sort(), [
      'bytes',
      'durationMs',
      'files',
      'newBytes',
      'storedBytes',
    ]);
    assert.equal(resource.stats.bytes, listed.stats.bytes);
    assert.ok(resource.status, 'fields the response schema does not list still come through');
    assert.equal(shown.body.operation.kind, 'protect');
    assert.ok(shown.body.operation.tasks.length >= 4);
    const openapi = await server.call(alice, 'GET', '/openapi.json');
    const showSchema =
      openapi.body.paths['/v1/{project}/providers/{providerId}/checkpoints/{checkpointId}'].get.responses[
        '200'
      ].content['application/json'].schema;
    assert.deepEqual(showSchema.properties.checkpoint.properties.stats.required, [
      'files',
      'bytes',
      'newBytes',
      'storedBytes',
      'durationMs',
    ]);

    // Another project sees none of it.
    assertError(await server.call(bob, 'GET', `/v1/globex/plans/${plan.id}`), 404, 'NOT_FOUND');
    assertError(
      await server.call(bob, 'GET', `/v1/globex/providers/local/checkpoints/${checkpointId}`),
      404,
      'NOT_FOUND',
    );
    const theirs = await server.call(bob, 'GET', '/v1/globex/providers/local/checkpoints');
    assert.ok(!theirs.body.checkpoints.some((c: { id: string }) => c.id === checkpointId));
    assertError(
      await server.call(bob, 'POST', '/v1/globex/restores', {
        providerId: 'local',
        checkpointId,
        target: '/tmp/x',
      }),
      404,
      'NOT_FOUND',
    );
    assertError(
      await server.call(bob, 'POST', '/v1/globex/providers/local/checkpoints', { planId: plan.id }),
      404,
      'NOT_FOUND',
    );
    assertError(
      await server.call(bob, 'GET', `/v1/globex/operation_logs/${protectLog.id}`),
      404,
      'NOT_FOUND',
    );
    const bobLogs = await server.call(bob, 'GET', '/v1/globex/operation_logs');
    assert.ok(!bobLogs.body.operationLogs.some((l: { id: string }) => l.id === protectLog.id));

    // Restore and compare bytes.
    const target = join(server.dir, 'restored');
    const restore = await server.call(alice, 'POST', '/v1/acme/restores', {
      providerId: 'local',
      checkpointId,
      target,
    });
    assert.equal(restore.status, 202, JSON.stringify(restore.body));
    const restored = await server.waitFor(alice, 'acme', restore.body.operationLog.id);
    assert.equal(restored.status, 'succeeded', JSON.stringify(restored.error));
    assert.equal(await readFile(join(target, 'a.txt'), 'utf8'), 'alpha\n');
    assert.deepEqual(await readFile(join(target, 'sub', 'b.bin')), Buffer.alloc(300_000, 7));
    const restores = await server.call(alice, 'GET', '/v1/acme/restores');
    assert.ok(restores.body.restores.some((r: { id: string }) => r.id === restored.id));

    // Restoring over what is there is refused (the operation fails; the server goes on).
    const again = await server.call(alice, 'POST', '/v1/acme/restores', {
      providerId: 'local',
      checkpointId,
      target,
    });
    const refused = await server.waitFor(alice, 'acme', again.body.operationLog.id);
    assert.equal(refused.status, 'failed');
    assert.doesNotMatch(JSON.stringify(refused), /"stack"/, 'no stacks in operation logs');

    const verify = await server.call(alice, 'POST', '/v1/acme/verifications', {
      providerId: 'local',
      checkpointId,
    });
    assert.equal((await server.waitFor(alice, 'acme', verify.body.operationLog.id)).status, 'succeeded');

    const graph = await server.call(alice, 'GET', `/v1/acme/operation_logs/${protectLog.id}/graph`);
    assert.equal(graph.status, 200);
    assert.deepEqual(
      graph.body.tasks.map((t: { id: string }) => t.id).sort(),
      ['prepareBegin', 'prepareFinish', 'main', 'complete'].map((h) => `fs.directory#data:${h}`).sort(),
    );
    assert.ok(graph.body.edges.some((e: { kind: string }) => e.kind === 'red'));
    // A restore's graph too (its target is not part of the checkpoint's parameters).
    const restoreGraph = await server.call(alice, 'GET', `/v1/acme/operation_logs/${restored.id}/graph`);
    assert.equal(restoreGraph.status, 200, JSON.stringify(restoreGraph.body));
    assert.deepEqual(
      restoreGraph.body.tasks.map((t: { id: string }) => t.id).sort(),
      graph.body.tasks.map((t: { id: string }) => t.id).sort(),
    );
    assert.ok(restoreGraph.body.edges.length > 0);

    const deleting = await server.call(
      alice,
      'DELETE',
      `/v1/acme/providers/local/checkpoints/${checkpointId}`,
    );
    assert.equal(deleting.status, 202);
    const deleted = await server.waitFor(alice, 'acme', deleting.body.operationLog.id);
    assert.equal(deleted.status, 'succeeded');
    assertError(
      await server.call(alice, 'GET', `/v1/acme/providers/local/checkpoints/${checkpointId}`),
      404,
      'NOT_FOUND',
    );
  });

  it('a failing operation fails its log and the server keeps serving', async () => {
    // exec.task runs shell commands: an admin makes the plan, the project runs it.
    const created = await server.call(admin, 'POST', '/v1/acme/plans', {
      name: 'broken',
      resources: [{ type: 'exec.task', id: 'app' }],
      parameters: { 'exec.task#app': { protect: { main: 'echo broken >&2; exit 3' } } },
    });
    assert.equal(created.status, 201, JSON.stringify(created.body));
    const accepted = await server.call(alice, 'POST', '/v1/acme/providers/local/checkpoints', {
      planId: created.body.plan.id,
    });
    const log = await server.waitFor(alice, 'acme', accepted.body.operationLog.id);
    assert.equal(log.status, 'failed');
    assert.equal(log.error.code, 'HOOK_FAILED', JSON.stringify(log.error));
    assert.match(log.error.message, /exec\.task#app main: .*exit(ed with)? (code )?3/, log.error.message);
    assert.match(log.error.message, /broken/, 'the end of stderr is kept');
    assert.equal(log.result.checkpoint.status, 'error');
    const health = await server.call(undefined, 'GET', '/healthz');
    assert.deepEqual(health.body.status, 'ok');
    const failed = await server.call(alice, 'GET', '/v1/acme/operation_logs?status=failed&kind=protect');
    assert.ok(failed.body.operationLogs.some((l: { id: string }) => l.id === log.id));
  });
});

describe('restores, verifications and copies are checked before they are accepted', () => {
  it('wrong parameters, a relative or ambiguous target, a checkpoint in error, a copy onto itself: 4xx, no log', async () => {
    const token = await server.tokenFor('checked');
    const plan = await server.call(token, 'POST', '/v1/checked/plans', planBody('files'));
    const protect = await server.call(token, 'POST', '/v1/checked/providers/local/checkpoints', {
      planId: plan.body.plan.id,
    });
    const { checkpointId } = await server.waitFor(token, 'checked', protect.body.operationLog.id);
    const post = (what: string, body: object) =>
      server.call(token, 'POST', `/v1/checked/${what}`, { providerId: 'local', checkpointId, ...body });

    assertError(
      await post('restores', { parameters: { 'fs.directory': { target: 5 } } }),
      400,
      'PARAMS_INVALID',
      /restore parameters: parameters for fs\.directory#data: target must be a string/,
    );
    assertError(
      await post('restores', { parameters: { 'fs.directory#nope': { target: '/tmp/x' } } }),
      400,
      'PARAMS_INVALID',
      /names no type or type#id of the checkpoint/,
    );
    assertError(await post('restores', {}), 400, 'PARAMS_INVALID', /target is required/);
    assertError(await post('restores', { target: 'restored-here' }), 400, 'PARAMS_INVALID', /relative path/);
    assertError(
      await post('verifications', { parameters: { 'fs.directory': { deep: 'yes' } } }),
      400,
      'PARAMS_INVALID',
    );
    assertError(await post('copies', { toProviderId: 'local' }), 400, 'REQUEST_INVALID', /another one/);

    // An admin-made plan with two resources that take a target: one `target` is ambiguous.
    const two = await server.call(admin, 'POST', '/v1/checked/plans', {
      name: 'two',
      resources: [
        { type: 'fs.directory', id: 'a', path: data },
        { type: 'fs.directory', id: 'b', path: join(data, 'sub') },
      ],
    });
    const both = await server.call(token, 'POST', '/v1/checked/providers/local/checkpoints', {
      planId: two.body.plan.id,
    });
    const bothId = (await server.waitFor(token, 'checked', both.body.operationLog.id)).checkpointId;
    assertError(
      await server.call(token, 'POST', '/v1/checked/restores', {
        providerId: 'local',
        checkpointId: bothId,
        target: '/tmp/one-for-two',
      }),
      400,
      'USAGE',
      /exactly one resource that takes a target; checkpoint \S+ has 2/,
    );

    // A failed protect's checkpoint is `error`: nothing to restore or verify.
    const broken = await server.call(token, 'POST', '/v1/checked/plans', {
      name: 'broken',
      resources: [{ type: 'fs.directory', id: 'gone', path: join(server.dir, 'does-not-exist') }],
    });
    assert.equal(broken.status, 201, JSON.stringify(broken.body));
    const failed = await server.call(token, 'POST', '/v1/checked/providers/local/checkpoints', {
      planId: broken.body.plan.id,
    });
    const log = await server.waitFor(token, 'checked', failed.body.operationLog.id);
    assert.equal(log.status, 'failed');
    assertError(
      await post('restores', { checkpointId: log.checkpointId, target: '/tmp/from-error' }),
      409,
      'CHECKPOINT_STATE',
      /only an available checkpoint can be restored/,
    );
    assertError(await post('verifications', { checkpointId: log.checkpointId }), 409, 'CHECKPOINT_STATE');

    const logs = await server.call(token, 'GET', '/v1/checked/operation_logs?limit=1000');
    assert.deepEqual(
      [...new Set(logs.body.operationLogs.map((l: Json) => l.kind))].sort(),
      ['protect'],
      'none of the refused requests left an operation log',
    );
  });
});

describe('listing checkpoints', () => {
  it('pages newest first across the project’s plans, filters by plan and status, and refuses a bad marker', async () => {
    const token = await server.tokenFor('pager');
    const plans: Json[] = [];
    for (const name of ['one', 'two']) {
      const r = await server.call(token, 'POST', '/v1/pager/plans', {
        name,
        resources: [{ type: 'noop', id: 'x' }],
      });
      assert.equal(r.status, 201, JSON.stringify(r.body));
      plans.push(r.body.plan);
    }
    const made: string[] = [];
    for (const plan of [plans[0], plans[1], plans[0], plans[1], plans[0]]) {
      const accepted = await server.call(token, 'POST', '/v1/pager/providers/local/checkpoints', {
        planId: plan.id,
      });
      made.push((await server.waitFor(token, 'pager', accepted.body.operationLog.id)).checkpointId);
    }
    const newestFirst = [...made].reverse();
    const all = await server.call(token, 'GET', '/v1/pager/providers/local/checkpoints');
    assert.deepEqual(
      all.body.checkpoints.map((c: Json) => c.id),
      newestFirst,
    );
    assert.equal(all.body.next, null);

    // Pages of two: 2, 2, 1, each once, in order.
    const paged: string[] = [];
    let pages = 0;
    for (let marker = ''; ; ) {
      const r = await server.call(
        token,
        'GET',
        `/v1/pager/providers/local/checkpoints?limit=2${marker ? `&marker=${marker}` : ''}`,
      );
      assert.equal(r.status, 200, JSON.stringify(r.body));
      paged.push(...r.body.checkpoints.map((c: Json) => c.id));
      pages++;
      if (!r.body.next) break;
      marker = r.body.next;
    }
    assert.deepEqual(paged, newestFirst);
    assert.equal(pages, 3);

    const ofOne = await server.call(
      token,
      'GET',
      `/v1/pager/providers/local/checkpoints?planId=${plans[0].id}&limit=2`,
    );
    assert.deepEqual(
      ofOne.body.checkpoints.map((c: Json) => c.id),
      [made[4], made[2]],
    );
    assert.equal(ofOne.body.next, made[2]);
    assert.ok(ofOne.body.checkpoints.every((c: Json) => c.planName === 'one' && c.plan === plans[0].id));
    const none = await server.call(token, 'GET', '/v1/pager/providers/local/checkpoints?status=error');
    assert.deepEqual(none.body.checkpoints, []);

    for (const marker of ['zzz', '../../etc', made[0]!.toLowerCase()])
      assertError(
        await server.call(
          token,
          'GET',
          `/v1/pager/providers/local/checkpoints?marker=${encodeURIComponent(marker)}`,
        ),
        400,
        'REQUEST_INVALID',
        /querystring\/marker/,
      );
  });
});

describe("what a project token may ask of the server's host", () => {
  it('only an admin token may create exec.task plans or pass exec.task parameters', async () => {
    const execPlan = {
      name: 'shell',
      resources: [{ type: 'exec.task', id: 'app' }],
      parameters: { 'exec.task#app': { protect: { main: 'id' } } },
    };
    assertError(
      await server.call(alice, 'POST', '/v1/acme/plans', execPlan),
      403,
      'FORBIDDEN',
      /admin token/,
    );
    assertError(
      await server.call(
        alice,
        'POST',
        '/v1/acme/plans',
        planBody('sneaky', { parameters: { 'exec.task': {} } }),
      ),
      403,
      'FORBIDDEN',
    );
    assertError(
      await server.call(alice, 'POST', '/v1/acme/restores', {
        providerId: 'local',
        checkpointId: '20260101T000000000Z-00000000',
        parameters: { 'exec.task#app': { restore: { main: 'rm -rf /' } } },
      }),
      403,
      'FORBIDDEN',
    );
    assert.equal((await server.call(admin, 'POST', '/v1/acme/plans', execPlan)).status, 201);
  });

  it('with path roots, plan paths and restore targets must lie inside them', async () => {
    const out = join(server.dir, 'out');
    const confined = await startServer({ pathRoots: [join(server.dir, 'data'), out] });
    try {
      const token = await confined.tokenFor('acme');
      assertError(
        await confined.call(token, 'POST', '/v1/acme/plans', {
          name: 'etc',
          resources: [{ type: 'fs.directory', id: 'etc', path: '/etc' }],
        }),
        403,
        'FORBIDDEN',
        /outside the server's path roots/,
      );
      assertError(
        await confined.call(token, 'POST', '/v1/acme/plans', {
          name: 'escape',
          resources: [{ type: 'fs.directory', id: 'd', path: join(server.dir, 'data', '..', 'home') }],
        }),
        403,
        'FORBIDDEN',
      );
      const ok = await confined.call(token, 'POST', '/v1/acme/plans', planBody('inside'));
      assert.equal(ok.status, 201, JSON.stringify(ok.body));
      const protect = await confined.call(token, 'POST', '/v1/acme/providers/local/checkpoints', {
        planId: ok.body.plan.id,
      });
      const { checkpointId } = await confined.waitFor(token, 'acme', protect.body.operationLog.id);
      const restore = (body: object) =>
        confined.call(token, 'POST', '/v1/acme/restores', { providerId: 'local', checkpointId, ...body });
      assertError(
        await restore({ target: '/tmp/elsewhere' }),
        403,
        'FORBIDDEN',
        /restore target of fs\.directory#data/,
      );
      assertError(
        await restore({ parameters: { 'fs.directory#data': { target: join(out, '..', 'escaped') } } }),
        403,
        'FORBIDDEN',
      );
      assertError(
        await restore({ parameters: { 'fs.directory': { target: '/etc/hoard' } } }),
        403,
        'FORBIDDEN',
        /outside the server's path roots/,
      );
      // Relative to the server's working directory is never what a client means.
      assertError(await restore({ target: '../../tmp/rel' }), 400, 'PARAMS_INVALID', /relative path/);
      const inside = await restore({ target: join(out, 'r1') });
      assert.equal(inside.status, 202, JSON.stringify(inside.body));
      assert.equal((await confined.waitFor(token, 'acme', inside.body.operationLog.id)).status, 'succeeded');
      assert.equal(await readFile(join(out, 'r1', 'a.txt'), 'utf8'), 'alpha\n');
    } finally {
      await confined.close();
    }
  });
});

describe('copies and protectables', () => {
  it("copies a checkpoint to another provider, still the project's there; a second copy there is a 409 before any log", async () => {
    const two = await startServer({
      providerFiles: {
        'offsite.conf': [
          '[provider]',
          'name = offsite',
          'id = 6f1b7a52-2f7e-4c1e-9a57-0d5f3c0b9e11',
          'description = second bank',
          'bank = fs',
          'plugin = fs.directory',
          '[fs]',
          'path = $DIR/offsite-bank',
        ].join('\n'),
      },
    });
    try {
      const token = await two.tokenFor('acme');
      const other = await two.tokenFor('globex');
      const providers = await two.call(token, 'GET', '/v1/acme/providers');
      assert.deepEqual(providers.body.providers.map((p: Json) => p.name).sort(), ['local', 'offsite']);
      const plan = await two.call(token, 'POST', '/v1/acme/plans', planBody('copied'));
      const p = await two.call(token, 'POST', '/v1/acme/providers/local/checkpoints', {
        planId: plan.body.plan.id,
      });
      const protectLog = await two.waitFor(token, 'acme', p.body.operationLog.id);
      const checkpointId = protectLog.checkpointId;
      const c = await two.call(token, 'POST', '/v1/acme/copies', {
        providerId: 'local',
        checkpointId,
        toProviderId: 'offsite',
      });
      assert.equal(c.status, 202, JSON.stringify(c.body));
      const copied = await two.waitFor(token, 'acme', c.body.operationLog.id);
      assert.equal(copied.status, 'succeeded', JSON.stringify(copied.error));
      const there = await two.call(token, 'GET', `/v1/acme/providers/offsite/checkpoints/${checkpointId}`);
      assert.equal(there.body.checkpoint.status, 'available');
      assertError(
        await two.call(other, 'GET', `/v1/globex/providers/offsite/checkpoints/${checkpointId}`),
        404,
        'NOT_FOUND',
      );
      const copies = await two.call(token, 'GET', '/v1/acme/copies');
      assert.equal(copies.body.copies[0].id, copied.id);
      // Copying it there again is refused before the 202, and leaves no operation log.
      assertError(
        await two.call(token, 'POST', '/v1/acme/copies', {
          providerId: 'local',
          checkpointId,
          toProviderId: 'offsite',
        }),
        409,
        'CHECKPOINT_STATE',
        /provider offsite already has checkpoint/,
      );
      assert.equal((await two.call(token, 'GET', '/v1/acme/copies')).body.copies.length, 1);
      assertError(
        await two.call(token, 'POST', '/v1/acme/copies', {
          providerId: 'local',
          checkpointId,
          toProviderId: 'nowhere',
        }),
        404,
        'PROVIDER_UNKNOWN',
      );
    } finally {
      await two.close();
    }
  });

  it('lists protectable types and their instances where a type can list', async () => {
    const types = await server.call(alice, 'GET', '/v1/acme/protectables');
    for (const t of ['exec.task', 'fs.directory', 'postgres.server', 'sqlite.database'])
      assert.ok(types.body.protectables.includes(t), t);
    const fs = await server.call(alice, 'GET', '/v1/acme/protectables/fs.directory/instances');
    assert.equal(fs.status, 200);
    assert.equal(typeof fs.body.listable, 'boolean');
    assertError(await server.call(alice, 'GET', '/v1/acme/protectables/nosuch/instances'), 404, 'NOT_FOUND');
  });
});

describe('protectables whose plugin misbehaves', () => {
  it('a listing that throws is a 502 naming the type, one that hangs a 504, never a 500', async () => {
    process.env.HOARD_DISCOVERY_TIMEOUT_MS = '300';
    const odd = await startServer({
      providerFiles: {
        'odd.mjs': `export default () => ({
  name: 'test.odd',
  types: [
    { type: 'test.throws', protectable: { listResources: async () => { throw new Error('the inventory API said no'); } } },
    { type: 'test.hangs', protectable: { listResources: () => new Promise(() => {}) } },
    { type: 'test.garbage', protectable: { listResources: async () => 'not a list' } },
  ],
  operation: () => undefined,
});
`,
        'odd.conf': [
          '[provider]',
          'name = odd',
          'id = 6f1b7a52-2f7e-4c1e-9a57-0d5f3c0b9e13',
          'bank = fs',
          'plugin = ./odd.mjs',
          '[fs]',
          'path = $DIR/odd-bank',
        ].join('\n'),
      },
    });
    try {
      const token = await odd.tokenFor('acme');
      const list = (type: string) =>
        odd.call(token, 'GET', `/v1/acme/protectables/${type}/instances?providerId=odd`);
      assertError(
        await list('test.throws'),
        502,
        'HOOK_FAILED',
        /test.throws failed to list its instances: the inventory API said no/,
      );
      assertError(await list('test.hangs'), 504, 'HOOK_TIMEOUT', /did not list its instances within 300 ms/);
      assertError(await list('test.garbage'), 502, 'HOOK_FAILED', /not a list of resources/);
    } finally {
      delete process.env.HOARD_DISCOVERY_TIMEOUT_MS;
      await odd.close();
    }
  });
});

describe('stopping the server', () => {
  it('ends open event streams and lets the running operation finish', { timeout: 20_000 }, async () => {
    const other = await startServer();
    const root = await other.tokenFor('ops', true);
    const plan = await other.call(root, 'POST', '/v1/ops/plans', {
      name: 'slow',
      resources: [{ type: 'exec.task', id: 'app' }],
      parameters: { 'exec.task#app': { protect: { main: 'sleep 1' } } },
    });
    const accepted = await other.call(root, 'POST', '/v1/ops/providers/local/checkpoints', {
      planId: plan.body.plan.id,
    });
    const id = accepted.body.operationLog.id;
    const stream = await fetch(`${other.url}/v1/ops/operation_logs/${id}/events?access_token=${root}`);
    const text = stream.text();
    await other.service.close(10_000);
    const body = await text;
    assert.match(body, /event: status/);
    // Closed by the stop, not by the operation's end (docs/api.md): no `end`, and a retry hint
    // that sends an EventSource back once a server is up.
    assert.match(body, /^retry: 2000\n\n/);
    assert.doesNotMatch(body, /event: end/);
    const log = await other.catalog.getOperationLog('ops', id);
    assert.equal(log?.status, 'succeeded', 'the running protect was allowed to finish');
    await other.catalog.close();
  });
});

describe('OpenAPI and metrics', () => {
  it('/openapi.json describes the routes with their schemas', async () => {
    const r = await server.call(undefined, 'GET', '/openapi.json');
    assert.equal(r.status, 200);
    assert.equal(r.body.openapi, '3.0.3');
    const paths = Object.keys(r.body.paths);
    for (const p of [
      '/v1/{project}/plans',
      '/v1/{project}/providers/{providerId}/checkpoints',
      '/v1/{project}/restores',
      '/v1/{project}/scheduled_operations',
      '/v1/{project}/operation_logs/{id}/events',
    ])
      assert.ok(paths.includes(p), p);
    const post = r.body.paths['/v1/{project}/plans'].post;
    assert.deepEqual(post.requestBody.content['application/json'].schema.required, ['name', 'resources']);
  });

  it('/metrics counts operations by kind and status, durations, bank bytes and bank objects', async () => {
    const r = await fetch(`${server.url}/metrics`);
    const text = await r.text();
    assert.match(r.headers.get('content-type') ?? '', /text\/plain/);
    const types = Object.fromEntries(
      [...text.matchAll(/^# TYPE (hoard_\w+) (\w+)$/gm)].map((m) => [m[1], m[2]]),
    );
    assert.deepEqual(types, {
      hoard_operations: 'gauge',
      hoard_operation_duration_seconds: 'histogram',
      hoard_bank_bytes_written_total: 'counter',
      hoard_bank_bytes_read_total: 'counter',
      hoard_bank_objects: 'gauge',
    });
    // Counted before the first scrape answers, not on a later one.
    assert.match(text, /^hoard_bank_objects\{provider="local"\} [1-9]\d*$/m);
    assert.match(text, /^hoard_bank_bytes_read_total\{provider="local"\} [1-9]\d*$/m);
    assert.match(text, /hoard_operations\{kind="protect",status="succeeded"\} [1-9]/);
    assert.match(text, /hoard_operations\{kind="protect",status="failed"\} [1-9]/);
    assert.match(text, /hoard_operation_duration_seconds_count\{kind="restore",status="succeeded"\} 1/);
    assert.match(text, /hoard_bank_bytes_written_total\{provider="local"\} [1-9]/);
  });
});

/** Reads a server-sent event stream to its end. */
async function readEvents(url: string): Promise<{ event: string; data: Json }[]> {
  const response = await fetch(url, { signal: AbortSignal.timeout(30_000) });
  assert.equal(response.status, 200);
  assert.match(response.headers.get('content-type') ?? '', /text\/event-stream/);
  const text = await response.text();
  return text
    .split('\n\n')
    .filter((block) => block.startsWith('event:'))
    .map((block) => {
      const [eventLine, dataLine] = block.split('\n');
      return { event: eventLine!.slice(7), data: JSON.parse(dataLine!.slice(6)) };
    });
}
