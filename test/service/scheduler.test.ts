/**
 * The scheduler over a real catalog with a controlled clock: due fires run once, missed
 * fires inside the window run once at start-up and outside it are recorded as skipped,
 * racing schedulers never run a fire twice; and retention_protect end to end on a server.
 */
import assert from 'node:assert/strict';
import { mkdir, mkdtemp, rename, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { setTimeout as delay } from 'node:timers/promises';
import { type Catalog, type ScheduledOperationRecord, SqliteCatalog } from '../../src/catalog/index.js';
import { Scheduler } from '../../src/service/scheduler.js';
import { dueFires } from '../../src/service/triggers.js';
import { type Json, startServer, type TestServer } from './helpers.js';

const MINUTE = 60_000;

describe('scheduler', () => {
  let catalog: Catalog;
  before(async () => {
    const dir = await mkdtemp(join(tmpdir(), 'hoard-sched-'));
    catalog = new SqliteCatalog(join(dir, 'catalog.sqlite'));
    await catalog.migrate();
  });
  after(() => catalog.close());

  /** A scheduled protect on a every-minute trigger, and a scheduler whose clock we set. */
  async function setup(properties: { window?: number; end?: string; pattern?: string } = {}) {
    const plan = await catalog.createPlan({
      project: 'p',
      name: `plan-${Math.random()}`,
      provider: 'local',
      resources: [],
      parameters: {},
    });
    const trigger = await catalog.createTrigger({
      project: 'p',
      name: 't',
      type: 'time',
      properties: { pattern: '* * * * *', ...properties },
    });
    const op = await catalog.createScheduledOperation({
      project: 'p',
      name: 'every minute',
      operationType: 'protect',
      triggerId: trigger.id,
      definition: { planId: plan.id },
    });
    const launched: { op: string; fireAt: string }[] = [];
    let now = new Date(op.createdAt);
    const scheduler = () =>
      new Scheduler({
        catalog,
        now: () => now,
        tickMs: 1_000_000,
        launch: async (o: ScheduledOperationRecord, fireAt: Date) => {
          if (o.id === op.id) launched.push({ op: o.id, fireAt: fireAt.toISOString() });
        },
      });
    const skipped = async () =>
      (await catalog.listOperationLogs('p', { scheduledOperationId: op.id, status: 'skipped' })).items;
    return {
      op,
      launched,
      skipped,
      scheduler,
      setNow: (t: Date) => {
        now = t;
      },
      created: new Date(op.createdAt),
    };
  }

  const floorMinute = (t: Date) => new Date(Math.floor(t.getTime() / MINUTE) * MINUTE);

  it('runs a due fire once, however often it ticks', async () => {
    const s = await setup();
    const scheduler = s.scheduler();
    s.setNow(new Date(floorMinute(s.created).getTime() + MINUTE + 500));
    await scheduler.tick();
    await scheduler.tick();
    await s.scheduler().tick(); // a fresh scheduler (a restart) agrees
    assert.deepEqual(
      s.launched.map((l) => l.fireAt),
      [new Date(floorMinute(s.created).getTime() + MINUTE).toISOString()],
    );
    s.setNow(new Date(floorMinute(s.created).getTime() + 2 * MINUTE + 500));
    await scheduler.tick();
    assert.equal(s.launched.length, 2);
    assert.equal((await s.skipped()).length, 0);
  });

  it('after downtime: the newest missed fire inside the window runs once, the older ones are one skipped record', async () => {
    const s = await setup({ window: 600 });
    const latest = new Date(floorMinute(s.created).getTime() + 10 * MINUTE);
    s.setNow(new Date(latest.getTime() + 30_000));
    await s.scheduler().tick();
    assert.deepEqual(
      s.launched.map((l) => l.fireAt),
      [latest.toISOString()],
    );
    const skipped = await s.skipped();
    assert.equal(skipped.length, 1);
    assert.match(skipped[0]!.error!.message, /^9 run\(s\) from .* were not run/);
    await s.scheduler().tick();
    assert.equal(s.launched.length, 1, 'nothing runs twice');
  });

  it('a missed fire outside its window is recorded as skipped, not run', async () => {
    const s = await setup({ window: 60, pattern: '*/10 * * * *' });
    const first = Math.ceil(s.created.getTime() / (10 * MINUTE)) * 10 * MINUTE;
    const latest = new Date(first + 20 * MINUTE);
    s.setNow(new Date(latest.getTime() + 65_000)); // 65 s late, the window is 60
    await s.scheduler().tick();
    assert.equal(s.launched.length, 0);
    const skipped = await s.skipped();
    assert.equal(skipped.length, 2, 'the two older fires, and the late one');
    assert.ok(skipped.some((l) => /more than the trigger's window/.test(l.error!.message)));
    assert.ok(skipped.every((l) => l.kind === 'protect' && l.fireAt));
  });

  it('a fire that falls due while the scheduler runs starts however late the tick; after a restart the window applies', async () => {
    const s = await setup({ window: 0 });
    const scheduler = s.scheduler();
    const first = new Date(floorMinute(s.created).getTime() + MINUTE);
    s.setNow(new Date(s.created.getTime() + 1));
    await scheduler.tick(); // nothing due yet
    s.setNow(new Date(first.getTime() + 5_000)); // a tick 5 s late: a busy machine, not downtime
    await scheduler.tick();
    assert.deepEqual(
      s.launched.map((l) => l.fireAt),
      [first.toISOString()],
    );
    // A new scheduler (the server restarted) 5 s after the next fire: missed, and window 0.
    s.setNow(new Date(first.getTime() + MINUTE + 5_000));
    await s.scheduler().tick();
    assert.equal(s.launched.length, 1);
    const skipped = await s.skipped();
    assert.equal(skipped.length, 1);
    assert.match(skipped[0]!.error!.message, /by 5 s, more than the trigger's window/);
  });

  it('disabling waits for a pass under way: after settle() no run starts and the ones started are logged', async () => {
    const s = await setup();
    let release!: () => void;
    const released = new Promise<void>((resolve) => {
      release = resolve;
    });
    let entered!: () => void;
    const launching = new Promise<void>((resolve) => {
      entered = resolve;
    });
    const launched: string[] = [];
    const scheduler = new Scheduler({
      catalog,
      now: () => new Date(floorMinute(s.created).getTime() + MINUTE + 100),
      tickMs: 1_000_000,
      launch: async (o, fireAt) => {
        if (o.id !== s.op.id) return;
        entered();
        await released; // the run's log is being created
        launched.push(fireAt.toISOString());
      },
    });
    const pass = scheduler.tick();
    await launching; // the fire is claimed; now the operation is disabled
    await catalog.setScheduledOperationEnabled('p', s.op.id, false);
    let settled = false;
    const settling = scheduler.settle().then(() => {
      settled = true;
    });
    await Promise.resolve();
    assert.equal(settled, false, 'settle waits for the pass that claimed a fire');
    release();
    await settling;
    assert.equal(launched.length, 1, 'the fire claimed before the disable was launched by then');
    await pass;
    const later = new Scheduler({
      catalog,
      now: () => new Date(floorMinute(s.created).getTime() + 2 * MINUTE + 100),
      tickMs: 1_000_000,
      launch: async (o, fireAt) => {
        if (o.id === s.op.id) launched.push(fireAt.toISOString());
      },
    });
    await later.tick();
    assert.equal(launched.length, 1, 'nothing runs while disabled');
  });

  it('racing schedulers sharing a catalog run each fire exactly once', async () => {
    const s = await setup();
    const schedulers = Array.from({ length: 6 }, () => s.scheduler());
    for (let minute = 1; minute <= 5; minute++) {
      s.setNow(new Date(floorMinute(s.created).getTime() + minute * MINUTE + 100));
      await Promise.all(schedulers.map((x) => x.tick()));
    }
    const fires = s.launched.map((l) => l.fireAt);
    assert.equal(fires.length, 5);
    assert.equal(new Set(fires).size, 5);
  });

  it('a disabled operation and an ended trigger do not fire', async () => {
    const s = await setup();
    await catalog.setScheduledOperationEnabled('p', s.op.id, false);
    s.setNow(new Date(s.created.getTime() + 5 * MINUTE));
    await s.scheduler().tick();
    assert.equal(s.launched.length, 0);

    // An hour later, a trigger that ended 90 s after it was made: its last fire is long past
    // the window, so it is recorded skipped; nothing after the end is even considered.
    const end = Date.parse(s.op.createdAt) + 90_000;
    const ended = await setup({ end: new Date(end).toISOString() });
    ended.setNow(new Date(ended.created.getTime() + 60 * MINUTE));
    await ended.scheduler().tick();
    assert.equal(ended.launched.length, 0);
    const skipped = await ended.skipped();
    assert.ok(skipped.length > 0);
    assert.ok(
      skipped.every((l) => Date.parse(l.fireAt!) <= end),
      JSON.stringify(skipped.map((l) => l.fireAt)),
    );
  });

  it('dueFires counts what fell due and stops counting past its cap', () => {
    const p = { pattern: '* * * * * *' };
    const t0 = new Date('2026-01-01T00:00:00.500Z');
    const due = dueFires(p, t0, new Date(t0.getTime() + 10_000));
    assert.equal(due.latest?.toISOString(), '2026-01-01T00:00:10.000Z');
    assert.equal(due.earlier, 9);
    assert.equal(due.earliest?.toISOString(), '2026-01-01T00:00:01.000Z');
    const capped = dueFires(p, t0, new Date(t0.getTime() + 86_400_000), 100);
    assert.equal(capped.truncated, true);
    assert.equal(capped.latest?.toISOString(), '2026-01-02T00:00:00.000Z');
  });
});

describe('retention_protect on a server', () => {
  let server: TestServer;
  /** The scheduler's clock, moved by the test; its own ticks come once an hour. */
  let clock = Date.now();
  before(async () => {
    server = await startServer({ tickMs: 3_600_000, now: () => new Date(clock) });
  });
  after(() => server.close());

  it('protects every second and keeps only the newest two checkpoints', async () => {
    const token = await server.tokenFor('r');
    const data = join(server.dir, 'data');
    await mkdir(data, { recursive: true });
    await writeFile(join(data, 'f'), 'x');
    const plan = await server.call(token, 'POST', '/v1/r/plans', {
      name: 'every-second',
      resources: [{ type: 'fs.directory', id: 'd', path: data }],
    });
    const trigger = await server.call(token, 'POST', '/v1/r/triggers', {
      name: 'each second',
      type: 'time',
      properties: { pattern: '* * * * * *', window: 5 },
    });
    assert.equal(trigger.status, 201, JSON.stringify(trigger.body));
    const bad = await server.call(token, 'POST', '/v1/r/scheduled_operations', {
      name: 'no policy',
      operationType: 'retention_protect',
      triggerId: trigger.body.trigger.id,
      operationDefinition: { planId: plan.body.plan.id },
    });
    assert.equal(bad.status, 400);
    assert.match(bad.body.error.message, /retention.*required/);
    const op = await server.call(token, 'POST', '/v1/r/scheduled_operations', {
      name: 'keep two',
      operationType: 'retention_protect',
      triggerId: trigger.body.trigger.id,
      operationDefinition: { planId: plan.body.plan.id, retention: { kind: 'max_backups', count: 2 } },
    });
    assert.equal(op.status, 201, JSON.stringify(op.body));
    const id = op.body.scheduledOperation.id;

    const succeeded = async () =>
      (await server.call(token, 'GET', `/v1/r/operation_logs?scheduledOperationId=${id}&status=succeeded`))
        .body.operationLogs as Json[];
    // Four seconds on the scheduler's clock, a tick in each (and a second tick: nothing new is due).
    const start = Math.ceil(Date.now() / 1000) * 1000;
    for (let second = 1; second <= 4; second++) {
      clock = start + second * 1000 + 50;
      await server.service.scheduler!.tick();
      await server.service.scheduler!.tick();
      const until = Date.now() + 30_000;
      while ((await succeeded()).length < second) {
        assert.ok(Date.now() < until, `scheduled run ${second} within 30 s`);
        await delay(20);
      }
    }
    await server.call(token, 'PATCH', `/v1/r/scheduled_operations/${id}`, { enabled: false });
    const inUse = await server.call(token, 'DELETE', `/v1/r/plans/${plan.body.plan.id}`);
    assert.equal(inUse.status, 409, 'a scheduled plan cannot be deleted');
    assert.match(inUse.body.error.message, /keep two/);
    // Let anything already started finish.
    for (;;) {
      const running = await server.call(
        token,
        'GET',
        `/v1/r/operation_logs?scheduledOperationId=${id}&status=running`,
      );
      const queued = await server.call(
        token,
        'GET',
        `/v1/r/operation_logs?scheduledOperationId=${id}&status=queued`,
      );
      if (running.body.operationLogs.length + queued.body.operationLogs.length === 0) break;
      await delay(100);
    }
    const runs = await succeeded();
    assert.equal(new Set(runs.map((r) => r.fireAt)).size, runs.length, 'one run per fire');
    assert.deepEqual(
      runs.map((r) => r.fireAt).sort(),
      [1, 2, 3, 4].map((second) => new Date(start + second * 1000).toISOString()),
      'each second that passed on the clock fired once',
    );
    const last = runs[0];
    assert.equal(last.kind, 'retention_protect');
    assert.ok(last.result.retention.decisions.length >= 2);
    const available = await server.call(token, 'GET', `/v1/r/providers/local/checkpoints?status=available`);
    assert.equal(available.body.checkpoints.length, 2, JSON.stringify(available.body));
  });
});

describe('retention_protect after a failed protect', () => {
  let server: TestServer;
  before(async () => {
    server = await startServer(); // no scheduler: the runs are launched as the scheduler does
  });
  after(() => server.close());

  it('deletes nothing when its protect fails, and prunes once a protect succeeds again', async () => {
    const token = await server.tokenFor('r');
    const data = join(server.dir, 'data');
    await mkdir(data, { recursive: true });
    await writeFile(join(data, 'f'), 'x');
    const plan = (
      await server.call(token, 'POST', '/v1/r/plans', {
        name: 'fragile',
        resources: [{ type: 'fs.directory', id: 'd', path: data }],
      })
    ).body.plan;
    for (let i = 0; i < 2; i++) {
      const accepted = await server.call(token, 'POST', '/v1/r/providers/local/checkpoints', {
        planId: plan.id,
      });
      assert.equal((await server.waitFor(token, 'r', accepted.body.operationLog.id)).status, 'succeeded');
    }
    const trigger = await server.call(token, 'POST', '/v1/r/triggers', {
      name: 'nightly',
      type: 'time',
      properties: { pattern: '0 3 * * *' },
    });
    const created = await server.call(token, 'POST', '/v1/r/scheduled_operations', {
      name: 'keep one',
      operationType: 'retention_protect',
      triggerId: trigger.body.trigger.id,
      operationDefinition: { planId: plan.id, retention: { kind: 'max_backups', count: 1 } },
    });
    assert.equal(created.status, 201, JSON.stringify(created.body));
    const op = (await server.catalog.getScheduledOperation('r', created.body.scheduledOperation.id))!;
    const runAt = async (fireAt: string) => {
      await server.service.context.launchScheduled(op, new Date(fireAt));
      const logs = await server.call(
        token,
        'GET',
        `/v1/r/operation_logs?scheduledOperationId=${op.id}&limit=1`,
      );
      return server.waitFor(token, 'r', logs.body.operationLogs[0].id);
    };
    const available = async () =>
      (
        await server.call(
          token,
          'GET',
          `/v1/r/providers/local/checkpoints?planId=${plan.id}&status=available`,
        )
      ).body.checkpoints as Json[];
    const before = (await available()).map((c) => c.id);
    assert.equal(before.length, 2);

    // The data is gone: the protect fails, and retention does not run.
    await rename(data, `${data}.away`);
    const failed = await runAt('2026-01-01T03:00:00.000Z');
    assert.equal(failed.status, 'failed');
    assert.equal(failed.kind, 'retention_protect');
    assert.equal(failed.result.checkpoint.status, 'error');
    assert.match(failed.result.retention.skipped, /protect failed; retention does not run/);
    assert.deepEqual(
      (await available()).map((c) => c.id),
      before,
      'both available checkpoints are still there',
    );

    // Back again: the protect succeeds and the policy applies (the error checkpoint goes too).
    await rename(`${data}.away`, data);
    const ok = await runAt('2026-01-02T03:00:00.000Z');
    assert.equal(ok.status, 'succeeded', JSON.stringify(ok.error));
    const decisions = ok.result.retention.decisions as Json[];
    assert.deepEqual(
      decisions.filter((d) => d.keep).map((d) => d.id),
      [ok.checkpointId],
    );
    assert.ok(
      decisions.filter((d) => !d.keep).every((d) => d.deleted === true),
      JSON.stringify(decisions),
    );
    assert.ok(
      decisions.some((d) => d.id === failed.checkpointId && !d.keep),
      'the error checkpoint is removed',
    );
    assert.deepEqual(
      (await available()).map((c) => c.id),
      [ok.checkpointId],
    );
  });
});
