/**
 * End to end through the CLI, as a user runs it: `hoard` called in-process (main(argv, io)),
 * and a real process where only one shows the behaviour (two processes at once, Ctrl-C,
 * SIGKILL, the README's quickstart); a plan of exec.task resources whose commands append to
 * a log, the built-in local provider.
 */
import assert from 'node:assert/strict';
import { type ChildProcess, execFileSync } from 'node:child_process';
import { mkdir, mkdtemp, readdir, readFile, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { hoardProcess, type Ran, ROOT, hoard as run, spawnHoard } from './helpers.js';

/** A real `hoard --home HOME ARGS…` process, run from the repository's root. */
function start(args: string[], home: string, env: Record<string, string> = {}): ChildProcess {
  return spawnHoard(['--home', home, ...args], { cwd: ROOT, env }).child;
}

/** `hoard --home HOME ARGS…` in-process, from the repository's root. */
function hoard(args: string[], home: string, env: Record<string, string> = {}): Promise<Ran> {
  return run(['--home', home, ...args], env, ROOT);
}

/** `hoard --home HOME ARGS…` as a real process. */
function spawned(args: string[], home: string, env: Record<string, string> = {}): Promise<Ran> {
  return hoardProcess(['--home', home, ...args], { cwd: ROOT, env });
}

/** A home directory and a plan: app (parent) with children db and files; each hook logs itself. */
async function setup(overrides: { failing?: string; slow?: string } = {}) {
  const dir = await mkdtemp(join(tmpdir(), 'hoard-cli-'));
  const home = join(dir, 'home');
  const log = join(dir, 'hooks.log');
  const cmd = (id: string, op: string, hook: string) => {
    const key = `${id}:${op}:${hook}`;
    if (key === overrides.failing)
      return `echo "$HOARD_OPERATION $HOARD_HOOK $HOARD_RESOURCE_ID" >> ${log}; echo "${id} broke" >&2; exit 3`;
    if (key === overrides.slow)
      return `echo "$HOARD_OPERATION $HOARD_HOOK $HOARD_RESOURCE_ID" >> ${log}; sleep 30`;
    return `echo "$HOARD_OPERATION $HOARD_HOOK $HOARD_RESOURCE_ID" >> ${log}`;
  };
  const hooks = (id: string, op: string) =>
    `{prepareBegin: '${cmd(id, op, 'prepareBegin')}', prepareFinish: '${cmd(id, op, 'prepareFinish')}', main: '${cmd(id, op, 'main')}', complete: '${cmd(id, op, 'complete')}'}`;
  const params = ['app', 'db', 'files']
    .map(
      (id) =>
        `  "exec.task#${id}":\n${['protect', 'restore', 'verify', 'delete'].map((op) => `    ${op}: ${hooks(id, op)}`).join('\n')}`,
    )
    .join('\n');
  const plan = join(dir, 'plan.yaml');
  await writeFile(
    plan,
    `name: shop
resources:
  - {type: exec.task, id: app, children: [db, files]}
  - {type: exec.task, id: db}
  - {type: exec.task, id: files}
parameters:
${params}
`,
  );
  const lines = async () => (await readFile(log, 'utf8').catch(() => '')).split('\n').filter(Boolean);
  return { dir, home, plan, log, lines };
}

const before = (lines: string[], a: string, b: string) => {
  const ia = lines.indexOf(a);
  const ib = lines.indexOf(b);
  assert.ok(ia >= 0 && ib >= 0 && ia < ib, `"${a}" should come before "${b}" in:\n${lines.join('\n')}`);
};

function assertHookOrder(lines: string[], op: string) {
  for (const child of ['db', 'files']) {
    before(lines, `${op} prepareBegin app`, `${op} prepareBegin ${child}`);
    before(lines, `${op} prepareFinish ${child}`, `${op} prepareFinish app`);
    before(lines, `${op} complete ${child}`, `${op} complete app`);
  }
  for (const id of ['app', 'db', 'files']) {
    before(lines, `${op} prepareBegin ${id}`, `${op} prepareFinish ${id}`);
    before(lines, `${op} prepareFinish ${id}`, `${op} main ${id}`);
    before(lines, `${op} main ${id}`, `${op} complete ${id}`);
  }
  assert.equal(lines.filter((l) => l.startsWith(`${op} `)).length, 12, `${op}: each hook once per resource`);
}

describe('hoard CLI: protect, list, restore, verify, delete', () => {
  it('runs every operation in hook order and removes every key on delete', async () => {
    const { home, plan, lines } = await setup();
    const p = await hoard(['protect', plan, '--json'], home);
    assert.equal(p.code, 0, p.stderr);
    const id = p.json.checkpoint.id as string;
    assert.equal(p.json.checkpoint.status, 'available');
    assert.equal(p.json.checkpoint.plan, 'shop');
    assert.deepEqual(
      p.json.checkpoint.resources.map(
        (r: { type: string; id: string; status: string }) => `${r.type}#${r.id}:${r.status}`,
      ),
      ['exec.task#app:available', 'exec.task#db:available', 'exec.task#files:available'],
    );
    assert.equal(p.json.operation.kind, 'protect');
    assert.equal(p.json.operation.tasks.length, 12);
    assert.ok(
      p.json.operation.tasks.every(
        (t: { status: string; startedAt: string }) => t.status === 'succeeded' && t.startedAt,
      ),
    );
    assertHookOrder(await lines(), 'protect');

    const list = await hoard(['checkpoints', 'list', '--json'], home);
    assert.equal(list.code, 0);
    assert.deepEqual(
      list.json.checkpoints.map((c: { id: string }) => c.id),
      [id],
    );
    assert.equal(list.json.next, null);

    const show = await hoard(['checkpoints', 'show', id, '--json'], home);
    assert.equal(show.json.checkpoint.status, 'available');

    const r = await hoard(['restore', id, '--json'], home);
    assert.equal(r.code, 0, r.stderr);
    assert.equal(r.json.operation.kind, 'restore');
    assertHookOrder(await lines(), 'restore');

    const v = await hoard(['verify', id, '--json'], home);
    assert.equal(v.code, 0, v.stderr);
    assertHookOrder(await lines(), 'verify');

    const d = await hoard(['checkpoints', 'delete', id, '--json'], home);
    assert.equal(d.code, 0, d.stderr);
    assert.equal(d.json.checkpoint.status, 'deleted');
    assertHookOrder(await lines(), 'delete');
    const after = await hoard(['checkpoints', 'list', '--json'], home);
    assert.deepEqual(after.json.checkpoints, []);
    const gone = await hoard(['checkpoints', 'show', id], home);
    assert.equal(gone.code, 2);
    // Nothing of it is left in the bank (leases live outside the key space).
    const bank = join(home, 'banks', 'local');
    const entries = await readdir(bank, { recursive: true });
    assert.deepEqual(
      entries.filter((e) => e.includes(id)),
      [],
      `keys left behind: ${entries.join(', ')}`,
    );
  });

  it('restore-time parameters override the saved commands', async () => {
    const { home, plan, lines, dir } = await setup();
    const p = await hoard(['protect', plan, '--json'], home);
    const marker = join(dir, 'override.txt');
    const r = await hoard(
      [
        'restore',
        p.json.checkpoint.id,
        '--param',
        `exec.task#db.restore.main=echo overridden > ${marker}`,
        '--json',
      ],
      home,
    );
    assert.equal(r.code, 0, r.stderr);
    assert.equal((await readFile(marker, 'utf8')).trim(), 'overridden');
    assert.ok(!(await lines()).includes('restore main db'));
    assert.ok((await lines()).includes('restore main files'));
  });

  it("a failing child hook: checkpoint error, exit 1, the parent's prepareFinish still runs, JSON names the failures", async () => {
    const { home, plan, lines } = await setup({ failing: 'db:protect:main' });
    const p = await hoard(['protect', plan, '--json'], home);
    assert.equal(p.code, 1);
    assert.equal(p.json.checkpoint.status, 'error');
    assert.equal(p.json.operation.status, 'failed');
    const task = (resource: string, hook: string) =>
      p.json.operation.tasks.find(
        (t: { resource: string; hook: string }) => t.resource === resource && t.hook === hook,
      );
    assert.equal(task('exec.task#db', 'main').status, 'failed');
    assert.match(task('exec.task#db', 'main').error.message, /exited with code 3.*db broke/);
    assert.equal(task('exec.task#db', 'complete').status, 'upstream_failed');
    assert.equal(task('exec.task#app', 'complete').status, 'upstream_failed');
    assert.equal(task('exec.task#app', 'complete').cause, 'exec.task#db:main');
    assert.equal(task('exec.task#app', 'prepareFinish').status, 'succeeded');
    assert.equal(p.json.operation.firstFailure, 'exec.task#db:main');
    const db = p.json.checkpoint.resources.find((r: { id: string }) => r.id === 'db');
    assert.equal(db.status, 'error');
    assert.ok((await lines()).includes('protect prepareFinish app'));
    assert.ok((await lines()).includes('protect complete files'), 'an unrelated sibling carries on');

    const r = await hoard(['restore', p.json.checkpoint.id], home);
    assert.equal(r.code, 2);
    assert.match(r.stderr, /only an available checkpoint can be restored/);
  });

  it('prints the hook graph as json, dot and mermaid', async () => {
    const { home, plan } = await setup();
    const g = await hoard(['graph', plan, '--format', 'json'], home);
    assert.equal(g.code, 0, g.stderr);
    assert.equal(g.json.tasks.length, 12);
    assert.ok(
      g.json.edges.some(
        (e: { from: string; to: string; kind: string }) =>
          e.kind === 'purple' &&
          e.from === 'exec.task#db:prepareFinish' &&
          e.to === 'exec.task#app:prepareFinish',
      ),
    );
    assert.deepEqual([...new Set(g.json.edges.map((e: { kind: string }) => e.kind))].sort(), [
      'black',
      'green',
      'indigo',
      'purple',
      'red',
      'yellow',
    ]);
    const dot = await hoard(['graph', plan, '--format', 'dot'], home);
    assert.match(dot.stdout, /^digraph hooks \{/);
    assert.match(dot.stdout, /"exec.task#app:prepareBegin" -> "exec.task#db:prepareBegin" \[color=green\]/);
    const mermaid = await hoard(['graph', plan, '--format', 'mermaid', '--operation', 'restore'], home);
    assert.match(mermaid.stdout, /^flowchart TD/);
    assert.match(mermaid.stdout, /linkStyle \d+ stroke:purple/);
  });
});

describe('hoard CLI: bad input is one clear line and exit 2', () => {
  const cases: [string, string, RegExp][] = [
    [
      'malformed YAML',
      'name: x\nresources: [\n  {type: exec.task, id: a\n',
      /plan\.yaml:\d+:\d+: not valid YAML/,
    ],
    [
      'unknown type',
      'name: x\nresources: [{type: nosuch.thing, id: a}]\n',
      /unknown resource type "nosuch\.thing"; provider local handles exec\.task, fs\.directory, noop, postgres\.database, postgres\.server, sqlite\.database/,
    ],
    [
      'dangling child',
      'name: x\nresources: [{type: exec.task, id: a, children: [b]}]\n',
      /names a child "b" that is not a resource of the plan/,
    ],
    [
      'bad parameter type',
      'name: x\nresources: [{type: exec.task, id: a}]\nparameters:\n  exec.task: {protect: {timeout: soon}}\n',
      /parameters for exec\.task#a: protect\.timeout must be a number/,
    ],
    [
      'unknown field',
      'name: x\nresources: [{type: exec.task, id: a, path: /x}]\n',
      /resources\[0\] \(exec\.task#a\): path is not a known field/,
    ],
    [
      'one type#id twice',
      'name: x\nresources: [{type: exec.task, id: a}, {type: noop, id: b}, {type: exec.task, id: a}]\n',
      /plan\.yaml: resources\[0\] and resources\[2\] are both exec\.task#a; a type#id may appear once/,
    ],
    [
      'a 5,000-character resource id',
      `name: x\nresources: [{type: exec.task, id: ${'x'.repeat(5000)}}]\n`,
      /plan\.yaml: resources\[0\] \(exec\.task#x+…\): its id is 5000 characters long; an id may have at most 200/,
    ],
    [
      'an exec.task timeout of infinity',
      'name: x\nresources: [{type: exec.task, id: a}]\nparameters:\n  exec.task: {protect: {main: "true", timeout: .inf}}\n',
      /parameters for exec\.task#a: protect\.timeout must be at most 604800 \(seconds/,
    ],
    [
      'an exec.task timeout of 1e308',
      'name: x\nresources: [{type: exec.task, id: a}]\nparameters:\n  exec.task#a: {restore: {timeout: 1e308}}\n',
      /parameters for exec\.task#a: restore\.timeout must be at most 604800/,
    ],
    [
      'a negative exec.task timeout',
      'name: x\nresources: [{type: exec.task, id: a}]\nparameters:\n  exec.task: {verify: {timeout: -5}}\n',
      /parameters for exec\.task#a: verify\.timeout must be more than 0/,
    ],
    [
      'an exec.task timeout that is not a number',
      'name: x\nresources: [{type: exec.task, id: a}]\nparameters:\n  exec.task: {protect: {timeout: .nan}}\n',
      /parameters for exec\.task#a: protect\.timeout must be/,
    ],
  ];
  for (const [name, text, pattern] of cases) {
    it(name, async () => {
      const dir = await mkdtemp(join(tmpdir(), 'hoard-bad-'));
      await writeFile(join(dir, 'plan.yaml'), text);
      const r = await hoard(['protect', join(dir, 'plan.yaml')], join(dir, 'home'));
      assert.equal(r.code, 2, r.stderr);
      assert.match(r.stderr, pattern);
      assert.equal(r.stderr.trim().split('\n').length, 1, `one line, got:\n${r.stderr}`);
      const j = await hoard(['protect', join(dir, 'plan.yaml'), '--json'], join(dir, 'home'));
      assert.equal(j.code, 2);
      assert.ok(j.json.error.code && j.json.error.message);
    });
  }

  it('a YAML alias bomb in a plan, a --params file or --policy is refused at once, exit 2', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'hoard-bomb-'));
    const levels = ['a: &a ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]'];
    for (let i = 1; i < 9; i++) {
      const [name, prev] = [String.fromCharCode(97 + i), String.fromCharCode(96 + i)];
      levels.push(`${name}: &${name} [${Array(9).fill(`*${prev}`).join(',')}]`);
    }
    const bomb = `${levels.join('\n')}\nname: x\nresources: [{type: exec.task, id: a}]\n`;
    await writeFile(join(dir, 'plan.yaml'), bomb);
    const home = join(dir, 'home');
    const started = Date.now();
    const runs = [
      [['protect', join(dir, 'plan.yaml'), '--json'], 'PLAN_INVALID', /plan\.yaml: its aliases/],
      [
        ['restore', '20260101T000000000Z-deadbeef', '--params', join(dir, 'plan.yaml'), '--json'],
        'PARAMS_INVALID',
        /plan\.yaml: its aliases/,
      ],
      [['prune', 'x', '--policy', bomb, '--json'], 'USAGE', /^--policy: its aliases/],
    ] as const;
    for (const [args, code, message] of runs) {
      const r = await hoard([...args], home);
      assert.equal(r.code, 2, r.stderr);
      assert.equal(r.json.error.code, code);
      assert.match(r.json.error.message, message);
      assert.match(r.json.error.message, /expand past the limit of 100/);
      assert.equal(r.stderr.trim().split('\n').length, 1, r.stderr);
    }
    // Expanding the bomb would take minutes and gigabytes; three refusals take a second or two,
    // ten or more on a loaded machine (it once took 11 s): the bound tells the two apart.
    assert.ok(Date.now() - started < 60_000, `took ${Date.now() - started} ms`);
    await assert.rejects(readdir(home), 'nothing was written');
  });

  it('unknown checkpoint id', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'hoard-bad-'));
    const r = await hoard(['checkpoints', 'show', '20260101T000000000Z-deadbeef'], join(dir, 'home'));
    assert.equal(r.code, 2);
    assert.match(r.stderr, /no checkpoint 20260101T000000000Z-deadbeef/);
    const bad = await hoard(['restore', 'nonsense', '--json'], join(dir, 'home'));
    assert.equal(bad.code, 2);
    assert.equal(bad.json.error.code, 'CHECKPOINT_NOT_FOUND');
  });

  it('a broken provider file is reported with file and line while the others load', async () => {
    const { home, plan } = await setup();
    await mkdir(join(home, 'providers'), { recursive: true });
    await writeFile(
      join(home, 'providers', 'broken.conf'),
      '[provider]\nname = broken\nthis is not a setting\n',
    );
    await writeFile(
      join(home, 'providers', 'offsite.conf'),
      `[provider]\nname = offsite\nid = 6f1b7a52-2f7e-4c1e-9a57-0d5f3c0b9e11\nbank = fs\nplugin = exec.task\n[fs]\npath = ${join(home, 'offsite-bank')}\nsecret_key = hunter2\n`,
    );
    const list = await hoard(['providers', 'list', '--json'], home);
    assert.equal(list.code, 0);
    assert.deepEqual(list.json.providers.map((p: { name: string }) => p.name).sort(), ['local', 'offsite']);
    assert.match(list.json.problems[0].message, /broken\.conf:3: expected "\[section\]" or "key = value"/);
    assert.match(list.stderr, /broken\.conf:3/);
    const show = await hoard(['providers', 'show', 'offsite', '--json'], home);
    assert.equal(show.json.provider.settings.fs.secret_key, '********');
    assert.ok(!show.stdout.includes('hunter2'));
    assert.equal(show.json.provider.types[0].type, 'exec.task');
    assert.ok(show.json.provider.types[0].schemas.options);

    const p = await hoard(['protect', plan, '--provider', 'offsite', '--json'], home);
    assert.equal(p.code, 0, p.stderr);
    const c = await hoard(['copy', p.json.checkpoint.id, '--to', 'local', '--json'], home);
    assert.equal(c.code, 0, c.stderr);
    assert.equal(c.json.checkpoint.status, 'available');
    assert.equal(c.json.checkpoint.provider.name, 'local');
    const again = await hoard(
      ['copy', p.json.checkpoint.id, '--provider', 'offsite', '--to', 'local', '--json'],
      home,
    );
    assert.equal(again.code, 2, again.stderr);
    assert.equal(again.json.error.code, 'CHECKPOINT_STATE');
    assert.match(again.stderr, /\nhoard: provider local already has checkpoint \S+\n$/);
    const there = await hoard(['checkpoints', 'list', '--provider', 'local', '--json'], home);
    assert.deepEqual(
      there.json.checkpoints.map((x: { id: string }) => x.id),
      [p.json.checkpoint.id],
    );
    const unknown = await hoard(['protect', plan, '--provider', 'nowhere'], home);
    assert.equal(unknown.code, 2);
    assert.match(unknown.stderr, /no provider "nowhere"; there are: local, offsite/);
  });

  it('gc reports what it would collect without changing anything on --dry-run', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'hoard-gc-'));
    const r = await hoard(['gc', '--dry-run', '--json'], join(dir, 'home'));
    assert.equal(r.code, 0, r.stderr);
    assert.equal(r.json.gc.dryRun, true);
    assert.equal(r.json.gc.packsRemoved, 0);
  });

  it('prune applies a retention policy: dry run shows why, the real run deletes, a failed last protect stops it', async () => {
    const { home, plan } = await setup();
    const ids: string[] = [];
    for (let i = 0; i < 3; i++) ids.push((await hoard(['protect', plan, '--json'], home)).json.checkpoint.id);
    const dry = await hoard(['prune', 'shop', '--max-backups', '1', '--dry-run', '--json'], home);
    assert.equal(dry.code, 0, dry.stderr);
    assert.deepEqual(
      dry.json.decisions.map((d: { id: string; keep: boolean }) => [d.id, d.keep]),
      [
        [ids[2], true],
        [ids[1], false],
        [ids[0], false],
      ],
    );
    assert.ok(dry.json.decisions[0].reasons.length > 0 && dry.json.decisions[1].reasons.length > 0);
    assert.equal((await hoard(['checkpoints', 'list', '--json'], home)).json.checkpoints.length, 3);
    const real = await hoard(['prune', 'shop', '--max-backups', '1', '--json'], home);
    assert.equal(real.code, 0, real.stderr);
    assert.deepEqual(
      (await hoard(['checkpoints', 'list', '--json'], home)).json.checkpoints.map(
        (c: { id: string }) => c.id,
      ),
      [ids[2]],
    );
    // A failing protect: retention must not run after it.
    const broken = await setup({ failing: 'db:protect:main' }); // the same plan name, a failing hook
    const failed = await hoard(['protect', broken.plan, '--json'], home);
    assert.equal(failed.code, 1);
    const after = await hoard(['prune', 'shop', '--max-backups', '1', '--json'], home);
    assert.ok(after.json.decisions.every((d: { keep: boolean }) => d.keep));
    assert.match(after.json.decisions[0].reasons.join(' '), /last protect failed/);
  });

  it('usage errors exit 2', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'hoard-bad-'));
    const r = await hoard(['checkpoints', 'list', '--limit', 'zero'], join(dir, 'home'));
    assert.equal(r.code, 2);
    const h = await hoard(['protect', '--help'], join(dir, 'home'));
    assert.equal(h.code, 0);
    assert.match(h.stdout, /Examples:/);
  });
});

