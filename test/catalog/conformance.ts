/**
 * What every Catalog must do, run against SQLite and PostgreSQL alike. Each test gets a
 * fresh, migrated catalog from `open` and gives it back with `cleanup`.
 */
import assert from 'node:assert/strict';
import { afterEach, beforeEach, describe, it } from 'node:test';
import { setTimeout as delay } from 'node:timers/promises';
import { LATEST_VERSION } from '../../src/catalog/index.js';
import type {
  Catalog,
  ListOptions,
  OperationLogRecord,
  Page,
  PlanRecord,
  ScheduledOperationRecord,
  TriggerRecord,
} from '../../src/catalog/types.js';
import { HoardError } from '../../src/errors.js';

export interface CatalogFixture {
  catalog: Catalog;
  cleanup: () => Promise<void>;
}

/** Rejects with a HoardError of `code` whose message contains each of `words`. */
export async function rejectsWith(
  promise: Promise<unknown>,
  code: string,
  ...words: string[]
): Promise<void> {
  await assert.rejects(promise, (error: unknown) => {
    assert.ok(error instanceof HoardError, `expected a HoardError, got ${String(error)}`);
    assert.equal(error.code, code, error.message);
    for (const word of words) assert.ok(error.message.includes(word), `"${word}" not in: ${error.message}`);
    return true;
  });
}

/** Resolves once the clock has moved past `time` (an ISO string), so later stamps differ. */
export async function clockPast(time: string): Promise<void> {
  while (Date.now() <= Date.parse(time)) await delay(1);
}

/** Every page of `list`, checking each page's size and that `next` is its last id. */
export async function allPages<T extends { id: string }>(
  list: (options: ListOptions) => Promise<Page<T>>,
  limit: number,
): Promise<{ pages: T[][]; items: T[] }> {
  const pages: T[][] = [];
  let marker: string | undefined;
  for (;;) {
    const page = await list(marker === undefined ? { limit } : { limit, marker });
    pages.push(page.items);
    assert.ok(page.items.length <= limit, 'a page holds at most limit items');
    if (page.next === null) break;
    assert.equal(page.items.length, limit, 'only the last page is short');
    assert.equal(page.next, page.items.at(-1)!.id, 'next is the last id of the page');
    marker = page.next;
    assert.ok(pages.length < 100, 'pagination ends');
  }
  return { pages, items: pages.flat() };
}

const ids = (items: readonly { id: string }[]) => items.map((item) => item.id);
const newestFirst = (items: readonly { id: string }[]) => [...ids(items)].sort().reverse();

/** A catalog at schema version 1 with one operation that has claims and one that has none. */
export const V1_OPERATIONS = {
  trigger: '0190a5c2-0000-7000-8000-0000000000aa',
  claimed: '0190a5c2-0000-7000-8000-0000000000a1',
  unclaimed: '0190a5c2-0000-7000-8000-0000000000a2',
  created: '2026-01-01T00:00:00.000Z',
  fires: ['2026-01-01T01:00:00.000Z', '2026-01-01T03:00:00.000Z', '2026-01-01T02:00:00.000Z'],
};
export const V1_INSERTS: [string, unknown[]][] = [
  [
    'INSERT INTO triggers (id, project, name, type, properties, created_at) VALUES ($1, $2, $3, $4, $5, $6)',
    [V1_OPERATIONS.trigger, 'a', 't', 'time', '{"pattern":"0 * * * *"}', V1_OPERATIONS.created],
  ],
  ...[V1_OPERATIONS.claimed, V1_OPERATIONS.unclaimed].map((id, i): [string, unknown[]] => [
    'INSERT INTO scheduled_operations (id, project, name, description, operation_type, trigger_id, definition, enabled, created_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)',
    [
      id,
      'a',
      `op ${i}`,
      null,
      'protect',
      V1_OPERATIONS.trigger,
      '{"planId":"p"}',
      true,
      V1_OPERATIONS.created,
    ],
  ]),
  ...V1_OPERATIONS.fires.map((fire): [string, unknown[]] => [
    'INSERT INTO scheduled_runs (scheduled_operation_id, fire_at, owner, claimed_at) VALUES ($1, $2, $3, $4)',
    [V1_OPERATIONS.claimed, fire, 'h', fire],
  ]),
];

/**
 * After migrating the V1_INSERTS catalog: the claims it had are the last claimed runs, and a
 * claim continues from them (a fire already claimed is not claimed again).
 */
export async function assertMigratedClaims(catalog: Catalog): Promise<void> {
  assert.equal(await catalog.schemaVersion(), LATEST_VERSION);
  const { claimed, unclaimed, created } = V1_OPERATIONS;
  assert.equal(await catalog.lastClaimedRun(claimed), '2026-01-01T03:00:00.000Z');
  assert.equal(await catalog.lastClaimedRun(unclaimed), undefined);
  assert.equal(await catalog.claimFires(claimed, created, '2026-01-01T04:00:00.000Z', 'h'), false);
  assert.equal(
    await catalog.claimFires(claimed, '2026-01-01T03:00:00.000Z', '2026-01-01T04:00:00.000Z', 'h'),
    true,
  );
  assert.equal(await catalog.claimFires(unclaimed, created, '2026-01-01T04:00:00.000Z', 'h'), true);
}

