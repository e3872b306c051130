/**
 * One view of a bank's checkpoints (issue 12 item 7): what `hoard protect PLAN-FILE` made is
 * seen through the API by the project whose plan on that provider has the plan file's name,
 * and by admins; never by another project. What the service made shows its plan's name in
 * the CLI.
 */
import assert from 'node:assert/strict';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { hoard } from '../cli/helpers.js';
import { assertError, type Json, startServer, type TestServer } from './helpers.js';

let server: TestServer;
let alice: string; // project acme
let bob: string; // project globex
let admin: string;
const made: Record<string, string> = {};
let acmeNightly: Json;

/** `hoard protect` of a plan file named `name` (one noop resource) into `provider`; its checkpoint id. */
async function cliProtect(name: string, provider = 'local'): Promise<string> {
  const file = join(server.dir, `${name}.json`);
  await writeFile(file, JSON.stringify({ name, provider, resources: [{ type: 'noop', id: 'x' }] }));
  const r = await hoard(['--home', server.home, 'protect', file, '--json']);
  assert.equal(r.code, 0, r.stderr);
  return JSON.parse(r.stdout).checkpoint.id;
}

async function createPlan(token: string, project: string, name: string, providerId = 'local') {
  const r = await server.call(token, 'POST', `/v1/${project}/plans`, {
    name,
    providerId,
    resources: [{ type: 'noop', id: 'x' }],
  });
  assert.equal(r.status, 201, JSON.stringify(r.body));
  return r.body.plan;
}

const list = (token: string, project: string, query = '') =>
  server.call(token, 'GET', `/v1/${project}/providers/local/checkpoints${query}`);
const ids = (r: { body: Json }) => r.body.checkpoints.map((c: Json) => c.id);

before(async () => {
  server = await startServer({
    providerFiles: {
      'other.conf': [
        '[provider]',
        'name = other',
        'id = 0c1f0c55-7d3e-4a55-9a0b-5bd1d1a3c0aa',
        'bank = fs',
        'plugin = noop',
        '[fs]',
        'path = $DIR/other-bank',
      ].join('\n'),
    },
  });
  alice = await server.tokenFor('acme');
  bob = await server.tokenFor('globex');
  admin = await server.tokenFor('ops', true);
  acmeNightly = await createPlan(alice, 'acme', 'nightly');
  await createPlan(bob, 'globex', 'reports');
  // A plan of this name on another provider does not claim the local bank's checkpoints.
  await createPlan(alice, 'acme', 'elsewhere', 'other');

  made.cliNightly = await cliProtect('nightly');
  made.cliReports = await cliProtect('reports');
  made.cliOrphan = await cliProtect('orphan');
  made.cliElsewhere = await cliProtect('elsewhere');
  const accepted = await server.call(alice, 'POST', '/v1/acme/providers/local/checkpoints', {
    planId: acmeNightly.id,
  });
  assert.equal(accepted.status, 202, JSON.stringify(accepted.body));
  made.serviceNightly = (await server.waitFor(alice, 'acme', accepted.body.operationLog.id)).checkpointId;
});
after(() => server.close());

