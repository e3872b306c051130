/**
 * Redis restarted while a remote hook runs (issue 14), with a Redis of the test's own: a real
 * `hoard agent` and a real `hoard protect`, and the Redis between them killed and started again
 * on the same port — with its data (append-only, fsynced at every write) and without.
 */
import assert from 'node:assert/strict';
import type { ChildProcess } from 'node:child_process';
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { type Ran, spawnHoard } from '../cli/helpers.js';
import { NO_REDIS_SERVER, OwnRedis } from './own-redis.js';

let root: string;
let log: string;
let redis: OwnRedis;

const record = (what: string) => `echo "$HOARD_RESOURCE_ID ${what} $PPID" >> ${JSON.stringify(log)}`;

async function lines(): Promise<string[]> {
  return (await readFile(log, 'utf8').catch(() => '')).split('\n').filter(Boolean);
}

async function until(what: string, check: () => Promise<boolean>, timeoutMs = 20_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`gave up waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

async function home(name: string): Promise<string> {
  const dir = join(root, 'homes', name);
  await mkdir(join(dir, 'providers'), { recursive: true });
  await writeFile(
    join(dir, 'providers', 'shared.conf'),
    `[provider]\nname = shared\nid = 1b7d2c4e-9a3f-4e8b-b6d1-5c0e2f4a8b93\nbank = fs\nplugin = exec.task\nplugin = fs.directory\n[fs]\npath = ${join(root, 'bank')}\n`,
  );
  return dir;
}

describe('Redis restarted mid-operation', { skip: NO_REDIS_SERVER, timeout: 180_000 }, () => {
  let agent: { child: ChildProcess; done: Promise<Ran>; pid: number };
  let coordinator: string;
  let data: string;
  const env = () => ({ HOARD_QUEUE_URL: redis.url, HOARD_QUEUE_PREFIX: 'restart' });

  before(async () => {
    root = await mkdtemp(join(tmpdir(), 'hoard-redis-restart-'));
    log = join(root, 'hooks.log');
    await mkdir(join(root, 'redis'));
    redis = await OwnRedis.start(join(root, 'redis'), { persistent: true });
    coordinator = await home('coordinator');
    data = join(root, 'data');
    await mkdir(data);
    await writeFile(join(data, 'a.txt'), 'a\n'.repeat(5000));
    const { child, done } = spawnHoard(['--json', 'agent', '--host', 'r'], {
      env: { ...env(), HOARD_HOME: await home('agent-r') },
    });
    await new Promise<void>((resolve, reject) => {
      child.stdout!.once('data', () => resolve());
      void done.then((r) => reject(new Error(`agent exited ${r.code}: ${r.stderr}`)));
    });
    agent = { child, done, pid: child.pid! };
  });

  after(async () => {
    agent?.child.kill('SIGKILL');
    await agent?.done;
    await redis?.stop();
    await rm(root, { recursive: true, force: true });
  });

  const plan = async (name: string, job: string) => {
    const file = join(root, `${name}.yaml`);
    await writeFile(
      file,
      `name: ${name}
provider: shared
resources:
  - {type: exec.task, id: job, host: r, children: [files]}
  - {type: fs.directory, id: files, host: r, path: ${JSON.stringify(data)}}
parameters:
  exec.task#job:
    protect: {${job}}
`,
    );
    return file;
  };
  const run = (args: string[]) =>
    spawnHoard(['--json', ...args], { env: { ...env(), HOARD_HOME: coordinator } }).done;

  /** Protects `file`; once the job's hook has started, `outage` is done to Redis. */
  const protectThrough = async (file: string, outage: () => Promise<void>) => {
    await rm(log, { force: true });
    const { done } = spawnHoard(['--json', 'protect', file], { env: { ...env(), HOARD_HOME: coordinator } });
    await until('the remote hook to start', async () => (await lines()).includes(`job start ${agent.pid}`));
    await outage();
    const startedAt = Date.now();
    const r = await done;
    return { r, afterOutageMs: Date.now() - startedAt };
  };
  const task = (r: Ran, resource: string, hook: string) =>
    r.json.operation.tasks.find(
      (t: { resource: string; hook: string }) => t.resource === resource && t.hook === hook,
    );
  const verified = async (id: string) => {
    const v = await run(['verify', id]);
    assert.equal(v.code, 0, `verify ${id}: ${v.stdout} ${v.stderr}`);
  };

  it('with its data: the hook running meanwhile completes, the checkpoint is available and verifies, the next protect succeeds', async () => {
    const file = await plan('kept', `main: '${record('start')}; sleep 3; ${record('done')}'`);
    const { r } = await protectThrough(file, async () => {
      await redis.stop();
      await new Promise((resolve) => setTimeout(resolve, 500)); // an outage, not a synchronisation
      await redis.start();
    });
    assert.equal(r.code, 0, r.stderr);
    assert.equal(r.json.checkpoint.status, 'available');
    assert.equal(task(r, 'exec.task#job', 'main').status, 'succeeded');
    assert.equal(task(r, 'fs.directory#files', 'main').status, 'succeeded');
    assert.deepEqual(await lines(), [`job start ${agent.pid}`, `job done ${agent.pid}`]);
    await verified(r.json.checkpoint.id);
    const next = await run(['protect', file]);
    assert.equal(next.code, 0, next.stderr);
    assert.equal(next.json.checkpoint.status, 'available');
  });

  it('emptied: an idempotent hook whose job is gone is delivered again, and the checkpoint is available and verifies', async () => {
    const file = await plan(
      'emptied-idempotent',
      `main: '${record('start')}; sleep 3; ${record('done')}', idempotent: [main]`,
    );
    const { r, afterOutageMs } = await protectThrough(file, async () => {
      await redis.stop();
      await redis.wipe();
      await redis.start();
    });
    assert.equal(r.code, 0, r.stderr);
    assert.ok(afterOutageMs < 30_000, `took ${afterOutageMs} ms`);
    assert.equal(r.json.checkpoint.status, 'available');
    assert.equal(task(r, 'exec.task#job', 'main').status, 'succeeded');
    const starts = (await lines()).filter((l) => l.startsWith('job start'));
    assert.deepEqual(starts, [`job start ${agent.pid}`, `job start ${agent.pid}`]);
    // The first run, whose job was gone, was stopped when its lock could not be renewed: the
    // hook never ran twice at once, and only the second run ended.
    assert.equal((await lines()).filter((l) => l.startsWith('job done')).length, 1);
    await verified(r.json.checkpoint.id);
  });

  it('emptied: a hook that is not idempotent fails AGENT_LOST, its teardown still runs, the checkpoint ends error, the next protect succeeds', async () => {
    const file = await plan(
      'emptied-once',
      `prepareBegin: '${record('start')}; sleep 3; ${record('done')}', prepareFinish: '${record('pf')}'`,
    );
    const { r, afterOutageMs } = await protectThrough(file, async () => {
      await redis.stop();
      await redis.wipe();
      await redis.start();
    });
    assert.equal(r.code, 1, r.stderr);
    assert.ok(afterOutageMs < 30_000, `took ${afterOutageMs} ms`);
    assert.equal(r.json.checkpoint.status, 'error');
    const pb = task(r, 'exec.task#job', 'prepareBegin');
    assert.equal(pb.status, 'failed');
    assert.equal(pb.error.code, 'AGENT_LOST');
    assert.match(
      pb.error.message,
      /its job disappeared from the queue.*not idempotent, so it is not run again/,
    );
    assert.equal(task(r, 'exec.task#job', 'prepareFinish').status, 'succeeded');
    await until('the teardown to have run', async () => (await lines()).includes(`job pf ${agent.pid}`));
    assert.equal((await lines()).filter((l) => l.startsWith('job start')).length, 1);
    assert.ok(
      !(await lines()).some((l) => l.startsWith('job done')),
      'the orphaned prepareBegin was stopped',
    );
    const good = await plan('after', `main: 'true'`);
    const next = await run(['protect', good]);
    assert.equal(next.code, 0, next.stderr);
    assert.equal(next.json.checkpoint.status, 'available');
    await verified(next.json.checkpoint.id);
  });
});
