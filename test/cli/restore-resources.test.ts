/**
 * Restoring (and verifying) part of a checkpoint's resources: `--resource` through the CLI.
 * Only the named resources' hooks run, in the order the whole plan implies between them;
 * `--target` counts only them; a resource the checkpoint lacks, or parameters for one not
 * chosen, is exit 2 before anything runs.
 */
import assert from 'node:assert/strict';
import { mkdir, mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { hoard } from './helpers.js';

describe('restore --resource', () => {
  let dir = '';
  let home = '';
  let log = '';
  let id = '';
  const run = (args: string[]) => hoard(['--home', home, ...args]);
  const restoreLines = async () =>
    (await readFile(log, 'utf8').catch(() => ''))
      .split('\n')
      .filter((l) => l.startsWith('restore ') || l.startsWith('verify '));
  const tasksOf = (json: { operation: { tasks: { resource: string }[] } }) =>
    [...new Set(json.operation.tasks.map((t) => t.resource))].sort();

  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'hoard-restore-resources-'));
    home = join(dir, 'home');
    log = join(dir, 'hooks.log');
    for (const name of ['a', 'b']) {
      await mkdir(join(dir, name), { recursive: true });
      await writeFile(join(dir, name, `${name}.txt`), `content of ${name}`);
    }
    const hooks = () =>
      `{${['prepareBegin', 'prepareFinish', 'main', 'complete'].map((h) => `${h}: 'echo "$HOARD_OPERATION ${h} $HOARD_RESOURCE_ID" >> ${log}'`).join(', ')}}`;
    const params = ['app', 'mid', 'leaf']
      .map(
        (r) =>
          `  "exec.task#${r}":\n${['protect', 'restore', 'verify'].map((op) => `    ${op}: ${hooks()}`).join('\n')}`,
      )
      .join('\n');
    // app → mid → leaf, app → a; b alone.
    await writeFile(
      join(dir, 'plan.yaml'),
      `name: parts
resources:
  - {type: exec.task, id: app, children: [mid, a]}
  - {type: exec.task, id: mid, children: [leaf]}
  - {type: exec.task, id: leaf}
  - {type: fs.directory, id: a, path: ${join(dir, 'a')}}
  - {type: fs.directory, id: b, path: ${join(dir, 'b')}}
parameters:
${params}
`,
    );
    const p = await run(['protect', join(dir, 'plan.yaml'), '--json']);
    assert.equal(p.code, 0, p.stderr);
    id = p.json.checkpoint.id;
    await rm(log, { force: true });
  });
  after(() => rm(dir, { recursive: true, force: true }));

  it('runs only the named resources, in the order the plan implies between them', async () => {
    const r = await run(['restore', id, '--resource', 'exec.task#app', '--resource', 'leaf', '--json']);
    assert.equal(r.code, 0, r.stderr);
    assert.deepEqual(tasksOf(r.json), ['exec.task#app', 'exec.task#leaf']);
    const lines = await restoreLines();
    assert.equal(lines.length, 8, lines.join('\n'));
    assert.ok(!lines.some((l) => l.endsWith(' mid')), 'mid, not named, did not run');
    const at = (line: string) => lines.indexOf(line);
    // leaf is below app through mid, left out: app's prepareBegin still comes first, its complete last.
    assert.ok(at('restore prepareBegin app') < at('restore prepareBegin leaf'), lines.join('\n'));
    assert.ok(at('restore complete leaf') < at('restore complete app'), lines.join('\n'));
    assert.ok(at('restore prepareFinish leaf') < at('restore prepareFinish app'), lines.join('\n'));
  });

  it('--target counts only the named resources: one file resource of two', async () => {
    const whole = await run(['restore', id, '--target', join(dir, 'nowhere')]);
    assert.equal(whole.code, 2, 'two resources take a target');
    assert.match(
      whole.stderr,
      /--target needs exactly one resource that takes a target; checkpoint \S+ has 2/,
    );
    const target = join(dir, 'only-a');
    const r = await run(['restore', id, '--resource', 'fs.directory#a', '--target', target, '--json']);
    assert.equal(r.code, 0, r.stderr);
    assert.deepEqual(tasksOf(r.json), ['fs.directory#a']);
    assert.deepEqual(await readdir(target), ['a.txt']);
    assert.equal(await readFile(join(target, 'a.txt'), 'utf8'), 'content of a');
  });

  it('a resource the checkpoint lacks is exit 2 naming it and those it has; nothing runs', async () => {
    await rm(log, { force: true });
    const r = await run(['restore', id, '--resource', 'leaf', '--resource', 'nope', '--json']);
    assert.equal(r.code, 2, r.stderr);
    assert.equal(r.json.error.code, 'RESOURCE_NOT_FOUND');
    assert.match(r.json.error.message, /has no resource "nope"; it has exec\.task#app, .*fs\.directory#b/);
    assert.deepEqual(await restoreLines(), []);
  });

  it('parameters for a resource not chosen are exit 2, not silently dropped', async () => {
    const params = join(dir, 'params.yaml');
    await writeFile(params, `fs.directory#b: {target: ${join(dir, 'b-here')}}\n`);
    const r = await run([
      'restore',
      id,
      '--resource',
      'fs.directory#a',
      '--target',
      join(dir, 'a2'),
      '--params',
      params,
      '--json',
    ]);
    assert.equal(r.code, 2, r.stderr);
    assert.equal(r.json.error.code, 'PARAMS_INVALID');
    assert.match(r.json.error.message, /parameters\["fs\.directory#b"\] names a resource that is not chosen/);
    await assert.rejects(readdir(join(dir, 'a2')), /ENOENT/);
    // A type's parameters when no resource of that type is chosen: the same.
    await writeFile(params, 'exec.task: {restore: {main: "true"}}\n');
    const typed = await run([
      'restore',
      id,
      '--resource',
      'fs.directory#a',
      '--target',
      join(dir, 'a2'),
      '--params',
      params,
    ]);
    assert.equal(typed.code, 2, typed.stderr);
    assert.match(typed.stderr, /parameters\["exec\.task"\] names a resource that is not chosen/);
  });

  it('verify --resource verifies only that resource; help shows the flag with an example', async () => {
    const r = await run(['verify', id, '--resource', 'b', '--json']);
    assert.equal(r.code, 0, r.stderr);
    assert.deepEqual(tasksOf(r.json), ['fs.directory#b']);
    const help = await run(['restore', '--help']);
    assert.match(help.stdout, /--resource sqlite\.database#db --target/);
  });
});