describe('checkpoints made by the CLI, seen through the API', () => {
  it("a project sees the CLI's checkpoints of its plan's name on that provider beside its own, newest first", async () => {
    const r = await list(alice, 'acme');
    assert.equal(r.status, 200, JSON.stringify(r.body));
    assert.deepEqual(ids(r), [made.serviceNightly, made.cliNightly]);
    const [service, cli] = r.body.checkpoints;
    assert.deepEqual(
      { plan: service.plan, planId: service.planId, planName: service.planName, project: service.project },
      { plan: acmeNightly.id, planId: acmeNightly.id, planName: 'nightly', project: 'acme' },
    );
    assert.equal(service.origin, 'service');
    assert.deepEqual(
      {
        plan: cli.plan,
        planId: cli.planId,
        planName: cli.planName,
        project: cli.project,
        origin: cli.origin,
      },
      { plan: 'nightly', planId: acmeNightly.id, planName: 'nightly', project: 'acme', origin: 'cli' },
    );
    assert.equal(cli.status, 'available');
    assert.equal(typeof cli.stats?.durationMs, 'number', 'stats from the record');
    // planId filters to the plan, both origins.
    const byPlan = await list(alice, 'acme', `?planId=${acmeNightly.id}`);
    assert.deepEqual(ids(byPlan), [made.serviceNightly, made.cliNightly]);

    const shown = await server.call(alice, 'GET', `/v1/acme/providers/local/checkpoints/${made.cliNightly}`);
    assert.equal(shown.status, 200, JSON.stringify(shown.body));
    assert.equal(shown.body.checkpoint.planName, 'nightly');
    assert.equal(shown.body.checkpoint.project, 'acme');
    assert.equal(shown.body.checkpoint.origin, 'cli');
    assert.equal(shown.body.operation.kind, 'protect', "the CLI's protect log, from the bank");
    // It can be verified through the API like the project's own.
    const verify = await server.call(alice, 'POST', '/v1/acme/verifications', {
      providerId: 'local',
      checkpointId: made.cliNightly,
    });
    assert.equal(verify.status, 202, JSON.stringify(verify.body));
    const log = await server.waitFor(alice, 'acme', verify.body.operationLog.id);
    assert.equal(log.status, 'succeeded', JSON.stringify(log));
    assert.equal(log.planId, acmeNightly.id);
  });

  it("a project token never sees another project's CLI checkpoint, nor one no project owns", async () => {
    const bobs = await list(bob, 'globex');
    assert.deepEqual(ids(bobs), [made.cliReports]);
    assert.equal(bobs.body.checkpoints[0].project, 'globex');
    for (const id of [made.cliReports, made.cliOrphan, made.cliElsewhere]) {
      assert.ok(!ids(await list(alice, 'acme')).includes(id));
      assertError(
        await server.call(alice, 'GET', `/v1/acme/providers/local/checkpoints/${id}`),
        404,
        'NOT_FOUND',
      );
      assertError(
        await server.call(alice, 'GET', `/v1/acme/providers/local/checkpoints/${id}/resources`),
        404,
        'NOT_FOUND',
      );
      assertError(
        await server.call(alice, 'POST', '/v1/acme/verifications', { providerId: 'local', checkpointId: id }),
        404,
        'NOT_FOUND',
      );
      assertError(
        await server.call(alice, 'DELETE', `/v1/acme/providers/local/checkpoints/${id}`),
        404,
        'NOT_FOUND',
      );
    }
    // Still there: nothing above deleted it.
    assert.deepEqual(ids(await list(bob, 'globex')), [made.cliReports]);
    assertError(await list(alice, 'acme', '?all=true'), 403, 'FORBIDDEN');
  });

  it('an admin lists every checkpoint of the bank with its owner, and may show one nobody owns', async () => {
    const r = await list(admin, 'ops', '?all=true');
    assert.equal(r.status, 200, JSON.stringify(r.body));
    const byId = new Map(r.body.checkpoints.map((c: Json) => [c.id, c]));
    assert.equal(byId.size, 5);
    const owner = (id: string | undefined) => {
      const c = byId.get(id) as Json;
      return [c.project, c.planName, c.origin];
    };
    assert.deepEqual(owner(made.serviceNightly), ['acme', 'nightly', 'service']);
    assert.deepEqual(owner(made.cliNightly), ['acme', 'nightly', 'cli']);
    assert.deepEqual(owner(made.cliReports), ['globex', 'reports', 'cli']);
    assert.deepEqual(owner(made.cliOrphan), [null, 'orphan', 'cli']);
    assert.deepEqual(owner(made.cliElsewhere), [null, 'elsewhere', 'cli']);
    const orphan = await server.call(admin, 'GET', `/v1/ops/providers/local/checkpoints/${made.cliOrphan}`);
    assert.equal(orphan.status, 200, JSON.stringify(orphan.body));
    assert.equal(orphan.body.checkpoint.planId, null);
    assert.equal(orphan.body.checkpoint.project, null);
  });

  it('a plan name two projects have on one provider gives the CLI checkpoints of that name to neither', async () => {
    const twin = await createPlan(bob, 'globex', 'nightly');
    try {
      assert.deepEqual(ids(await list(alice, 'acme')), [made.serviceNightly]);
      assert.deepEqual(ids(await list(bob, 'globex')), [made.cliReports]);
      assertError(
        await server.call(bob, 'GET', `/v1/globex/providers/local/checkpoints/${made.cliNightly}`),
        404,
        'NOT_FOUND',
      );
      const all = await list(admin, 'ops', '?all=true');
      const cli = all.body.checkpoints.find((c: Json) => c.id === made.cliNightly);
      assert.equal(cli.project, null);
    } finally {
      assert.equal((await server.call(bob, 'DELETE', `/v1/globex/plans/${twin.id}`)).status, 204);
    }
    assert.deepEqual(ids(await list(alice, 'acme')), [made.serviceNightly, made.cliNightly]);
  });
});

describe('checkpoints made by the service, seen by the CLI', () => {
  it("`checkpoints list` and `show` give the plan's name beside its id", async () => {
    const listed = await hoard(['--home', server.home, 'checkpoints', 'list', '--json']);
    assert.equal(listed.code, 0, listed.stderr);
    const service = JSON.parse(listed.stdout).checkpoints.find((c: Json) => c.id === made.serviceNightly);
    assert.equal(service.plan, acmeNightly.id);
    assert.equal(service.planName, 'nightly');
    const cli = JSON.parse(listed.stdout).checkpoints.find((c: Json) => c.id === made.cliReports);
    assert.equal(cli.plan, 'reports');
    assert.equal(cli.planName, undefined, 'a plan file has only its name');

    const human = await hoard(['--home', server.home, 'checkpoints', 'list']);
    const row = human.stdout.split('\n').find((l) => l.startsWith(made.serviceNightly!));
    assert.match(row ?? '', /\bnightly\b/);
    assert.doesNotMatch(row ?? '', new RegExp(acmeNightly.id));

    const shown = await hoard(['--home', server.home, 'checkpoints', 'show', made.serviceNightly!, '--json']);
    assert.equal(shown.code, 0, shown.stderr);
    assert.equal(JSON.parse(shown.stdout).checkpoint.planName, 'nightly');
    const text = await hoard(['--home', server.home, 'checkpoints', 'show', made.serviceNightly!]);
    assert.match(text.stdout, new RegExp(`plan nightly \\[id ${acmeNightly.id}\\]`));
  });
});
