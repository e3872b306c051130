/**
 * The dashboard end to end, as a user meets it: a real `hoard serve` process, a token made
 * with the CLI, and Debian's Chromium driven by playwright-core. The user logs in, protects a
 * plan, watches its hook graph go green, and restores the checkpoint into a directory whose
 * bytes must equal the originals; then creates a plan, a trigger and a retention schedule in
 * the forms, watches the scheduled runs prune, and restores what retention kept.
 */
import assert from 'node:assert/strict';
import type { ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { type Browser, type BrowserContext, chromium, type Page } from 'playwright-core';
import {
  assertSameFiles,
  CHROMIUM,
  CHROMIUM_ARGS,
  hoard,
  NO_CHROMIUM,
  serve,
  stop,
  viewShown,
  WAIT_MS,
  writeFiles,
} from './harness.js';

const PROJECT = 'e2e';
/** Browser-side expressions (the test is compiled without the DOM library). */
const SESSION = `sessionStorage.getItem('hoard.session')`;
const ALL_NODES_SUCCEEDED = `(() => {
  const nodes = [...document.querySelectorAll('[data-testid="graph-node"]')];
  return nodes.length > 0 && nodes.every((n) => n.dataset.status === 'succeeded');
})()`;

/** The files the plan protects: path under the data directory → content. */
const FILES: Record<string, Buffer> = {
  'notes.txt': Buffer.from('the quick brown fox\n'),
  'empty.txt': Buffer.alloc(0),
  'nested/deeper/random.bin': randomBytes(300_000),
  'nested/été ☃.txt': Buffer.from('unicode names survive\n'),
};

/** The files of the plan made in the dashboard's form and protected on a schedule. */
const SCHEDULED_FILES: Record<string, Buffer> = {
  'report.txt': Buffer.from('protected every second\n'),
  'data/blob.bin': randomBytes(50_000),
  'data/empty': Buffer.alloc(0),
};

describe('the dashboard in Chromium', { timeout: 5 * WAIT_MS, skip: NO_CHROMIUM }, () => {
  let dir: string;
  let home: string;
  let data: string;
  let token: string;
  let server: ChildProcess | undefined;
  let url: string;
  let planId: string;
  let browser: Browser | undefined;
  const contexts: BrowserContext[] = [];

  before(async () => {
    if (!existsSync(CHROMIUM)) {
      throw new Error(
        `Chromium is not installed at ${CHROMIUM}: run "apt-get install chromium" to run this test`,
      );
    }
    dir = await mkdtemp(join(tmpdir(), 'hoard-dashboard-'));
    home = join(dir, 'home');
    data = join(dir, 'data');
    await writeFiles(data, FILES);

    const created = JSON.parse(
      await hoard(['--home', home, 'tokens', 'create', '--project', PROJECT, '--json']),
    );
    token = created.secret;
    assert.match(token, /^hrd_/);
    ({ child: server, url } = await serve(home));

    const res = await fetch(`${url}/v1/${PROJECT}/plans`, {
      method: 'POST',
      headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
      body: JSON.stringify({
        name: 'e2e-files',
        providerId: 'local',
        resources: [{ type: 'fs.directory', id: 'files', path: data }],
      }),
    });
    assert.equal(res.status, 201, await res.clone().text());
    planId = ((await res.json()) as { plan: { id: string } }).plan.id;

    browser = await chromium.launch({
      executablePath: CHROMIUM,
      args: CHROMIUM_ARGS,
    });
  });

  after(async () => {
    for (const context of contexts) await context.close().catch(() => {});
    await browser?.close().catch(() => {});
    await stop(server);
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  /** A fresh tab (own sessionStorage) that fails the test on any uncaught page error. */
  async function open(): Promise<{ page: Page; errors: string[] }> {
    const context = await browser!.newContext();
    contexts.push(context);
    const page = await context.newPage();
    page.setDefaultTimeout(WAIT_MS);
    const errors: string[] = [];
    page.on('pageerror', (error) => errors.push(error.message));
    await page.goto(url);
    return { page, errors };
  }

  async function logIn(page: Page, secret: string): Promise<void> {
    await page.getByTestId('login-project').fill(PROJECT);
    await page.getByTestId('login-token').fill(secret);
    await page.getByTestId('login-submit').click();
  }

  /** Waits for the operation view to show a final status and returns it. */
  async function finalStatus(page: Page): Promise<string> {
    await page.waitForURL(/#\/operations\/.+/);
    const status = page.locator(
      '[data-testid="operation-status"]:is([data-status="succeeded"], [data-status="failed"], [data-status="skipped"])',
    );
    await status.waitFor();
    return (await status.getAttribute('data-status'))!;
  }

  it('a wrong token is rejected and the login form stays', async () => {
    const { page, errors } = await open();
    await logIn(page, 'hrd_not-a-real-token');
    const message = page.getByTestId('login-error');
    await message.waitFor();
    assert.equal((await message.textContent())?.trim(), 'token rejected');
    assert.equal(await page.getByTestId('login-form').isVisible(), true);
    assert.equal(await page.getByTestId('nav').isVisible(), false);
    assert.deepEqual(errors, []);
  });

  it('a token revoked in the middle of a session returns to the login form', async () => {
    const created = JSON.parse(
      await hoard(['--home', home, 'tokens', 'create', '--project', PROJECT, '--json']),
    );
    const { page, errors } = await open();
    await logIn(page, created.secret);
    await page.getByTestId('nav-plans').click();
    await page.locator(`[data-testid="plan-row"][data-plan-id="${planId}"]`).waitFor();
    await hoard(['--home', home, 'tokens', 'revoke', created.token.id]);
    // The next request meets the revoked token: the click's, or a refresh of the page already
    // under way (on a slow machine it may come first and hide the navigation before the click).
    const nav = page.getByTestId('nav-providers');
    if (await nav.isVisible()) await nav.click({ timeout: 10_000 }).catch(() => {});
    await page.getByTestId('login-form').waitFor();
    assert.equal((await page.getByTestId('login-error').textContent())?.trim(), 'token rejected');
    assert.equal(await page.evaluate(SESSION), null);
    assert.deepEqual(errors, []);
  });

  it('protects a plan, shows every hook succeeded, and restores the checkpoint byte for byte', async () => {
    const { page, errors } = await open();
    await logIn(page, token);
    await page.getByTestId('nav-plans').click();

    // Protect, then follow the operation until its graph is all green.
    const row = page.locator(`[data-testid="plan-row"][data-plan-id="${planId}"]`);
    await row.getByTestId('protect-button').click();
    assert.equal(await finalStatus(page), 'succeeded');
    await page.waitForFunction(ALL_NODES_SUCCEEDED);
    const nodes = await page
      .getByTestId('graph-node')
      .evaluateAll((els) => els.map((el) => el.getAttribute('data-task-id')));
    assert.deepEqual(nodes.sort(), [
      'fs.directory#files:complete',
      'fs.directory#files:main',
      'fs.directory#files:prepareBegin',
      'fs.directory#files:prepareFinish',
    ]);
    assert.equal(await page.locator('[data-testid="task-row"][data-status="succeeded"]').count(), 4);
    const checkpointId = (await page.getByTestId('operation-checkpoint').locator('a').textContent())!.trim();
    assert.match((await page.getByTestId('operation-stats').textContent())!, /^4 files, 293 KiB /);

    // The new checkpoint is listed as available; restore it into a new directory.
    await page.getByTestId('nav-checkpoints').click();
    const checkpoint = page.locator(
      `[data-testid="checkpoint-row"][data-checkpoint-id="${checkpointId}"][data-status="available"]`,
    );
    await checkpoint.waitFor();
    // Its size: the protect's logical bytes (SPEC §13), as the CLI writes them.
    const logical = Object.values(FILES).reduce((n, b) => n + b.length, 0);
    const size = checkpoint.getByTestId('checkpoint-size');
    assert.equal(await size.getAttribute('data-bytes'), String(logical));
    assert.equal((await size.textContent())?.trim(), `${(logical / 1024).toFixed(0)} KiB`);
    assert.match(
      (await size.getAttribute('title'))!,
      /^4 files, 293 KiB \(293 KiB new, [\d.]+ KiB stored\) in /,
    );
    // Its page restores it: one target field, for its one resource.
    await checkpoint.getByTestId('checkpoint-link').click();
    await viewShown(page, /^#\/checkpoints\/[^/]+\/[^/]+$/);
    assert.equal(await page.getByTestId('restore-target').count(), 1);
    const target = join(dir, 'restored');
    await page.getByTestId('restore-target').fill(target);
    await page.getByTestId('restore-submit').click();
    assert.equal(await finalStatus(page), 'succeeded');
    // The graph is fetched after the status is drawn: wait for it rather than count no nodes.
    await page.waitForFunction(ALL_NODES_SUCCEEDED);

    await assertSameFiles(target, FILES);
    assert.deepEqual(errors, []);
  });

  it('verifies the checkpoint, then deletes it after a confirmation', async () => {
    const { page, errors } = await open();
    await logIn(page, token);
    await page.getByTestId('nav-checkpoints').click();
    const available = page.locator('[data-testid="checkpoint-row"][data-status="available"]');
    await available.first().waitFor();
    const checkpointId = (await available.first().getAttribute('data-checkpoint-id'))!;
    const row = page.locator(`[data-testid="checkpoint-row"][data-checkpoint-id="${checkpointId}"]`);

    await row.getByTestId('verify-button').click();
    assert.equal(await finalStatus(page), 'succeeded');

    await page.getByTestId('nav-checkpoints').click();
    const dialogs: string[] = [];
    page.once('dialog', (dialog) => {
      dialogs.push(dialog.type());
      void dialog.accept();
    });
    await row.getByTestId('delete-button').click();
    assert.equal(await finalStatus(page), 'succeeded');
    assert.deepEqual(dialogs, ['confirm']);

    await page.getByTestId('nav-checkpoints').click();
    await viewShown(page, '#/checkpoints');
    assert.equal(
      await page
        .locator(
          `[data-testid="checkpoint-row"][data-checkpoint-id="${checkpointId}"][data-status="available"]`,
        )
        .count(),
      0,
    );
    assert.deepEqual(errors, []);
  });

  it('lists the operations a page at a time, and logs out', async () => {
    const { page, errors } = await open();
    await logIn(page, token);
    await page.getByTestId('nav-operations').click();
    await page.locator('[data-testid="operation-row"][data-status="succeeded"]').first().waitFor();
    const kinds = await page
      .getByTestId('operation-row')
      .evaluateAll((rows) => rows.map((r) => r.querySelectorAll('td')[1]?.textContent));
    assert.deepEqual(kinds.sort(), ['delete', 'protect', 'restore', 'verify']);

    // Pages of one: next page shows the next older operation, first page returns. (A hash-only
    // goto leaves the list of four on screen until the router draws the new one.)
    await page.goto(`${url}/#/operations?limit=1`);
    await viewShown(page, '#/operations?limit=1');
    const shown = () =>
      page
        .getByTestId('operation-row')
        .evaluateAll((rows) => rows.map((r) => r.getAttribute('data-operation-id')));
    const first = await shown();
    assert.equal(first.length, 1);
    await page.getByTestId('next-page').click();
    await viewShown(page, /^#\/operations\?.*marker=/);
    const second = await shown();
    assert.equal(second.length, 1);
    assert.notEqual(second[0], first[0]);
    assert.ok(second[0]! < first[0]!, 'the next page is older (ids sort by creation time)');
    await page.getByTestId('first-page').click();
    await viewShown(page, '#/operations?limit=1');
    assert.deepEqual(await shown(), first);

    await page.getByTestId('logout').click();
    await page.getByTestId('login-form').waitFor();
    assert.equal(await page.evaluate(SESSION), null);
    assert.deepEqual(errors, []);
  });

  // The tests below add scheduled runs: they come after the one that counts the operations.

  it('deletes a plan after a confirmation', async () => {
    const res = await fetch(`${url}/v1/${PROJECT}/plans`, {
      method: 'POST',
      headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
      body: JSON.stringify({
        name: 'e2e-doomed',
        resources: [{ type: 'fs.directory', id: 'x', path: data }],
      }),
    });
    assert.equal(res.status, 201, await res.clone().text());
    const { page, errors } = await open();
    await logIn(page, token);
    await page.getByTestId('nav-plans').click();
    const row = page.locator('[data-testid="plan-row"][data-plan-name="e2e-doomed"]');
    const dialogs: string[] = [];
    page.once('dialog', (dialog) => {
      dialogs.push(dialog.message());
      void dialog.accept();
    });
    await row.getByTestId('plan-delete-button').click();
    await page.locator(`[data-testid="plan-row"][data-plan-id="${planId}"]`).waitFor();
    await row.waitFor({ state: 'detached' });
    assert.deepEqual(dialogs, ['Delete plan e2e-doomed? Its checkpoints stay.']);
    assert.deepEqual(errors, []);
  });

  it('shows the server’s message for a cron pattern that never fires', async () => {
    const { page, errors } = await open();
    await logIn(page, token);
    await page.getByTestId('nav-schedules').click();
    await page.getByTestId('new-trigger').locator('summary').click();
    await page.getByTestId('trigger-name').fill('never');
    await page.getByTestId('trigger-pattern').fill('0 0 30 2 *');
    await page.getByTestId('trigger-submit').click();
    const problem = page.getByTestId('trigger-form-error');
    await problem.waitFor();
    assert.match((await problem.textContent())!, /TRIGGER_INVALID.*"0 0 30 2 \*" never fires/);
    assert.equal(await page.getByTestId('trigger-created').isVisible(), false);
    assert.equal(await page.locator('[data-testid="trigger-row"][data-trigger-name="never"]').count(), 0);
    assert.deepEqual(errors, []);
  });

  it('schedules rsbackup’s decay policy from the form, defaults filled in, and deletes the schedule', async () => {
    // A trigger that does not fire while the tests run (29 February).
    const res = await fetch(`${url}/v1/${PROJECT}/triggers`, {
      method: 'POST',
      headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
      body: JSON.stringify({ name: 'leap-day', type: 'time', properties: { pattern: '0 3 29 2 *' } }),
    });
    assert.equal(res.status, 201, await res.clone().text());
    const triggerId = ((await res.json()) as { trigger: { id: string } }).trigger.id;
    const { page, errors } = await open();
    await logIn(page, token);
    await page.getByTestId('nav-schedules').click();
    await viewShown(page, '#/schedules');
    await page.getByTestId('new-schedule').locator('summary').click();
    await page.getByTestId('schedule-name').fill('decaying');
    await page.getByTestId('schedule-type').selectOption('retention_protect');
    await page.getByTestId('schedule-trigger').selectOption(triggerId);
    await page.getByTestId('schedule-plan').selectOption(planId);
    await page.getByTestId('retention-kind').selectOption('decay');
    assert.equal(await page.getByTestId('retention-decay').isVisible(), true);
    assert.equal(await page.getByTestId('retention-age').isVisible(), false);
    await page.getByTestId('retention-decay-start').fill('2');
    await page.getByTestId('retention-decay-scale').fill('1');
    await page.getByTestId('schedule-submit').click();
    const problem = page.getByTestId('schedule-form-error');
    await problem.waitFor();
    assert.match(
      (await problem.textContent())!,
      /RETENTION_INVALID.*scale: expected a number above 1, got 1/,
    );

    await page.getByTestId('retention-decay-scale').fill('3');
    await page.getByTestId('schedule-submit').click();
    const row = page.locator('[data-testid="schedule-row"][data-schedule-name="decaying"]');
    await row.waitFor();
    assert.match((await row.textContent())!, /decay: start 2, window 1, scale 3, limit 366/);

    page.once('dialog', (dialog) => void dialog.accept());
    await row.getByTestId('schedule-delete-button').click();
    await row.waitFor({ state: 'detached' });
    assert.deepEqual(errors, []);
  });

  it('creates a plan and a retention schedule in the forms, prunes to 2, and restores the newest', async () => {
    const source = join(dir, 'scheduled');
    await writeFiles(source, SCHEDULED_FILES);
    const { page, errors } = await open();
    await logIn(page, token);

    // A plan from the form's advanced JSON: first a type the provider does not handle (named
    // before anything is sent), then a good one.
    await page.getByTestId('nav-plans').click();
    await page.getByTestId('new-plan').locator('> summary').click();
    await page.getByTestId('plan-name').fill('e2e-scheduled');
    await page.getByTestId('plan-description').fill('made in the dashboard');
    await page.getByTestId('plan-advanced').locator('summary').click();
    await page.getByTestId('plan-resources').fill('[{"type": "fs.nothing", "id": "x"}]');
    await page.getByTestId('plan-submit').click();
    const planProblem = page.getByTestId('plan-form-error');
    await planProblem.waitFor();
    assert.match((await planProblem.textContent())!, /PLAN_INVALID.*unknown resource type "fs.nothing"/);
    await page
      .getByTestId('plan-resources')
      .fill(JSON.stringify([{ type: 'fs.directory', id: 'files', path: source }]));
    await page.getByTestId('plan-submit').click();
    const planRow = page.locator('[data-testid="plan-row"][data-plan-name="e2e-scheduled"]');
    await planRow.waitFor();
    const newPlanId = (await planRow.getAttribute('data-plan-id'))!;

    // A trigger that fires every second: the form shows its next five fire times.
    await page.getByTestId('nav-schedules').click();
    await page.getByTestId('new-trigger').locator('summary').click();
    await page.getByTestId('trigger-name').fill('every-second');
    await page.getByTestId('trigger-pattern').fill('* * * * * *');
    assert.equal(await page.getByTestId('trigger-timezone').inputValue(), 'UTC');
    await page.getByTestId('trigger-submit').click();
    await page.getByTestId('trigger-created').waitFor();
    const fires = await page
      .getByTestId('trigger-created')
      .getByTestId('next-fire')
      .evaluateAll((els) => els.map((el) => el.querySelector('time')?.getAttribute('datetime')));
    assert.equal(fires.length, 5);
    for (let i = 1; i < fires.length; i++)
      assert.equal(Date.parse(fires[i]!) - Date.parse(fires[i - 1]!), 1000, `fires: ${fires.join(', ')}`);
    const triggerRow = page.locator('[data-testid="trigger-row"][data-trigger-name="every-second"]');
    await triggerRow.locator('[data-testid="next-fire"]').first().waitFor();
    const triggerId = (await triggerRow.getAttribute('data-trigger-id'))!;

    // retention_protect keeping the newest 2.
    await page.getByTestId('new-schedule').locator('summary').click();
    await page.getByTestId('schedule-name').fill('keep-two');
    await page.getByTestId('schedule-type').selectOption('retention_protect');
    await page.getByTestId('schedule-trigger').selectOption(triggerId);
    await page.getByTestId('schedule-plan').selectOption(newPlanId);
    await page.getByTestId('retention-kind').selectOption('max_backups');
    await page.getByTestId('retention-count').fill('2');
    await page.getByTestId('schedule-submit').click();
    const scheduleRow = page.locator('[data-testid="schedule-row"][data-schedule-name="keep-two"]');
    await scheduleRow.waitFor();
    assert.equal(await scheduleRow.getAttribute('data-enabled'), 'true');
    const scheduleId = (await scheduleRow.getAttribute('data-schedule-id'))!;
    const runsUrl = /#\/operations\?scheduledOperation=/;

    // Its runs, as the filtered operations list follows them.
    await scheduleRow.getByTestId('schedule-runs').click();
    await page.waitForURL(runsUrl);
    await page.waitForFunction(
      `document.querySelectorAll('[data-testid="operation-row"][data-status="succeeded"]').length >= 3`,
    );
    const kinds = await page
      .getByTestId('operation-row')
      .evaluateAll((rows) => rows.map((r) => r.getAttribute('data-kind')));
    assert.deepEqual([...new Set(kinds)], ['retention_protect']);

    // Disable it; the trigger it uses cannot be deleted meanwhile.
    await page.getByTestId('nav-schedules').click();
    await scheduleRow.getByTestId('schedule-toggle').click();
    await page
      .locator(`[data-testid="schedule-row"][data-schedule-id="${scheduleId}"][data-enabled="false"]`)
      .waitFor();
    page.once('dialog', (dialog) => void dialog.accept());
    await triggerRow.getByTestId('trigger-delete-button').click();
    await page.getByTestId('error-banner').waitFor();
    assert.match((await page.getByTestId('error-banner').textContent())!, /CATALOG_IN_USE.*keep-two/);

    // Once no run is under way, retention has left exactly 2 available checkpoints.
    await scheduleRow.getByTestId('schedule-runs').click();
    await page.waitForURL(runsUrl);
    await page.getByTestId('operation-row').first().waitFor();
    await page.waitForFunction(`(() => {
      const rows = [...document.querySelectorAll('[data-testid="operation-row"]')];
      return rows.length > 0 && rows.every((r) => ['succeeded', 'failed', 'skipped'].includes(r.dataset.status));
    })()`);
    // Each filter changes the route; the selects keep the chosen value while the old table is
    // still on screen, so wait for the view drawn for the new route, then check its filters.
    const filters = () =>
      page.evaluate(
        `[...document.querySelectorAll('select[data-testid="checkpoint-plan"], select[data-testid="checkpoint-status"]')].map((s) => s.value)`,
      );
    await page.getByTestId('nav-checkpoints').click();
    await viewShown(page, '#/checkpoints');
    await page.getByTestId('checkpoint-plan').selectOption(newPlanId);
    await viewShown(page, new RegExp(`^#/checkpoints\\?.*plan=${newPlanId}`));
    assert.deepEqual(await filters(), [newPlanId, '']);
    await page.locator('select[data-testid="checkpoint-status"]').selectOption('available');
    await viewShown(page, new RegExp(`^#/checkpoints\\?.*plan=${newPlanId}.*&status=available`));
    assert.deepEqual(await filters(), [newPlanId, 'available']);
    const available = await page
      .getByTestId('checkpoint-row')
      .evaluateAll((rows) =>
        rows.map((r) => [r.getAttribute('data-checkpoint-id'), r.getAttribute('data-status')]),
      );
    assert.equal(available.length, 2, JSON.stringify(available));
    assert.ok(available.every(([, status]) => status === 'available'));
    const newest = available[0]![0]!;

    // The newest run's retention decisions: 2 kept, the older ones deleted.
    await page.goto(`${url}/#/operations?scheduledOperation=${scheduleId}&status=succeeded`);
    await page.getByTestId('operation-row').first().locator('a[href^="#/operations/"]').click();
    assert.equal(await finalStatus(page), 'succeeded');
    // The schedule's name replaces its id once the page has fetched it.
    await page.locator('[data-testid="operation-schedule"]', { hasText: 'keep-two' }).waitFor();
    assert.equal((await page.getByTestId('operation-schedule').textContent())?.trim(), 'keep-two');
    await page.getByTestId('retention-table').waitFor();
    const decisions = await page.getByTestId('retention-row').evaluateAll((rows) =>
      rows.map((r) => ({
        decision: r.querySelector('[data-testid="retention-decision"]')?.textContent,
        text: r.textContent,
      })),
    );
    const shown = JSON.stringify(decisions);
    const kept = decisions.filter((d) => d.decision === 'kept');
    const deleted = decisions.filter((d) => d.decision === 'deleted');
    assert.equal(kept.length, 2, shown);
    assert.ok(deleted.length >= 1, shown);
    assert.equal(kept.length + deleted.length, decisions.length, shown);
    assert.ok(
      deleted.every((d) => d.text!.includes('not among the newest 2 (max_backups)')),
      shown,
    );

    // Restore the newest checkpoint retention kept.
    await page.goto(`${url}/#/checkpoints?plan=${newPlanId}&status=available`);
    const row = page.locator(`[data-testid="checkpoint-row"][data-checkpoint-id="${newest}"]`);
    await row.waitFor();
    await row.getByTestId('open-button').click();
    await viewShown(page, new RegExp(`^#/checkpoints/[^/]+/${newest}$`));
    const target = join(dir, 'restored-scheduled');
    await page.getByTestId('restore-target').fill(target);
    await page.getByTestId('restore-submit').click();
    assert.equal(await finalStatus(page), 'succeeded');
    await assertSameFiles(target, SCHEDULED_FILES);
    assert.deepEqual(errors, []);
  });
});
