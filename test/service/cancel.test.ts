/**
 * Cancelling a running operation (issue 12 item 9): through the API and through
 * `hoard operations cancel` in another process. The hook running is aborted, the teardowns
 * owed still run, the checkpoint ends `error` (SPEC §4: protecting → available | error) and
 * the operation log `cancelled`.
 */
import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { setTimeout as delay } from 'node:timers/promises';
import { hoard } from '../cli/helpers.js';
import { assertError, type Json, startServer, type TestServer } from './helpers.js';

let server: TestServer;
let alice: string; // project acme
let bob: string; // project globex
let admin: string;
let plan: Json;
let journal: string;

before(async () => {
  server = await startServer();
  alice = await server.tokenFor('acme');
  bob = await server.tokenFor('globex');
  admin = await server.tokenFor('ops', true);
  journal = join(server.dir, 'hooks.log');
  // app is frozen (prepareBegin) before its child starts; its thaw (prepareFinish) is owed
  // once it froze, whatever happens to the child, whose prepareBegin sleeps for 30 s.
  const r = await server.call(admin, 'POST', '/v1/acme/plans', {
    name: 'slow',
    resources: [
      { type: 'exec.task', id: 'app', children: ['slow'] },
      { type: 'exec.task', id: 'slow' },
    ],
    parameters: {
      'exec.task#app': {
        protect: {
          prepareBegin: `echo "frozen $HOARD_CHECKPOINT_ID" >> ${journal}`,
          prepareFinish: `echo "thawed $HOARD_CHECKPOINT_ID" >> ${journal}`,
        },
      },
      'exec.task#slow': {
        protect: { prepareBegin: `echo "started $HOARD_CHECKPOINT_ID" >> ${journal}; sleep 30` },
      },
    },
  });
  assert.equal(r.status, 201, JSON.stringify(r.body));
  plan = r.body.plan;
});
after(() => server.close());

/** Starts a protect of the slow plan and waits until its child's sleep has begun. */
async function startSlowProtect(): Promise<{ logId: string; checkpointId: string }> {
  const accepted = await server.call(alice, 'POST', '/v1/acme/providers/local/checkpoints', {
    planId: plan.id,
  });
  assert.equal(accepted.status, 202, JSON.stringify(accepted.body));
  const logId = accepted.body.operationLog.id;
  const until = Date.now() + 20_000;
  for (;;) {
    const log = (await server.call(alice, 'GET', `/v1/acme/operation_logs/${logId}`)).body.operationLog;
    const text = await readFile(journal, 'utf8').catch(() => '');
    if (log.checkpointId && text.includes(`started ${log.checkpointId}`))
      return { logId, checkpointId: log.checkpointId };
    assert.ok(Date.now() < until, `the slow hook did not start: ${JSON.stringify(log)}`);
    await delay(50);
  }
}

async function journalOf(checkpointId: string): Promise<string[]> {
  return (await readFile(journal, 'utf8'))
    .split('\n')
    .filter((line) => line.endsWith(checkpointId))
    .map((line) => line.split(' ')[0]!);
}