describe('hoard CLI: concurrency and crashes', () => {
  it('two protects of one plan at once both end consistent', async () => {
    const { home, plan } = await setup();
    // Two processes: each its own lease owner, as two operators' commands would be.
    const [a, b] = await Promise.all([
      spawned(['protect', plan, '--json'], home),
      spawned(['protect', plan, '--json'], home),
    ]);
    assert.equal(a.code, 0, a.stderr);
    assert.equal(b.code, 0, b.stderr);
    assert.notEqual(a.json.checkpoint.id, b.json.checkpoint.id);
    const list = await hoard(['checkpoints', 'list', '--plan', 'shop', '--json'], home);
    assert.deepEqual(
      list.json.checkpoints.map((c: { status: string }) => c.status),
      ['available', 'available'],
    );
  });

  it('Ctrl-C cancels a protect: the hung hook is killed, owed teardowns run, the checkpoint is error, exit 130', async () => {
    const { home, plan, lines } = await setup({ slow: 'db:protect:prepareBegin' });
    const child = start(['protect', plan, '--json'], home);
    let stdout = '';
    child.stdout!.on('data', (d) => (stdout += d));
    const deadline = Date.now() + 20_000;
    while (!(await lines()).includes('protect prepareBegin db')) {
      assert.ok(Date.now() < deadline, 'the slow hook never started');
      await new Promise((r) => setTimeout(r, 50));
    }
    const interruptedAt = Date.now();
    child.kill('SIGINT');
    const code = await new Promise((r) => child.on('close', r));
    assert.ok(Date.now() - interruptedAt < 10_000, 'waited for the hung command instead of killing it');
    assert.equal(code, 130);
    const result = JSON.parse(stdout);
    assert.equal(result.checkpoint.status, 'error');
    assert.equal(result.operation.status, 'cancelled');
    assert.ok((await lines()).includes('protect prepareFinish app'), 'the app was thawed');
    const db = result.operation.tasks.find(
      (t: { resource: string; hook: string }) => t.resource === 'exec.task#db' && t.hook === 'prepareBegin',
    );
    assert.equal(db.status, 'cancelled');
  });

  it('a protect killed with SIGKILL is listed as error once its lease expires, never available; the next protect runs its owed teardowns', async () => {
    const { home, plan, lines, log } = await setup({ slow: 'db:protect:prepareBegin' });
    const env = { HOARD_LEASE_TTL_MS: '600' };
    const child = start(['protect', plan], home, env);
    // Wait until db's prepareBegin hangs: the app is frozen (its prepareBegin ran), not thawed.
    const deadline = Date.now() + 20_000;
    while (!(await lines()).includes('protect prepareBegin db')) {
      assert.ok(Date.now() < deadline, 'the slow hook never started');
      await new Promise((r) => setTimeout(r, 50));
    }
    child.kill('SIGKILL');
    await new Promise((r) => child.on('close', r));
    const atKill = await lines();
    let status = '';
    while (status !== 'error') {
      const list = await hoard(['checkpoints', 'list', '--json'], home, env);
      status = list.json.checkpoints[0].status;
      assert.notEqual(status, 'available');
      assert.ok(Date.now() < deadline + 20_000, `still ${status}`);
      if (status !== 'error') await new Promise((r) => setTimeout(r, 200));
    }
    assert.ok(!(await lines()).includes('protect prepareFinish app'), 'nothing thawed the app yet');
    await writeFile(log, '');
    await writeFile(plan, (await readFile(plan, 'utf8')).replaceAll('sleep 30', 'true'));
    const next = await hoard(['protect', plan, '--json'], home, { HOARD_LEASE_TTL_MS: '5000' });
    assert.equal(next.code, 0, next.stderr);
    const after = await lines();
    // Recovery ran the teardowns the dead run owed (and only those) before the new run began.
    const newRun = after.indexOf('protect prepareBegin app');
    // db's prepareBegin was cut off mid-way: it may have frozen something, so it is thawed too.
    // files may have been frozen (and perhaps thawed already) before the kill: it is thawed
    // now if and only if it was frozen and not yet thawed.
    const recovered = after.slice(0, newRun);
    assert.ok(recovered.includes('protect prepareFinish app'), recovered.join('\n'));
    assert.ok(recovered.includes('protect prepareFinish db'), recovered.join('\n'));
    const filesOwed =
      atKill.includes('protect prepareBegin files') && !atKill.includes('protect prepareFinish files');
    if (filesOwed) assert.ok(recovered.includes('protect prepareFinish files'), recovered.join('\n'));
    assert.ok(
      recovered.every((l) => l.startsWith('protect prepareFinish ')),
      recovered.join('\n'),
    );
    const old = await hoard(['checkpoints', 'list', '--status', 'error', '--json'], home);
    assert.equal(old.json.checkpoints.length, 1);
  });
});

