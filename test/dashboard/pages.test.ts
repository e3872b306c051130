/**
 * The dashboard's pages for an operator coming from Kopia's UI, in Chromium against a real
 * `hoard serve`: the overview (last success and failure, next run, storage per plan), a
 * checkpoint's page (resources with stats, the file browser, a restore of the whole
 * checkpoint and of chosen files, verify, delete), the Cancel button of a running operation (through the real API),
 * the plan form built from the plugins' schemas, times in the viewer's zone, and every page at
 * 420 px without a page-wide horizontal scroll (screenshots of each into /tmp/dash-shots/).
 */
import assert from 'node:assert/strict';
import type { ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdir, mkdtemp, readdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { setTimeout as delay } from 'node:timers/promises';
import { type Browser, type BrowserContext, chromium, type Page } from 'playwright-core';
import {
  assertSameFiles,
  CHROMIUM,
  CHROMIUM_ARGS,
  hoard,
  NO_CHROMIUM,
  openLoggedIn,
  serve,
  stop,
  viewShown,
  WAIT_MS,
  writeFiles,
} from './harness.js';

const PROJECT = 'pages';
const SHOTS = process.env.HOARD_DASHBOARD_SHOTS ?? '/tmp/dash-shots';
const FILES: Record<string, Buffer> = {
  'readme.txt': Buffer.from('hello\n'),
  'docs/a.md': Buffer.from('# a\n'),
  'docs/deep/b.md': Buffer.from('# b\n'.repeat(1000)),
  'photos/cat.jpg': Buffer.alloc(70_000, 7),
};

// biome-ignore lint/suspicious/noExplicitAny: API bodies, checked field by field below
type Json = Record<string, any>;

describe('the dashboard’s pages in Chromium', { timeout: 5 * WAIT_MS, skip: NO_CHROMIUM }, () => {
  let dir: string;
  let home: string;
  let data: string;
  let token: string;
  let adminToken: string;
  let server: ChildProcess | undefined;
  let url: string;
  let browser: Browser | undefined;
  const contexts: BrowserContext[] = [];
  let plan: Json;
  let failing: Json;
  let checkpoint: Json;
  let protectEnded: string;

  async function call(method: string, path: string, body?: unknown, secret = token): Promise<Json> {
    const res = await fetch(`${url}/v1/${PROJECT}/${path}`, {
      method,
      headers: {
        authorization: `Bearer ${secret}`,
        ...(body === undefined ? {} : { 'content-type': 'application/json' }),
      },
      ...(body === undefined ? {} : { body: JSON.stringify(body) }),
    });
    const text = await res.text();
    assert.ok(res.ok, `${method} ${path}: ${res.status} ${text}`);
    return text ? (JSON.parse(text) as Json) : {};
  }

  /** Polls an operation log until it ends. */
  async function settled(id: string): Promise<Json> {
    for (const started = Date.now(); Date.now() - started < WAIT_MS; ) {
      const { operationLog } = await call('GET', `operation_logs/${id}`);
      if (!['queued', 'running'].includes(operationLog.status)) return operationLog;
      await new Promise((r) => setTimeout(r, 100));
    }
    throw new Error(`operation ${id} did not end within ${WAIT_MS} ms`);
  }

  before(async () => {
    if (!existsSync(CHROMIUM)) throw new Error(`Chromium is not installed at ${CHROMIUM}`);
    dir = await mkdtemp(join(tmpdir(), 'hoard-pages-'));
    home = join(dir, 'home');
    data = join(dir, 'data');
    await writeFiles(data, FILES);
    await mkdir(SHOTS, { recursive: true });
    token = JSON.parse(
      await hoard(['--home', home, 'tokens', 'create', '--project', PROJECT, '--json']),
    ).secret;
    adminToken = JSON.parse(
      await hoard(['--home', home, 'tokens', 'create', '--project', PROJECT, '--admin', '--json']),
    ).secret;
    ({ child: server, url } = await serve(home));

    // A plan with one good checkpoint, and a plan whose protect failed.
    plan = (
      await call('POST', 'plans', {
        name: 'site',
        resources: [{ type: 'fs.directory', id: 'files', path: data }],
      })
    ).plan;
    const protect = await call('POST', 'providers/local/checkpoints', { planId: plan.id });
    const done = await settled(protect.operationLog.id);
    protectEnded = done.endedAt;
    assert.equal(done.status, 'succeeded', JSON.stringify(done.error));
    checkpoint = (await call('GET', `providers/local/checkpoints/${done.checkpointId}`)).checkpoint;
    failing = (
      await call('POST', 'plans', {
        name: 'broken',
        resources: [{ type: 'fs.directory', id: 'gone', path: join(dir, 'no-such-dir') }],
      })
    ).plan;
    const failed = await settled(
      (await call('POST', 'providers/local/checkpoints', { planId: failing.id })).operationLog.id,
    );
    assert.equal(failed.status, 'failed');
    // A schedule for the good plan on a trigger that does not fire while the tests run.
    const trigger = (
      await call('POST', 'triggers', {
        name: 'leap-day',
        type: 'time',
        properties: { pattern: '0 3 29 2 *' },
      })
    ).trigger;
    await call('POST', 'scheduled_operations', {
      name: 'nightly-site',
      operationType: 'protect',
      triggerId: trigger.id,
      operationDefinition: { planId: plan.id },
    });

    browser = await chromium.launch({ executablePath: CHROMIUM, args: CHROMIUM_ARGS });
  });

  after(async () => {
    for (const context of contexts) await context.close().catch(() => {});
    await browser?.close().catch(() => {});
    await stop(server);
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  /** A logged-in tab in `timezoneId` at `width` px; fails the test on any uncaught page error. */
  async function open(
    hash: string,
    { width = 1280, timezoneId = 'Europe/Paris', secret = token } = {},
  ): Promise<{ page: Page; errors: string[] }> {
    const { page, errors, context } = await openLoggedIn(browser!, {
      url,
      hash,
      project: PROJECT,
      secret,
      width,
      timezoneId,
    });
    contexts.push(context);
    return { page, errors };
  }

  /** Waits for the operation view to show a final status and returns it. */
  async function finalStatus(page: Page): Promise<string> {
    await page.waitForURL(/#\/operations\/.+/);
    const status = page.locator(
      '[data-testid="operation-status"]:is([data-status="succeeded"], [data-status="failed"], [data-status="skipped"], [data-status="cancelled"])',
    );
    await status.waitFor();
    return (await status.getAttribute('data-status'))!;
  }

  it('the overview shows per plan its last success and failure, next run and storage used', async () => {
    const { page, errors } = await open('');
    const row = page.locator(`[data-testid="overview-row"][data-plan-id="${plan.id}"]`);
    // Last success: when its protect ended; storage: its checkpoint's stored bytes, as the API lists them.
    assert.equal(await row.getByTestId('last-success').getAttribute('data-at'), protectEnded);
    const listed = await call('GET', `providers/local/checkpoints?planId=${plan.id}`);
    assert.equal(
      await row.getByTestId('storage').getAttribute('data-bytes'),
      String(listed.checkpoints[0].stats.storedBytes),
    );
    assert.ok(listed.checkpoints[0].stats.storedBytes > 0);
    assert.equal((await row.getByTestId('checkpoint-count').textContent())?.trim(), '1');
    assert.match((await row.getByTestId('last-failure').textContent())!, /none/);
    // Next run: the trigger's next fire (29 February, 03:00 UTC) by its schedule's name.
    const next = await row.getByTestId('next-run').getAttribute('data-at');
    assert.match(next!, /-02-29T03:00:00/);
    assert.match((await row.getByTestId('next-run').textContent())!, /nightly-site/);

    const broken = page.locator(`[data-testid="overview-row"][data-plan-id="${failing.id}"]`);
    assert.match((await broken.getByTestId('last-success').textContent())!, /never/);
    assert.match((await broken.getByTestId('last-failure').textContent())!, /no-such-dir/);
    assert.match((await broken.getByTestId('next-run').textContent())!, /not scheduled/);
    await page.screenshot({ path: join(SHOTS, 'overview-desktop.png'), fullPage: true });
    assert.deepEqual(errors, []);
  });

  it('times are in the viewer’s zone, with the zone named', async () => {
    const hash = `#/checkpoints/local/${checkpoint.id}`;
    for (const timezoneId of ['Asia/Tokyo', 'America/New_York']) {
      const { page, errors } = await open(hash, { timezoneId });
      assert.equal((await page.getByTestId('viewer-zone').textContent())?.trim(), `Times in ${timezoneId}`);
      const created = page.locator(
        `[data-testid="checkpoint-details"] time[datetime="${checkpoint.createdAt}"]`,
      );
      const expected = new Date(checkpoint.createdAt).toLocaleString('en-GB', {
        timeZone: timezoneId,
        year: 'numeric',
        month: 'short',
        day: 'numeric',
        hour: '2-digit',
        minute: '2-digit',
        second: '2-digit',
        timeZoneName: 'short',
      });
      assert.equal((await created.textContent())?.trim(), expected);
      assert.match(expected, timezoneId === 'Asia/Tokyo' ? /GMT\+9$/ : /GMT-[45]$|E[SD]T$/);
      assert.deepEqual(errors, []);
    }
  });

  it('a checkpoint’s page shows its resources with their stats and browses its files', async () => {
    const { page, errors } = await open(`#/checkpoints/local/${checkpoint.id}`);
    assert.equal((await page.getByTestId('checkpoint-provider').textContent())?.trim(), 'local');
    const resource = page.locator('[data-testid="resource-row"][data-resource="fs.directory#files"]');
    assert.equal((await resource.getByTestId('resource-files').textContent())?.trim(), '4');
    const logical = Object.values(FILES).reduce((n, b) => n + b.length, 0);
    assert.equal(await resource.getByTestId('resource-bytes').getAttribute('data-bytes'), String(logical));

    await resource.getByTestId('browse-button').click();
    const names = () =>
      page.getByTestId('entry-row').evaluateAll((rows) => rows.map((r) => r.getAttribute('data-path')));
    await page.getByTestId('entry-row').first().waitFor();
    assert.deepEqual(await names(), ['docs', 'photos', 'readme.txt']);
    await page.locator('[data-testid="entry-row"][data-path="docs"]').getByTestId('entry-open').click();
    await page.locator('[data-testid="entry-row"][data-path="docs/deep"]').waitFor();
    assert.deepEqual(await names(), ['docs/deep', 'docs/a.md']);
    const size = page.locator('[data-testid="entry-row"][data-path="docs/a.md"] td[data-bytes]');
    assert.equal(await size.getAttribute('data-bytes'), String(FILES['docs/a.md']!.length));
    // The breadcrumb leads back to the root.
    await page.getByTestId('crumb').first().click();
    await page.locator('[data-testid="entry-row"][data-path="readme.txt"]').waitFor();
    await page.screenshot({ path: join(SHOTS, 'checkpoint-desktop.png'), fullPage: true });
    assert.deepEqual(errors, []);
  });

  it('restores only the files chosen in the browser, then the whole checkpoint', async () => {
    const { page, errors } = await open(`#/checkpoints/local/${checkpoint.id}`);
    await page.getByTestId('browse-button').click();
    await page.locator('[data-testid="entry-row"][data-path="docs"]').getByTestId('entry-open').click();
    await page
      .locator('[data-testid="entry-row"][data-path="docs/deep"]')
      .getByTestId('entry-select')
      .check();
    assert.deepEqual(
      await page.getByTestId('chosen-path').evaluateAll((els) => els.map((e) => e.textContent)),
      ['fs.directory#files docs/deep'],
    );
    assert.equal(
      (await page.getByTestId('restore-submit').textContent())?.trim(),
      'Restore the chosen paths',
    );
    const partial = join(dir, 'partial');
    await page.getByTestId('restore-target').fill(partial);
    await page.getByTestId('restore-submit').click();
    assert.equal(await finalStatus(page), 'succeeded');
    await assertSameFiles(partial, { 'docs/deep/b.md': FILES['docs/deep/b.md']! });
    assert.deepEqual((await readdir(partial)).sort(), ['docs']);
    assert.deepEqual((await readdir(join(partial, 'docs'))).sort(), ['deep']);

    // The whole checkpoint: its one target field, nothing chosen.
    await page.goto(`${url}/#/checkpoints/local/${checkpoint.id}`);
    await viewShown(page, `#/checkpoints/local/${checkpoint.id}`);
    assert.equal((await page.getByTestId('restore-submit').textContent())?.trim(), 'Restore');
    const whole = join(dir, 'whole');
    await page.getByTestId('restore-target').fill(whole);
    await page.getByTestId('restore-submit').click();
    assert.equal(await finalStatus(page), 'succeeded');
    await assertSameFiles(whole, FILES);
    assert.deepEqual(errors, []);
  });

  it('restores only the ticked resources; choosing files unticks the resources where none are chosen', async () => {
    const second = join(dir, 'second');
    await writeFiles(second, { 'only.txt': Buffer.from('second tree') });
    const two = (
      await call('POST', 'plans', {
        name: 'two-trees',
        resources: [
          { type: 'fs.directory', id: 'files', path: data },
          { type: 'fs.directory', id: 'second', path: second },
        ],
      })
    ).plan;
    const made = await settled(
      (await call('POST', 'providers/local/checkpoints', { planId: two.id })).operationLog.id,
    );
    assert.equal(made.status, 'succeeded', JSON.stringify(made.error));
    const { page, errors } = await open(`#/checkpoints/local/${made.checkpointId}`);
    const bodies: Json[] = [];
    await page.route('**/v1/*/restores', (route) => {
      bodies.push(JSON.parse(route.request().postData() ?? '{}'));
      return route.continue();
    });
    const pick = (resource: string) =>
      page.locator(`[data-testid="restore-pick"][data-resource="${resource}"]`);
    const target = (resource: string) =>
      page.locator(`[data-testid="restore-target"][data-resource="${resource}"]`);
    assert.equal(await pick('fs.directory#files').isChecked(), true);
    assert.equal(await pick('fs.directory#second').isChecked(), true);

    // Choosing a file of `files` leaves only `files` ticked; its target alone is asked for.
    await page
      .locator('[data-testid="resource-row"][data-resource="fs.directory#files"]')
      .getByTestId('browse-button')
      .click();
    await page
      .locator('[data-testid="entry-row"][data-path="readme.txt"]')
      .getByTestId('entry-select')
      .check();
    assert.equal(await pick('fs.directory#second').isChecked(), false);
    assert.equal(await target('fs.directory#second').isDisabled(), true);
    // "Restore everything instead" ticks every resource again; untick `files` by hand instead.
    await page.getByTestId('clear-chosen').click();
    assert.equal(await pick('fs.directory#second').isChecked(), true);
    await pick('fs.directory#files').uncheck();
    const restored = join(dir, 'second-only');
    await target('fs.directory#second').fill(restored);
    await page.screenshot({ path: join(SHOTS, 'checkpoint-two-resources.png'), fullPage: true });
    await page.getByTestId('restore-submit').click();
    assert.equal(await finalStatus(page), 'succeeded');
    assert.deepEqual(bodies.at(-1)!.resources, ['fs.directory#second']);
    assert.deepEqual(Object.keys(bodies.at(-1)!.parameters), ['fs.directory#second']);
    await assertSameFiles(restored, { 'only.txt': Buffer.from('second tree') });
    assert.deepEqual(await readdir(restored), ['only.txt']);
    assert.deepEqual(errors, []);
  });

  it('a target field is required for each resource whose restore schema requires one', async () => {
    const { page, errors } = await open(`#/checkpoints/local/${checkpoint.id}`);
    let posted = 0;
    await page.route('**/v1/*/restores', (route) => {
      posted++;
      return route.continue();
    });
    await page.getByTestId('restore-submit').click();
    const invalid = await page
      .getByTestId('restore-target')
      .evaluate((el) => (el as unknown as { validity: { valueMissing: boolean } }).validity.valueMissing);
    assert.equal(invalid, true);
    assert.equal(posted, 0);
    assert.equal(page.url().includes('#/operations/'), false);
    assert.deepEqual(errors, []);
  });

  it('verifies and deletes a checkpoint from its page', async () => {
    const protect = await call('POST', 'providers/local/checkpoints', { planId: plan.id });
    const id = (await settled(protect.operationLog.id)).checkpointId;
    const { page, errors } = await open(`#/checkpoints/local/${id}`);
    await page.getByTestId('verify-button').click();
    assert.equal(await finalStatus(page), 'succeeded');
    assert.equal((await page.getByTestId('operation-provider').textContent())?.trim(), 'local');
    await page.getByTestId('operation-checkpoint').locator('a').click();
    await viewShown(page, new RegExp(`^#/checkpoints/[^/]+/${id}$`));
    page.once('dialog', (dialog) => void dialog.accept());
    await page.getByTestId('delete-button').click();
    assert.equal(await finalStatus(page), 'succeeded');
    const gone = await fetch(`${url}/v1/${PROJECT}/providers/local/checkpoints/${id}`, {
      headers: { authorization: `Bearer ${token}` },
    });
    assert.equal(gone.status, 404, 'a deleted checkpoint is gone');
    assert.deepEqual(errors, []);
  });

  it('Cancel on a running operation stops it through the API, and a refused cancel goes to the banner', async () => {
    // A run that takes a while (an admin may run commands), cancelled in the page.
    const slow = (
      await call(
        'POST',
        'plans',
        {
          name: 'slow',
          resources: [{ type: 'exec.task', id: 'wait' }],
          parameters: { 'exec.task': { protect: { main: 'sleep 120' } } },
        },
        adminToken,
      )
    ).plan;
    const run = (await call('POST', 'providers/local/checkpoints', { planId: slow.id }, adminToken))
      .operationLog;
    // The page is opened once the hook runs, so only the log's `live` can tell it when it began.
    for (let live: Json[] = []; !live.some((t) => t.status === 'running'); await delay(50))
      live = (await call('GET', `operation_logs/${run.id}`, undefined, adminToken)).operationLog.live ?? [];
    const { page, errors } = await open(`#/operations/${run.id}`, { secret: adminToken });
    const requests: { method: string; path: string; status: number }[] = [];
    page.on('response', (response) => {
      const url = new URL(response.url());
      if (url.pathname.endsWith('/cancel'))
        requests.push({ method: response.request().method(), path: url.pathname, status: response.status() });
    });
    const cancel = page.getByTestId('cancel-button');
    await page.locator('[data-testid="operation-status"][data-status="running"]').waitFor();
    await cancel.waitFor();
    // Opened while its hook ran: the log's `live` tells when the hook started (before, "—").
    const hookRow = page.locator('[data-testid="task-row"][data-status="running"]');
    await hookRow.waitFor();
    const started = await hookRow.locator('td.when time').first().getAttribute('datetime');
    assert.ok(started && !Number.isNaN(Date.parse(started)), `a start time for the running hook: ${started}`);
    page.on('dialog', (dialog) => void dialog.accept());

    // A refusal (here answered in the browser: the run had ended meanwhile) goes to the banner.
    await page.route('**/operation_logs/*/cancel', (route) =>
      route.fulfill({
        status: 409,
        contentType: 'application/json',
        body: JSON.stringify({
          error: { code: 'OPERATION_NOT_RUNNING', message: `operation ${run.id} is not running` },
        }),
      }),
    );
    await cancel.click();
    await page.getByTestId('error-banner').waitFor();
    assert.match((await page.getByTestId('error-banner').textContent())!, /not running/);
    await page.unroute('**/operation_logs/*/cancel');

    // The real cancel: the server stops the hook long before its 120 s sleep ends (a loaded
    // machine may take many seconds to get here: the run must still be going), and the
    // page follows the log to `cancelled`; the button goes.
    // Its 202 (the log while the run still ran) is held until the stream has said `cancelled`:
    // the late answer must not put the page back to `running`.
    const shownCancelled = page.locator('[data-testid="operation-status"][data-status="cancelled"]');
    await page.route('**/operation_logs/*/cancel', async (route) => {
      const response = await route.fetch();
      await shownCancelled.waitFor({ timeout: 12_000 }).catch(() => {});
      await route.fulfill({ response });
    });
    const answered = page.waitForResponse((r) => r.url().endsWith('/cancel') && r.status() === 202);
    const began = Date.now();
    await cancel.click();
    await shownCancelled.waitFor({ timeout: 12_000 });
    await answered;
    await page.waitForTimeout(300);
    assert.equal(await page.getByTestId('operation-status').getAttribute('data-status'), 'cancelled');
    await cancel.waitFor({ state: 'hidden' });
    assert.ok(Date.now() - began < 12_000);
    assert.deepEqual(
      requests.filter((r) => r.status !== 409),
      [{ method: 'POST', path: `/v1/${PROJECT}/operation_logs/${run.id}/cancel`, status: 202 }],
    );
    const ended = (await call('GET', `operation_logs/${run.id}`, undefined, adminToken)).operationLog;
    assert.equal(ended.status, 'cancelled');
    assert.deepEqual(errors, []);
    await settled(run.id);
  });

  it('the plan form builds a plan from its types’ fields and names a wrong one before sending', async () => {
    const { page, errors } = await open('#/plans');
    let posted = 0;
    await page.route('**/v1/*/plans', (route) => {
      if (route.request().method() === 'POST') posted++;
      return route.continue();
    });
    await page.getByTestId('new-plan').locator('> summary').click();
    await page.getByTestId('plan-name').fill('from-fields');
    const first = page.getByTestId('plan-resource').nth(0);
    await first.getByTestId('resource-type').selectOption('fs.directory');
    await first.getByTestId('resource-id').fill('site');
    await first.locator('input[data-testid$="-path"]').fill(data);
    await page.getByTestId('add-resource').click();
    const second = page.getByTestId('plan-resource').nth(1);
    await second.getByTestId('resource-type').selectOption('fs.directory');
    await second.getByTestId('resource-id').fill('photos');
    await second.locator('input[data-testid$="-path"]').fill(join(data, 'photos'));
    await first.getByTestId('resource-children').fill('photos, nothing');
    const options = page.locator('[data-testid="plan-parameters-of"][data-type="fs.directory"]');
    await options.getByTestId('param-fs.directory-exclude').fill('*.tmp\n/cache/');
    await options.getByTestId('param-fs.directory-concurrency').fill('0');
    await page.getByTestId('plan-submit').click();
    const problem = page.getByTestId('plan-form-error');
    await problem.waitFor();
    const text = (await problem.textContent())!;
    assert.match(text, /child "nothing" is not a resource of this plan/);
    assert.match(text, /parameters\.fs\.directory\.concurrency: expected at least 1, got 0/);
    assert.equal(posted, 0, 'nothing is sent while the form has problems');
    await page.screenshot({ path: join(SHOTS, 'plan-form-desktop.png'), fullPage: true });

    await first.getByTestId('resource-children').fill('photos');
    await options.getByTestId('param-fs.directory-concurrency').fill('2');
    // A host (SPEC §12: its hooks run on that host's agent) must be a host name.
    const host = second.getByTestId('resource-host');
    await host.fill('not a host!');
    await page.getByTestId('plan-submit').click();
    assert.equal(
      await host.evaluate(
        (el) => (el as unknown as { validity: { patternMismatch: boolean } }).validity.patternMismatch,
      ),
      true,
    );
    assert.equal(posted, 0);
    await host.fill('db-1');
    await page.getByTestId('plan-submit').click();
    await page.locator('[data-testid="plan-row"][data-plan-name="from-fields"]').waitFor();
    const made = (await call('GET', 'plans?limit=1000')).plans.find((p: Json) => p.name === 'from-fields');
    assert.deepEqual(made.resources, [
      { type: 'fs.directory', id: 'site', path: data, children: ['photos'] },
      { type: 'fs.directory', id: 'photos', path: join(data, 'photos'), host: 'db-1' },
    ]);
    assert.deepEqual(made.parameters, { 'fs.directory': { exclude: ['*.tmp', '/cache/'], concurrency: 2 } });
    assert.equal(posted, 1);
    assert.deepEqual(errors, []);
  });

  it('every page fits 420 px without a page-wide horizontal scroll', async () => {
    const pages: [string, string][] = [
      ['overview', '#/overview'],
      ['plans', '#/plans'],
      ['schedules', '#/schedules'],
      ['providers', '#/providers'],
      ['checkpoints', '#/checkpoints'],
      ['checkpoint', `#/checkpoints/local/${checkpoint.id}`],
      ['operations', '#/operations'],
      ['operation', `#/operations/${(await call('GET', 'operation_logs?limit=1')).operationLogs[0].id}`],
    ];
    for (const [name, hash] of pages) {
      for (const width of [420, 1280]) {
        const { page, errors } = await open(hash, { width });
        if (name === 'checkpoint') {
          await page.getByTestId('browse-button').click();
          await page.getByTestId('entry-row').first().waitFor();
        }
        const overflow = await page.evaluate('document.documentElement.scrollWidth');
        await page.screenshot({
          path: join(SHOTS, `${name}-${width === 420 ? '420' : 'desktop'}.png`),
          fullPage: true,
        });
        assert.ok((overflow as number) <= width, `${name} at ${width} px is ${overflow} px wide`);
        assert.deepEqual(errors, []);
        await page.context().close();
      }
    }
  });
});