describe('cancelling a running operation', () => {
  it('through the API: the hook is aborted, the teardown runs, the checkpoint ends error and the log cancelled', async () => {
    const { logId, checkpointId } = await startSlowProtect();
    const started = Date.now();
    // Another project's token: as if there were no such log.
    assertError(
      await server.call(bob, 'POST', `/v1/globex/operation_logs/${logId}/cancel`),
      404,
      'NOT_FOUND',
    );
    assertError(await server.call(bob, 'POST', `/v1/acme/operation_logs/${logId}/cancel`), 403, 'FORBIDDEN');

    const cancel = await server.call(alice, 'POST', `/v1/acme/operation_logs/${logId}/cancel`);
    assert.equal(cancel.status, 202, JSON.stringify(cancel.body));
    assert.equal(cancel.headers.get('location'), `/v1/acme/operation_logs/${logId}`);
    assert.equal(cancel.body.operationLog.id, logId);
    assert.equal(typeof cancel.body.operationLog.cancelRequestedAt, 'string');

    const log = await server.waitFor(alice, 'acme', logId, 20_000);
    assert.ok(Date.now() - started < 15_000, 'stopped well before the 30 s sleep ended');
    assert.equal(log.status, 'cancelled', JSON.stringify(log));
    assert.equal(log.error.code, 'OPERATION_CANCELLED');
    assert.match(log.error.message, /cancelled on request/);
    assert.equal(log.checkpointId, checkpointId);
    // The owed teardown ran after the cancel; nothing of the child ran past its aborted hook.
    assert.deepEqual(await journalOf(checkpointId), ['frozen', 'started', 'thawed']);

    const shown = await server.call(alice, 'GET', `/v1/acme/providers/local/checkpoints/${checkpointId}`);
    assert.equal(shown.status, 200, JSON.stringify(shown.body));
    assert.equal(shown.body.checkpoint.status, 'error');
    const tasks = new Map(shown.body.operation.tasks.map((t: Json) => [`${t.resource}:${t.hook}`, t.status]));
    assert.equal(tasks.get('exec.task#app:prepareFinish'), 'succeeded', JSON.stringify([...tasks]));
    assert.notEqual(tasks.get('exec.task#slow:prepareBegin'), 'succeeded');

    // A second cancel, and a cancel of an ended log: a clear 409 naming its status.
    const again = assertError(
      await server.call(alice, 'POST', `/v1/acme/operation_logs/${logId}/cancel`),
      409,
      'OPERATION_NOT_RUNNING',
      /is cancelled: only a queued or running operation can be cancelled/,
    );
    assert.equal(again.details.status, 'cancelled');
    assertError(
      await server.call(alice, 'POST', '/v1/acme/operation_logs/0190a5c2-0000-7000-8000-000000000000/cancel'),
      404,
      'NOT_FOUND',
    );
  });

  it('a cancel asked twice while the first is under way is a 409 naming it', async () => {
    const { logId } = await startSlowProtect();
    // Asked in the catalog (as `hoard operations cancel` does) but not yet seen by the runner.
    assert.ok(await server.catalog.requestCancel('acme', logId));
    assertError(
      await server.call(alice, 'POST', `/v1/acme/operation_logs/${logId}/cancel`),
      409,
      'OPERATION_NOT_RUNNING',
      /is being cancelled already/,
    );
    const log = await server.waitFor(alice, 'acme', logId, 20_000);
    assert.equal(log.status, 'cancelled', 'the runner saw the request in the catalog');
  });

  it('`hoard operations cancel ID --wait` in another process stops it the same way', async () => {
    const { logId, checkpointId } = await startSlowProtect();
    const r = await hoard(['--home', server.home, 'operations', 'cancel', logId, '--wait', '--json']);
    assert.equal(r.code, 0, r.stderr);
    const out = JSON.parse(r.stdout);
    assert.equal(out.operationLog.status, 'cancelled');
    assert.equal(out.operationLog.error.code, 'OPERATION_CANCELLED');
    assert.deepEqual(await journalOf(checkpointId), ['frozen', 'started', 'thawed']);
    const checkpoint = await server.call(
      alice,
      'GET',
      `/v1/acme/providers/local/checkpoints/${checkpointId}`,
    );
    assert.equal(checkpoint.body.checkpoint.status, 'error');

    const listed = await hoard([
      '--home',
      server.home,
      'operations',
      'list',
      '--status',
      'cancelled',
      '--json',
    ]);
    assert.equal(listed.code, 0, listed.stderr);
    const logs = JSON.parse(listed.stdout).operationLogs;
    assert.ok(logs.some((l: Json) => l.id === logId && l.kind === 'protect' && l.project === 'acme'));
    assert.ok(logs.every((l: Json) => l.status === 'cancelled' && !('heartbeatAt' in l)));

    const second = await hoard(['--home', server.home, 'operations', 'cancel', logId]);
    assert.equal(second.code, 2, second.stderr);
    assert.match(second.stderr, /OPERATION_NOT_RUNNING|is cancelled: only a queued or running operation/);
    assert.equal(second.stderr.trim().split('\n').length, 1, second.stderr);
    const unknown = await hoard([
      '--home',
      server.home,
      'operations',
      'cancel',
      '0190a5c2-0000-7000-8000-000000000000',
    ]);
    assert.equal(unknown.code, 2, unknown.stderr);
    assert.match(unknown.stderr, /no operation log 0190a5c2-0000-7000-8000-000000000000/);
  });
});