/** A plan document with JSON of every kind, to check it round-trips. */
const RESOURCES = [
  {
    type: 'postgres.database',
    id: 'db/üñíçødé ✓',
    extra: { url: 'postgres://x@h/db', ports: [5432, 0, -1], ratio: 0.1, big: 2 ** 53 - 1, tiny: 5e-324 },
  },
  { type: 'fs.directory', id: '/srv/"quoted" \\ back\nslash', extra: { empty: {}, none: null, list: [] } },
];
const PARAMETERS = {
  'postgres.database': { jobs: 4, compress: true, exclude: ['a', 'b'] },
  nested: { a: [{ b: null }] },
};

export function catalogConformance(name: string, open: () => Promise<CatalogFixture>): void {
  describe(`${name} catalog conformance`, () => {
    let catalog: Catalog;
    let cleanup: () => Promise<void>;

    beforeEach(async () => {
      ({ catalog, cleanup } = await open());
    });
    afterEach(async () => {
      await cleanup();
    });

    const plan = (project: string, planName: string) =>
      catalog.createPlan({ project, name: planName, provider: 'default', resources: [], parameters: {} });
    const trigger = (project: string, triggerName = 'nightly') =>
      catalog.createTrigger({
        project,
        name: triggerName,
        type: 'time',
        properties: { pattern: '0 3 * * *' },
      });
    const operation = (project: string, triggerId: string, operationName = 'nightly protect') =>
      catalog.createScheduledOperation({
        project,
        name: operationName,
        operationType: 'protect',
        triggerId,
        definition: { planId: 'some-plan' },
      });

    describe('schema', () => {
      it('is at the latest version once migrated', async () => {
        assert.equal(await catalog.schemaVersion(), LATEST_VERSION);
      });

      it('migrating again changes nothing and keeps the data', async () => {
        const created = await plan('a', 'kept');
        await catalog.migrate();
        await catalog.migrate();
        assert.equal(await catalog.schemaVersion(), LATEST_VERSION);
        assert.deepEqual(await catalog.getPlan('a', created.id), created);
      });
    });

    describe('tokens', () => {
      it('a new token returns its secret once, and the secret authenticates as that token', async () => {
        const { token, secret } = await catalog.createToken({ project: 'a', name: 'ci' });
        assert.match(secret, /^hrd_[A-Za-z0-9_-]{43}$/);
        assert.equal(token.project, 'a');
        assert.equal(token.admin, false);
        assert.equal(token.name, 'ci');
        assert.equal(new Date(token.createdAt).toISOString(), token.createdAt);
        assert.deepEqual(await catalog.authenticate(secret), token);
        const admin = await catalog.createToken({ project: 'ops', admin: true });
        assert.deepEqual(await catalog.authenticate(admin.secret), {
          ...admin.token,
          admin: true,
          name: null,
        });
      });

      it('a wrong, altered or malformed secret does not authenticate', async () => {
        const { secret } = await catalog.createToken({ project: 'a' });
        const altered = secret.slice(0, -1) + (secret.endsWith('A') ? 'B' : 'A');
        for (const wrong of [altered, `hrd_${'A'.repeat(43)}`, secret.slice(4), '', 'hrd_', `${secret} `]) {
          assert.equal(await catalog.authenticate(wrong), undefined, wrong);
        }
      });

      it('a revoked token no longer authenticates or lists, and revoking is per project', async () => {
        const { token, secret } = await catalog.createToken({ project: 'a' });
        const other = await catalog.createToken({ project: 'a' });
        assert.equal(await catalog.revokeToken('b', token.id), false, 'not in project b');
        assert.ok(await catalog.authenticate(secret));
        assert.equal(await catalog.revokeToken('a', token.id), true);
        assert.equal(await catalog.authenticate(secret), undefined);
        assert.equal(await catalog.revokeToken('a', token.id), false, 'already revoked');
        assert.deepEqual(ids((await catalog.listTokens('a')).items), [other.token.id]);
        assert.equal(await catalog.revokeToken(null, other.token.id), true, 'admin scope');
        assert.equal(await catalog.authenticate(other.secret), undefined);
        assert.equal(await catalog.revokeToken('a', 'not-an-id'), false);
      });
    });

    describe('projects', () => {
      it('project A never sees project B, by get, list, update or delete; null sees both', async () => {
        const a = {
          token: (await catalog.createToken({ project: 'a' })).token,
          plan: await plan('a', 'same name'),
          trigger: await trigger('a'),
        };
        const b = {
          token: (await catalog.createToken({ project: 'b' })).token,
          plan: await plan('b', 'same name'),
          trigger: await trigger('b'),
        };
        const aOp = await operation('a', a.trigger.id);
        const bOp = await operation('b', b.trigger.id);
        const aLog = await catalog.createOperationLog({ project: 'a', kind: 'protect' });
        const bLog = await catalog.createOperationLog({ project: 'b', kind: 'protect' });

        assert.equal(await catalog.getPlan('a', b.plan.id), undefined);
        assert.equal(await catalog.getPlan('a', b.plan.id, { includeDeleted: true }), undefined);
        assert.equal(await catalog.getTrigger('a', b.trigger.id), undefined);
        assert.equal(await catalog.getScheduledOperation('a', bOp.id), undefined);
        assert.equal(await catalog.getOperationLog('a', bLog.id), undefined);
        assert.deepEqual(await catalog.getPlan('b', b.plan.id), b.plan);
        assert.deepEqual(await catalog.getTrigger('b', b.trigger.id), b.trigger);
        assert.deepEqual(await catalog.getScheduledOperation('b', bOp.id), bOp);
        assert.deepEqual(await catalog.getOperationLog('b', bLog.id), bLog);
        assert.deepEqual(await catalog.getPlan(null, b.plan.id), b.plan);
        assert.deepEqual(await catalog.getTrigger(null, b.trigger.id), b.trigger);
        assert.deepEqual(await catalog.getScheduledOperation(null, bOp.id), bOp);
        assert.deepEqual(await catalog.getOperationLog(null, bLog.id), bLog);

        assert.deepEqual(ids((await catalog.listTokens('a')).items), [a.token.id]);
        assert.deepEqual(ids((await catalog.listPlans('a')).items), [a.plan.id]);
        assert.deepEqual(ids((await catalog.listTriggers('a')).items), [a.trigger.id]);
        assert.deepEqual(ids((await catalog.listScheduledOperations('a')).items), [aOp.id]);
        assert.deepEqual(ids((await catalog.listOperationLogs('a')).items), [aLog.id]);
        assert.deepEqual(ids((await catalog.listTokens(null)).items), [b.token.id, a.token.id]);
        assert.deepEqual(ids((await catalog.listPlans(null)).items), [b.plan.id, a.plan.id]);
        assert.deepEqual(ids((await catalog.listTriggers(null)).items), [b.trigger.id, a.trigger.id]);
        assert.deepEqual(ids((await catalog.listScheduledOperations(null)).items), [bOp.id, aOp.id]);
        assert.deepEqual(ids((await catalog.listOperationLogs(null)).items), [bLog.id, aLog.id]);
        assert.deepEqual((await catalog.listOperationLogs('c')).items, []);

        assert.equal(await catalog.updatePlan('a', b.plan.id, { description: 'x' }), undefined);
        assert.equal(await catalog.deletePlan('a', b.plan.id), false);
        assert.equal(await catalog.deleteTrigger('a', b.trigger.id), false);
        assert.equal(await catalog.setScheduledOperationEnabled('a', bOp.id, false), false);
        assert.equal(await catalog.deleteScheduledOperation('a', bOp.id), false);
        assert.equal(await catalog.revokeToken('a', b.token.id), false);
        assert.deepEqual(await catalog.getPlan('b', b.plan.id), b.plan, 'unchanged');
        assert.deepEqual(await catalog.getScheduledOperation('b', bOp.id), bOp, 'unchanged');
        assert.deepEqual(ids((await catalog.listTokens('b')).items), [b.token.id], 'not revoked');

        assert.deepEqual(await catalog.listProjects(), ['a', 'b']);
      });

      it('a scheduled operation cannot use another project’s trigger', async () => {
        const bTrigger = await trigger('b');
        await rejectsWith(operation('a', bTrigger.id), 'CATALOG_INVALID', 'trigger', bTrigger.id);
        await rejectsWith(operation('a', 'not-an-id'), 'CATALOG_INVALID', 'trigger');
      });

      it('listProjects names the projects owning a live token or any plan', async () => {
        assert.deepEqual(await catalog.listProjects(), []);
        await catalog.createToken({ project: 'zeta' });
        const gone = await catalog.createToken({ project: 'revoked' });
        await catalog.revokeToken(null, gone.token.id);
        const deleted = await plan('Alpha', 'p');
        await catalog.deletePlan(null, deleted.id);
        await plan('beta', 'p');
        await trigger('triggers only');
        assert.deepEqual(await catalog.listProjects(), ['Alpha', 'beta', 'zeta']);
      });
    });

    describe('lists', () => {
      it('25 plans in pages of 10 come 10/10/5, newest first, each once', async () => {
        const created: PlanRecord[] = [];
        for (let i = 0; i < 25; i++) created.push(await plan('a', `plan ${i}`));
        const { pages, items } = await allPages((o) => catalog.listPlans('a', o), 10);
        assert.deepEqual(
          pages.map((p) => p.length),
          [10, 10, 5],
        );
        assert.deepEqual(ids(items), ids(created).reverse(), 'newest first');
        assert.deepEqual(ids(items), newestFirst(created), 'ids sort by creation');
        assert.equal(new Set(ids(items)).size, 25);
        assert.deepEqual(items, [...created].reverse(), 'the same records');
      });

      it('a last page that is exactly full has no next', async () => {
        for (let i = 0; i < 20; i++) await plan('a', `plan ${i}`);
        const first = await catalog.listPlans('a', { limit: 10 });
        const second = await catalog.listPlans('a', { limit: 10, marker: first.next! });
        assert.equal(second.items.length, 10);
        assert.equal(second.next, null);
        const all = await catalog.listPlans('a', { limit: 20 });
        assert.equal(all.items.length, 20);
        assert.equal(all.next, null);
      });

      it('every list pages the same way', async () => {
        const t = await trigger('a');
        for (let i = 0; i < 5; i++) {
          await catalog.createToken({ project: 'a' });
          await operation('a', t.id, `op ${i}`);
          await catalog.createOperationLog({ project: 'a', kind: 'verify' });
        }
        for (let i = 0; i < 4; i++) await trigger('a', `t${i}`);
        const lists: [string, (o: ListOptions) => Promise<Page<{ id: string }>>][] = [
          ['tokens', (o) => catalog.listTokens('a', o)],
          ['triggers', (o) => catalog.listTriggers(null, o)],
          ['scheduled operations', (o) => catalog.listScheduledOperations('a', o)],
          ['operation logs', (o) => catalog.listOperationLogs('a', { ...o, kind: 'verify' })],
        ];
        for (const [what, list] of lists) {
          const { pages, items } = await allPages(list, 2);
          assert.deepEqual(
            pages.map((p) => p.length),
            [2, 2, 1],
            what,
          );
          assert.deepEqual(ids(items), newestFirst(items), what);
        }
      });

      it('the limit defaults to 100 and is clamped to 1..1000; a bad limit or marker is CATALOG_INVALID', async () => {
        for (let i = 0; i < 3; i++) await catalog.createOperationLog({ project: 'a', kind: 'protect' });
        assert.equal((await catalog.listOperationLogs('a')).items.length, 3);
        assert.equal((await catalog.listOperationLogs('a', { limit: 0 })).items.length, 1);
        assert.equal((await catalog.listOperationLogs('a', { limit: -5 })).items.length, 1);
        const big = await catalog.listOperationLogs('a', { limit: 5000 });
        assert.equal(big.items.length, 3);
        assert.equal(big.next, null);
        for (const limit of [1.5, Number.NaN, Number.POSITIVE_INFINITY, '10' as unknown as number]) {
          await rejectsWith(catalog.listOperationLogs('a', { limit }), 'CATALOG_INVALID', 'limit');
        }
        for (const marker of ['', 'abc', "x' OR 1=1 --"]) {
          await rejectsWith(catalog.listPlans('a', { marker }), 'CATALOG_INVALID', 'marker');
        }
      });

      it('a marker need not be an existing id: the page starts below it', async () => {
        const logs: OperationLogRecord[] = [];
        for (let i = 0; i < 3; i++)
          logs.push(await catalog.createOperationLog({ project: 'a', kind: 'protect' }));
        const page = await catalog.listOperationLogs('a', { marker: 'ffffffff-ffff-7fff-bfff-ffffffffffff' });
        assert.deepEqual(ids(page.items), ids(logs).reverse());
        const none = await catalog.listOperationLogs('a', { marker: '00000000-0000-7000-8000-000000000000' });
        assert.deepEqual(none, { items: [], next: null });
      });
    });

    describe('plans', () => {
      it('a plan round-trips its JSON exactly', async () => {
        const created = await catalog.createPlan({
          project: 'a',
          name: 'app',
          description: 'the app',
          provider: 'default',
          resources: RESOURCES,
          parameters: PARAMETERS,
        });
        assert.equal(created.createdAt, created.updatedAt);
        assert.equal(created.deletedAt, undefined);
        const got = await catalog.getPlan('a', created.id);
        assert.deepStrictEqual(got, created);
        assert.deepStrictEqual(got?.resources, RESOURCES);
        assert.deepStrictEqual(got?.parameters, PARAMETERS);
        assert.deepStrictEqual((await catalog.getPlan('a', created.id.toUpperCase()))?.id, created.id);
      });

      it('a second plan of the same name in a project is CATALOG_CONFLICT, naming it; other projects may', async () => {
        await plan('a', 'app');
        await rejectsWith(plan('a', 'app'), 'CATALOG_CONFLICT', '"app"', '"a"');
        await plan('b', 'app');
        const other = await plan('a', 'other');
        await rejectsWith(catalog.updatePlan('a', other.id, { name: 'app' }), 'CATALOG_CONFLICT', '"app"');
        assert.equal((await catalog.getPlan('a', other.id))?.name, 'other');
      });

      it('updatePlan changes the given fields and updatedAt, and nothing else', async () => {
        const created = await plan('a', 'app');
        await clockPast(created.updatedAt);
        const updated = await catalog.updatePlan('a', created.id, {
          name: 'renamed',
          description: 'now described',
          resources: RESOURCES,
        });
        assert.ok(updated);
        assert.deepStrictEqual(updated, {
          ...created,
          name: 'renamed',
          description: 'now described',
          resources: RESOURCES,
          updatedAt: updated.updatedAt,
        });
        assert.ok(updated.updatedAt > created.updatedAt);
        assert.deepStrictEqual(await catalog.getPlan(null, created.id), updated);
        const cleared = await catalog.updatePlan(null, created.id, {
          description: null,
          parameters: PARAMETERS,
        });
        assert.equal(cleared?.description, null);
        assert.deepStrictEqual(cleared?.parameters, PARAMETERS);
        assert.equal(
          await catalog.updatePlan('a', '0190a5c2-0000-7000-8000-000000000000', { name: 'x' }),
          undefined,
        );
      });

      it('a deleted plan is found only with includeDeleted, and its name is free again', async () => {
        const created = await plan('a', 'app');
        assert.equal(await catalog.deletePlan('a', created.id), true);
        assert.equal(await catalog.deletePlan('a', created.id), false, 'already deleted');
        assert.equal(await catalog.getPlan('a', created.id), undefined);
        const deleted = await catalog.getPlan('a', created.id, { includeDeleted: true });
        assert.ok(deleted?.deletedAt, 'deletedAt is set');
        assert.deepStrictEqual(deleted, { ...created, deletedAt: deleted.deletedAt });
        assert.deepEqual((await catalog.listPlans('a')).items, []);
        assert.deepEqual(ids((await catalog.listPlans('a', { includeDeleted: true })).items), [created.id]);
        assert.equal(await catalog.updatePlan('a', created.id, { description: 'x' }), undefined);
        const again = await plan('a', 'app');
        assert.deepEqual(ids((await catalog.listPlans('a', { includeDeleted: true })).items), [
          again.id,
          created.id,
        ]);
      });

      it('bad input is CATALOG_INVALID; unknown or malformed ids are simply not found', async () => {
        await rejectsWith(plan('a', ''), 'CATALOG_INVALID', 'name');
        await rejectsWith(plan('', 'x'), 'CATALOG_INVALID', 'project');
        await rejectsWith(
          catalog.createPlan({
            project: 'a',
            name: 'x',
            provider: 'p',
            resources: {} as never,
            parameters: {},
          }),
          'CATALOG_INVALID',
          'resources',
        );
        assert.equal(await catalog.getPlan('a', 'nope'), undefined);
        assert.equal(await catalog.getPlan(null, "' OR 1=1 --"), undefined);
        assert.equal(await catalog.deletePlan(null, 'nope'), false);
      });
    });

    describe('triggers', () => {
      it('a trigger round-trips its properties and lists newest first', async () => {
        const properties = {
          pattern: '*/5 * * * *',
          timezone: 'Europe/Paris',
          start: '2026-01-01T00:00:00.000Z',
          window: 60,
        };
        const created = await catalog.createTrigger({
          project: 'a',
          name: 'often',
          type: 'time',
          properties,
        });
        const second = await trigger('a');
        assert.deepStrictEqual(await catalog.getTrigger('a', created.id), created);
        assert.deepStrictEqual(created.properties, properties);
        assert.deepEqual(ids((await catalog.listTriggers('a')).items), [second.id, created.id]);
        await rejectsWith(
          catalog.createTrigger({ project: 'a', name: 'x', type: 'event' as 'time', properties }),
          'CATALOG_INVALID',
          'event',
        );
      });

      it('deleting a trigger a scheduled operation uses is CATALOG_IN_USE, naming both', async () => {
        const t = await trigger('a', 'nightly');
        const op = await operation('a', t.id, 'db backup');
        await rejectsWith(
          catalog.deleteTrigger('a', t.id),
          'CATALOG_IN_USE',
          '"nightly"',
          '"db backup"',
          op.id,
        );
        await rejectsWith(catalog.deleteTrigger(null, t.id), 'CATALOG_IN_USE');
        await catalog.setScheduledOperationEnabled('a', op.id, false);
        await rejectsWith(catalog.deleteTrigger('a', t.id), 'CATALOG_IN_USE'); // disabled ones count too
        assert.ok(await catalog.getTrigger('a', t.id), 'still there');
        assert.equal(await catalog.deleteScheduledOperation('a', op.id), true);
        assert.equal(await catalog.deleteTrigger('a', t.id), true);
        assert.equal(await catalog.getTrigger('a', t.id), undefined);
        assert.equal(await catalog.deleteTrigger('a', t.id), false);
      });
    });

    describe('scheduled operations', () => {
      it('round-trip, enable/disable, filter by enabled, delete', async () => {
        const t = await trigger('a');
        const created = await catalog.createScheduledOperation({
          project: 'a',
          name: 'keep 7',
          description: 'retention',
          operationType: 'retention_protect',
          triggerId: t.id,
          definition: { planId: 'p1', providerId: 'prov', retention: { kind: 'max_backups', count: 7 } },
        });
        assert.equal(created.enabled, true);
        assert.deepStrictEqual(await catalog.getScheduledOperation('a', created.id), created);
        const off = await catalog.createScheduledOperation({
          project: 'a',
          name: 'off',
          operationType: 'protect',
          triggerId: t.id,
          definition: { planId: 'p2' },
          enabled: false,
        });
        assert.equal(off.enabled, false);
        assert.equal(off.description, null);
        const enabled = (o: { enabled?: boolean }) =>
          catalog.listScheduledOperations('a', o).then((p) => ids(p.items));
        assert.deepEqual(await enabled({}), [off.id, created.id]);
        assert.deepEqual(await enabled({ enabled: true }), [created.id]);
        assert.deepEqual(await enabled({ enabled: false }), [off.id]);
        assert.equal(await catalog.setScheduledOperationEnabled('a', created.id, false), true);
        assert.equal(await catalog.setScheduledOperationEnabled('a', off.id, true), true);
        assert.deepEqual(await enabled({ enabled: true }), [off.id]);
        assert.equal((await catalog.getScheduledOperation('a', created.id))?.enabled, false);
        assert.equal(await catalog.deleteScheduledOperation('a', created.id), true);
        assert.equal(await catalog.getScheduledOperation('a', created.id), undefined);
        assert.equal(await catalog.deleteScheduledOperation('a', created.id), false);
        assert.equal(await catalog.setScheduledOperationEnabled('a', created.id, true), false);
      });
    });

    describe('scheduled runs', () => {
      /** `minutes` after the operation was made, as an ISO time. */
      const after = (op: { createdAt: string }, minutes: number) =>
        new Date(Date.parse(op.createdAt) + minutes * 60_000).toISOString();

      it('of 20 concurrent claims from the same last fire, exactly one wins; claims are consecutive', async () => {
        const op = await operation('a', (await trigger('a')).id);
        const claims = await Promise.all(
          Array.from({ length: 20 }, (_, i) =>
            catalog.claimFires(op.id, op.createdAt, after(op, 1 + (i % 3)), `host:${i}`),
          ),
        );
        assert.equal(claims.filter(Boolean).length, 1);
        const last = (await catalog.lastClaimedRun(op.id))!;
        assert.ok([1, 2, 3].map((m) => after(op, m)).includes(last), last);
        // From a stale last fire nothing more is claimed; from the real one, the next interval is.
        assert.equal(await catalog.claimFires(op.id, op.createdAt, after(op, 10), 'late'), false);
        assert.equal(await catalog.claimFires(op.id, last, after(op, 10), 'next'), true);
        assert.equal(await catalog.lastClaimedRun(op.id), after(op, 10));
        // The same instant in another spelling is the same fire.
        const spelled = after(op, 10).replace(/\.(\d{3})Z$/, '.$1000+00:00');
        assert.equal(await catalog.claimFires(op.id, spelled, after(op, 11), 'spelled'), true);
      });

      it('a disabled, deleted or unknown operation has no fire to claim', async () => {
        const op = await operation('a', (await trigger('a')).id);
        assert.equal(await catalog.setScheduledOperationEnabled('a', op.id, false), true);
        assert.equal(await catalog.claimFires(op.id, op.createdAt, after(op, 1), 'h'), false);
        assert.equal(await catalog.lastClaimedRun(op.id), undefined);
        assert.equal(await catalog.setScheduledOperationEnabled('a', op.id, true), true);
        assert.equal(await catalog.claimFires(op.id, op.createdAt, after(op, 1), 'h'), true);
        assert.equal(await catalog.deleteScheduledOperation('a', op.id), true);
        assert.equal(await catalog.claimFires(op.id, after(op, 1), after(op, 2), 'h'), false);
        const unknown = '0190a5c2-0000-7000-8000-00000000ffff';
        assert.equal(await catalog.claimFires(unknown, op.createdAt, after(op, 2), 'h'), false);
        assert.equal(await catalog.claimFires('not-an-id', op.createdAt, after(op, 2), 'h'), false);
      });

      it('lastClaimedRun is the end of the last claim, per scheduled operation', async () => {
        const t = await trigger('a');
        const op = await operation('a', t.id);
        const other = await operation('a', t.id, 'other');
        assert.equal(await catalog.lastClaimedRun(op.id), undefined);
        assert.equal(await catalog.claimFires(op.id, op.createdAt, after(op, 5), 'h'), true);
        assert.equal(await catalog.claimFires(other.id, other.createdAt, after(other, 60), 'h'), true);
        assert.equal(await catalog.lastClaimedRun(op.id), after(op, 5));
        assert.equal(await catalog.deleteScheduledOperation('a', op.id), true);
        assert.equal(await catalog.lastClaimedRun(op.id), undefined, 'claims go with their operation');
        assert.equal(await catalog.lastClaimedRun(other.id), after(other, 60));
        await rejectsWith(
          catalog.claimFires(other.id, after(other, 60), 'tomorrow', 'h'),
          'CATALOG_INVALID',
          'through',
        );
        await rejectsWith(
          catalog.claimFires(other.id, after(other, 60), after(other, 60), 'h'),
          'CATALOG_INVALID',
          'through',
        );
      });
    });

    describe('operation logs', () => {
      it('a new log is queued with the given fields, and round-trips', async () => {
        const log = await catalog.createOperationLog({
          project: 'a',
          kind: 'restore',
          planId: 'plan-1',
          providerId: 'prov',
          checkpointId: '20260101T000000000Z-00000000',
          scheduledOperationId: 'sched-1',
          fireAt: '2026-01-01T03:00:00Z',
          parameters: { targets: { db: 'restored' }, list: [1, 'two', null] },
          owner: 'host:123',
        });
        assert.equal(log.status, 'queued');
        assert.equal(log.fireAt, '2026-01-01T03:00:00.000Z');
        assert.deepStrictEqual(
          { ...log, id: '', createdAt: '' },
          {
            id: '',
            project: 'a',
            kind: 'restore',
            status: 'queued',
            planId: 'plan-1',
            providerId: 'prov',
            checkpointId: '20260101T000000000Z-00000000',
            scheduledOperationId: 'sched-1',
            fireAt: '2026-01-01T03:00:00.000Z',
            parameters: { targets: { db: 'restored' }, list: [1, 'two', null] },
            result: null,
            error: null,
            createdAt: '',
            startedAt: null,
            endedAt: null,
            owner: 'host:123',
            heartbeatAt: null,
            cancelRequestedAt: null,
          },
        );
        assert.deepStrictEqual(await catalog.getOperationLog('a', log.id), log);
        const bare = await catalog.createOperationLog({ project: 'a', kind: 'protect', status: 'running' });
        assert.deepStrictEqual(await catalog.getOperationLog(null, bare.id), bare);
        assert.deepEqual(bare.parameters, {});
        assert.equal(bare.owner, null);
      });

      it('lists filter by kind, status, plan, checkpoint and scheduled operation', async () => {
        const p = await catalog.createOperationLog({ project: 'a', kind: 'protect', planId: 'p1' });
        const r = await catalog.createOperationLog({ project: 'a', kind: 'restore', checkpointId: 'c1' });
        const s = await catalog.createOperationLog({
          project: 'a',
          kind: 'retention_protect',
          scheduledOperationId: 's1',
          status: 'running',
        });
        const list = (filter: object) =>
          catalog.listOperationLogs('a', filter).then((page) => ids(page.items));
        assert.deepEqual(await list({}), [s.id, r.id, p.id]);
        assert.deepEqual(await list({ kind: 'restore' }), [r.id]);
        assert.deepEqual(await list({ status: 'running' }), [s.id]);
        assert.deepEqual(await list({ status: 'queued' }), [r.id, p.id]);
        assert.deepEqual(await list({ planId: 'p1' }), [p.id]);
        assert.deepEqual(await list({ checkpointId: 'c1' }), [r.id]);
        assert.deepEqual(await list({ scheduledOperationId: 's1' }), [s.id]);
        assert.deepEqual(await list({ kind: 'protect', status: 'running' }), []);
      });

      it('updateOperationLog applies the patch only from the given statuses', async () => {
        const log = await catalog.createOperationLog({ project: 'a', kind: 'protect' });
        const startedAt = new Date().toISOString();
        const running = await catalog.updateOperationLog(log.id, ['queued'], {
          status: 'running',
          startedAt,
        });
        assert.deepStrictEqual(running, { ...log, status: 'running', startedAt });
        assert.equal(await catalog.updateOperationLog(log.id, ['queued'], { status: 'skipped' }), undefined);
        // The process that runs a queued log takes it over (`hoard worker`).
        const taken = await catalog.updateOperationLog(log.id, ['running'], { owner: 'worker-host:42' });
        assert.equal(taken?.owner, 'worker-host:42');
        const result = { checkpoint: { id: 'c1', status: 'available' }, operation: { tasks: [1, 2] } };
        const error = {
          name: 'HoardError',
          message: 'partly ✗',
          code: 'HOOK_FAILED',
          cause: { name: 'Error', message: 'x' },
        };
        const done = await catalog.updateOperationLog(log.id, ['queued', 'running'], {
          status: 'failed',
          checkpointId: 'c1',
          result,
          error,
          endedAt: '2030-01-01T00:00:00Z',
        });
        assert.deepStrictEqual(done, {
          ...taken,
          status: 'failed',
          checkpointId: 'c1',
          result,
          error,
          endedAt: '2030-01-01T00:00:00.000Z',
        });
        assert.deepStrictEqual(await catalog.getOperationLog('a', log.id), done);
        assert.equal(await catalog.updateOperationLog(log.id, [], { status: 'running' }), undefined);
        assert.equal(
          await catalog.updateOperationLog('0190a5c2-0000-7000-8000-000000000000', ['queued'], {
            status: 'running',
          }),
          undefined,
        );
        assert.deepStrictEqual(
          await catalog.updateOperationLog(log.id, ['failed'], {}),
          done,
          'an empty patch',
        );
      });

      it('results that are JSON strings, numbers or arrays come back as they went in', async () => {
        for (const result of ['just text', '{"not": "parsed"}', 42, [1, { a: 'b' }], true]) {
          const log = await catalog.createOperationLog({ project: 'a', kind: 'verify' });
          await catalog.updateOperationLog(log.id, ['queued'], { result });
          assert.deepStrictEqual((await catalog.getOperationLog('a', log.id))?.result, result);
        }
      });

      it('of two updates racing from running, exactly one wins', async () => {
        for (let round = 0; round < 10; round++) {
          const log = await catalog.createOperationLog({ project: 'a', kind: 'protect', status: 'running' });
          const [one, two] = await Promise.all([
            catalog.updateOperationLog(log.id, ['running'], { status: 'succeeded' }),
            catalog.updateOperationLog(log.id, ['running'], { status: 'failed' }),
          ]);
          assert.equal([one, two].filter(Boolean).length, 1, `round ${round}`);
          const winner = (one ?? two)!;
          assert.deepStrictEqual(await catalog.getOperationLog('a', log.id), winner);
        }
      });

      it('heartbeat stamps the given logs that are still queued or running', async () => {
        const queued = await catalog.createOperationLog({ project: 'a', kind: 'protect' });
        const running = await catalog.createOperationLog({
          project: 'b',
          kind: 'protect',
          status: 'running',
        });
        const done = await catalog.createOperationLog({ project: 'a', kind: 'protect', status: 'succeeded' });
        const untouched = await catalog.createOperationLog({ project: 'a', kind: 'protect' });
        const before = new Date().toISOString();
        await catalog.heartbeat([
          queued.id,
          running.id,
          done.id,
          'not-an-id',
          '0190a5c2-0000-7000-8000-000000000000',
        ]);
        await catalog.heartbeat([]);
        for (const log of [queued, running]) {
          const beat = (await catalog.getOperationLog(null, log.id))?.heartbeatAt;
          assert.ok(beat && beat >= before, `${log.status}: ${beat}`);
        }
        assert.equal((await catalog.getOperationLog(null, done.id))?.heartbeatAt, null);
        assert.equal((await catalog.getOperationLog(null, untouched.id))?.heartbeatAt, null);
      });

      it('requestCancel asks once, in scope, only while queued or running; cancelRequested finds those asked', async () => {
        const queued = await catalog.createOperationLog({ project: 'a', kind: 'protect' });
        const running = await catalog.createOperationLog({ project: 'a', kind: 'verify', status: 'running' });
        const done = await catalog.createOperationLog({ project: 'a', kind: 'protect', status: 'succeeded' });
        const other = await catalog.createOperationLog({ project: 'b', kind: 'protect', status: 'running' });
        const before = new Date().toISOString();
        const asked = await catalog.requestCancel('a', running.id);
        assert.equal(asked?.id, running.id);
        assert.equal(asked?.status, 'running', 'asking does not change the status; the owner does');
        assert.ok(
          asked?.cancelRequestedAt && asked.cancelRequestedAt >= before,
          asked?.cancelRequestedAt ?? '',
        );
        assert.deepStrictEqual(await catalog.getOperationLog('a', running.id), asked);
        assert.equal(await catalog.requestCancel('a', running.id), undefined, 'a second ask');
        assert.equal(await catalog.requestCancel('a', done.id), undefined, 'an ended log');
        assert.equal(await catalog.requestCancel('a', other.id), undefined, "another project's log");
        assert.equal(await catalog.requestCancel('a', 'not-an-id'), undefined);
        assert.equal((await catalog.getOperationLog(null, other.id))?.cancelRequestedAt, null);
        assert.equal((await catalog.requestCancel(null, queued.id))?.id, queued.id, 'an admin, any project');
        assert.deepEqual(
          await catalog.cancelRequested([queued.id, running.id, done.id, other.id, 'not-an-id']),
          [queued.id, running.id].sort(),
        );
        // Once it ends cancelled, it is no longer one to stop.
        const ended = await catalog.updateOperationLog(running.id, ['running'], { status: 'cancelled' });
        assert.equal(ended?.status, 'cancelled');
        assert.deepEqual(await catalog.cancelRequested([queued.id, running.id]), [queued.id]);
      });

      it('failStale fails queued and running logs whose heartbeat, or creation, is older than the cutoff', async () => {
        const beaten = await catalog.createOperationLog({ project: 'a', kind: 'protect', status: 'running' });
        await catalog.heartbeat([beaten.id]);
        const silent = await catalog.createOperationLog({ project: 'b', kind: 'restore' });
        const finished = await catalog.createOperationLog({
          project: 'a',
          kind: 'protect',
          status: 'succeeded',
        });
        const alive = await catalog.createOperationLog({ project: 'a', kind: 'protect', status: 'running' });
        await clockPast((await catalog.getOperationLog(null, silent.id))!.createdAt);
        await clockPast((await catalog.getOperationLog(null, beaten.id))!.heartbeatAt!);
        const cutoff = new Date().toISOString();
        await clockPast(cutoff);
        await catalog.heartbeat([alive.id]);
        const late = await catalog.createOperationLog({ project: 'a', kind: 'protect' });

        const error = { name: 'HoardError', message: 'the server running it stopped', code: 'INTERNAL' };
        const failed = await catalog.failStale(cutoff, error);
        assert.deepEqual(ids(failed), [silent.id, beaten.id], 'newest first');
        for (const log of failed) {
          assert.equal(log.status, 'failed');
          assert.deepStrictEqual(log.error, error);
          assert.ok(log.endedAt && log.endedAt >= cutoff);
          assert.deepStrictEqual(await catalog.getOperationLog(null, log.id), log);
        }
        assert.equal((await catalog.getOperationLog(null, alive.id))?.status, 'running');
        assert.equal((await catalog.getOperationLog(null, late.id))?.status, 'queued');
        assert.equal((await catalog.getOperationLog(null, finished.id))?.status, 'succeeded');
        assert.deepEqual(await catalog.failStale(cutoff, error), [], 'nothing left to fail');
      });

      it('operationCounts counts logs by kind and status across projects', async () => {
        assert.deepEqual(await catalog.operationCounts(), []);
        await catalog.createOperationLog({ project: 'a', kind: 'protect' });
        await catalog.createOperationLog({ project: 'b', kind: 'protect' });
        await catalog.createOperationLog({ project: 'a', kind: 'protect', status: 'succeeded' });
        await catalog.createOperationLog({ project: 'a', kind: 'delete', status: 'failed' });
        const counts = await catalog.operationCounts();
        const key = (c: { kind: string; status: string }) => `${c.kind}/${c.status}`;
        assert.deepEqual(
          [...counts].sort((x, y) => key(x).localeCompare(key(y))),
          [
            { kind: 'delete', status: 'failed', count: 1 },
            { kind: 'protect', status: 'queued', count: 2 },
            { kind: 'protect', status: 'succeeded', count: 1 },
          ],
        );
      });
    });

    it('records are plain data: what a create returns equals what a get returns later', async () => {
      const t: TriggerRecord = await trigger('a');
      const op: ScheduledOperationRecord = await operation('a', t.id);
      assert.deepStrictEqual(await catalog.getTrigger('a', t.id), t);
      assert.deepStrictEqual(await catalog.getScheduledOperation('a', op.id), op);
      assert.deepStrictEqual((await catalog.listScheduledOperations('a')).items, [op]);
      assert.deepStrictEqual((await catalog.listTriggers('a')).items, [t]);
    });
  });
}