describe('the quickstart example', () => {
  it('protects, restores, verifies and deletes as the README shows', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'hoard-quickstart-'));
    const home = join(dir, 'home');
    execFileSync(process.execPath, ['examples/quickstart/init.mjs'], { cwd: ROOT });
    const p = await spawned(['protect', 'examples/quickstart/plan.yaml', '--json'], home);
    assert.equal(p.code, 0, p.stderr);
    assert.equal(p.json.checkpoint.status, 'available');
    const hook = (resource: string, name: string) =>
      p.json.operation.tasks.find(
        (t: { resource: string; hook: string }) => t.resource === resource && t.hook === name,
      );
    // The app is frozen before the copies start and thawed after they end.
    for (const child of ['fs.directory#notes', 'sqlite.database#db']) {
      assert.ok(hook('exec.task#app', 'prepareBegin').endedAt <= hook(child, 'main').startedAt);
      assert.ok(hook(child, 'main').endedAt <= hook('exec.task#app', 'complete').startedAt);
    }
    const id = p.json.checkpoint.id;
    const refused = await spawned(['restore', id, '--target', join(dir, 'x')], home);
    assert.equal(refused.code, 2);
    assert.match(
      refused.stderr,
      /--target needs exactly one resource that takes a target; checkpoint \S+ has 2/,
    );
    const r = await spawned(
      [
        'restore',
        id,
        '--param',
        `fs.directory#notes.target=${join(dir, 'notes')}`,
        '--param',
        `sqlite.database#db.target=${join(dir, 'app.db')}`,
      ],
      home,
    );
    assert.equal(r.code, 0, r.stderr);
    assert.equal(
      await readFile(join(dir, 'notes', 'notes.txt'), 'utf8'),
      await readFile(join(ROOT, 'examples/quickstart/data/notes.txt'), 'utf8'),
    );
    const rows = execFileSync(process.execPath, [
      '-e',
      `const D=require(${JSON.stringify(join(ROOT, 'node_modules/better-sqlite3'))});console.log(JSON.stringify(new D(process.argv[1],{readonly:true}).prepare('select item,qty from orders order by id').all()))`,
      join(dir, 'app.db'),
    ]).toString();
    assert.deepEqual(
      JSON.parse(rows).map((r: { item: string }) => r.item),
      ['milk', 'bread', 'coffee'],
    );
    assert.equal((await spawned(['verify', id], home)).code, 0);
    assert.equal((await spawned(['checkpoints', 'delete', id], home)).code, 0);
    assert.equal((await spawned(['verify', id], home)).code, 2);
  });
});
