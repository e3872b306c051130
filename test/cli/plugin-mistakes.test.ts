/**
 * Through the CLI (in-process; a real process where its unhandled-rejection handler is what
 * is tested): a plugin's mistake, or a dead protect's damaged journal, costs only
 * its own plan and checkpoint; the next protect of another plan succeeds.
 */
import assert from 'node:assert/strict';
import { mkdir, mkdtemp, readdir, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { FsBank } from '../../src/bank/index.js';
import { journalPrefix } from '../../src/checkpoints/keys.js';
import { deadProtect } from '../flows/dead-protect.js';
import { hoardProcess, type Ran, hoard as run } from './helpers.js';

/** `hoard --home HOME ARGS…` in-process. */
function hoard(home: string, args: string[]): Promise<Ran> {
  return run(['--home', home, ...args]);
}

describe('hoard CLI: a plugin mistake stops only its own plan', () => {
  it('a promise a plugin leaves failing in the background is a warning, not a crash', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'hoard-cli-stray-'));
    const home = join(dir, 'home');
    const providers = join(home, 'providers');
    await mkdir(providers, { recursive: true });
    await writeFile(
      join(providers, 'stray.mjs'),
      `export default () => ({
  name: 'test.stray',
  types: [{ type: 'test.stray' }],
  operation: (kind) => kind === 'protect' ? {
    onMain: async () => {
      Promise.reject(new Error('the stray upload failed'));
      await new Promise((resolve) => setTimeout(resolve, 50));
    },
  } : undefined,
});
`,
    );
    await writeFile(
      join(providers, 'stray.conf'),
      `[provider]
name = stray
id = 6f1b7a52-2f7e-4c1e-9a57-0d5f3c0b9e12
bank = fs
plugin = ./stray.mjs
`,
    );
    await writeFile(
      join(dir, 'plan.yaml'),
      'name: stray\nprovider: stray\nresources:\n  - {type: test.stray, id: s}\n',
    );
    // The warning comes from the bin's handler: a real process.
    const ran = await hoardProcess(['--home', home, '--json', 'protect', join(dir, 'plan.yaml')]);
    assert.equal(ran.code, 0, ran.stderr);
    assert.equal(ran.json.checkpoint.status, 'available');
    assert.match(
      ran.stderr,
      /warning: a promise failed with nothing waiting for it.*the stray upload failed/,
    );
  });

  it('a plugin whose operation() throws: its protect fails naming it (no internal error), no pending marker is left, and a second protect of an unrelated plan succeeds', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'hoard-cli-mistake-'));
    const home = join(dir, 'home');
    const providers = join(home, 'providers');
    await mkdir(providers, { recursive: true });
    await writeFile(
      join(providers, 'bad-plugin.mjs'),
      `export default () => ({
  name: 'test.bad',
  types: [{ type: 'test.bad' }],
  operation() {
    throw undefined;
  },
});
`,
    );
    await writeFile(
      join(providers, 'shop.conf'),
      `[provider]
name = shop
id = 6f1b7a52-2f7e-4c1e-9a57-0d5f3c0b9e11
bank = fs
plugin = exec.task
plugin = ./bad-plugin.mjs
`,
    );
    const log = join(dir, 'hooks.log');
    const echo = (line: string) => `echo ${line} >> ${log}`;
    await writeFile(
      join(dir, 'broken.yaml'),
      `name: broken
provider: shop
resources:
  - {type: exec.task, id: app, children: ["test.bad#x"]}
  - {type: test.bad, id: x}
parameters:
  "exec.task#app":
    protect: {prepareBegin: '${echo('freeze')}', prepareFinish: '${echo('thaw')}'}
`,
    );
    await writeFile(
      join(dir, 'other.yaml'),
      `name: other
provider: shop
resources:
  - {type: exec.task, id: other}
parameters:
  "exec.task#other":
    protect: {main: '${echo('other')}'}
`,
    );

    const broken = await hoard(home, ['protect', join(dir, 'broken.yaml'), '--json']);
    assert.equal(broken.code, 1, broken.stderr);
    assert.doesNotMatch(broken.stderr, /internal error/);
    assert.equal(broken.json.checkpoint.status, 'error');
    const failed = broken.json.operation.tasks.filter((t: { status: string }) => t.status === 'failed');
    assert.equal(failed.length, 1);
    assert.equal(failed[0].resource, 'test.bad#x');
    assert.equal(failed[0].hook, 'prepareBegin');
    assert.equal(failed[0].error.code, 'HOOK_FAILED');
    assert.match(
      failed[0].error.message,
      /plugin "test\.bad": operation\("protect", test\.bad#x\) threw undefined, not an Error/,
    );
    const pending = await readdir(join(home, 'banks', 'shop', 'index', 'pending')).catch(() => []);
    assert.deepEqual(pending, [], 'no pending marker');

    const other = await hoard(home, ['protect', join(dir, 'other.yaml'), '--json']);
    assert.equal(other.code, 0, other.stderr);
    assert.equal(other.json.checkpoint.status, 'available');
    assert.deepEqual(other.json.operation.log, []);
  });

  it('a SIGKILLed protect whose journal was damaged: the next protect of another plan succeeds, and checkpoints show names JOURNAL_CORRUPT and the journal object', async () => {
    const dead = await deadProtect();
    const bank = new FsBank(join(dead.home, 'banks', 'local'));
    const objects = await bank.list(`${journalPrefix(dead.id)}/`);
    const first = objects[0]!;
    for (const key of objects) await bank.put(key, 'not a journal\n');
    const plan = join(dead.dir, 'other.yaml');
    await writeFile(plan, 'name: other\nresources:\n  - {type: noop, id: n}\n');

    const next = await hoard(dead.home, ['protect', plan, '--json']);
    assert.equal(next.code, 0, next.stderr);
    assert.doesNotMatch(next.stderr, /internal error/);
    assert.equal(next.json.checkpoint.status, 'available');
    assert.ok(next.json.operation.log.some((l: string) => l.includes(dead.id) && l.includes(first)));

    const show = await hoard(dead.home, ['checkpoints', 'show', dead.id, '--json']);
    assert.equal(show.code, 0, show.stderr);
    assert.equal(show.json.checkpoint.status, 'error');
    assert.equal(show.json.checkpoint.error.code, 'JOURNAL_CORRUPT');
    assert.ok(show.json.checkpoint.error.message.includes(`${first}:1: not a journal record`));
    const human = await hoard(dead.home, ['checkpoints', 'show', dead.id]);
    assert.match(
      human.stdout,
      /error: recovering checkpoint .* failed: .*not a journal record.*check by hand whether exec\.task#app, exec\.task#db were left prepared/,
    );
    assert.deepEqual(await bank.list('index/pending/'), []);
  });
});
