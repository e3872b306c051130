/**
 * Hooks on agents (SPEC §12), against the real Redis: agents are real `hoard agent` processes,
 * each with its own home (and the same provider file, whose bank they share), and each hook
 * records which process ran it (`$PPID` of an exec.task command is the agent's pid).
 */
import assert from 'node:assert/strict';
import type { ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import type { EngineEvent } from '../../src/engine/index.js';
import { protect } from '../../src/flows/protect.js';
import { loadPlan } from '../../src/plans/plan.js';
import { loadProviders } from '../../src/providers/provider.js';
import { connectQueue } from '../../src/queue/connection.js';
import { QueueHookTransport } from '../../src/queue/hooks.js';
import { hoard, type Ran, spawnHoard } from '../cli/helpers.js';

const REDIS = process.env.HOARD_TEST_REDIS_URL ?? 'redis://127.0.0.1:6379';
const PREFIX = `hoard-agents-${randomBytes(4).toString('hex')}`;
const QUEUE = { HOARD_QUEUE_URL: REDIS, HOARD_QUEUE_PREFIX: PREFIX, HOARD_AGENT_LOCK_MS: '1500' };

let root: string;
let log: string;

interface Running {
  child: ChildProcess;
  done: Promise<Ran>;
  id: string;
  pid: number;
}
const running: Running[] = [];

async function home(name: string): Promise<string> {
  const dir = join(root, 'homes', name);
  await mkdir(join(dir, 'providers'), { recursive: true });
  await writeFile(
    join(dir, 'providers', 'shared.conf'),
    [
      '[provider]',
      'name = shared',
      'id = 6a1f0c52-8d3e-4b7a-9c21-0e5d4f3a2b10',
      'bank = fs',
      'plugin = exec.task',
      'plugin = fs.directory',
      '[fs]',
      `path = ${join(root, 'bank')}`,
      '',
    ].join('\n'),
  );
  return dir;
}

/** `hoard agent --host HOST` in its own process and home; resolves once it serves. */
async function startAgent(host: string, name: string): Promise<Running> {
  const { child, done } = spawnHoard(['--json', 'agent', '--host', host], {
    env: { ...QUEUE, HOARD_HOME: await home(name) },
  });
  let out = '';
  const id = await new Promise<string>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`agent ${name} did not start`)), 20_000);
    child.stdout!.on('data', (d) => {
      out += d;
      try {
        const doc = JSON.parse(out) as { agent: string };
        clearTimeout(timer);
        resolve(doc.agent);
      } catch {}
    });
    void done.then((r) => reject(new Error(`agent ${name} exited ${r.code}: ${r.stderr}`)));
  });
  const agent = { child, done, id, pid: child.pid! };
  running.push(agent);
  return agent;
}

async function stopAgent(agent: Running, signal: NodeJS.Signals = 'SIGTERM'): Promise<Ran> {
  agent.child.kill(signal);
  return agent.done;
}

async function plan(name: string, text: string): Promise<string> {
  const file = join(root, `${name}.yaml`);
  await writeFile(file, text);
  return file;
}

/** Lines of the shared log: `<resource> <hook> <pid>` (and whatever else a command wrote). */
async function lines(): Promise<string[]> {
  const text = await readFile(log, 'utf8').catch(() => '');
  return text.split('\n').filter(Boolean);
}

async function until<T>(what: string, check: () => Promise<T | undefined>, timeoutMs = 15_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await check();
    if (value !== undefined) return value;
    if (Date.now() > deadline) throw new Error(`gave up waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

const record = (what: string) => `echo "$HOARD_RESOURCE_ID ${what} $PPID" >> ${JSON.stringify(log)}`;

describe('hooks on agents', { timeout: 120_000 }, () => {
  let a: Running;
  let b: Running;
  /** Two agents of each of the hosts ki and kn, for the kill -9 cases. */
  const pairs = new Map<string, [Running, Running]>();
  let coordinator: string;
  /** The one agent of host solo. */
  let solo: Running;

  before(async () => {
    root = await mkdtemp(join(tmpdir(), 'hoard-agents-'));
    log = join(root, 'hooks.log');
    coordinator = await home('coordinator');
    const started = await Promise.all(
      ['a', 'b', 'ki', 'ki', 'kn', 'kn', 'solo'].map((host, i) => startAgent(host, `agent-${host}-${i}`)),
    );
    [a, b] = started as [Running, Running];
    solo = started[6]!;
    pairs.set('ki', [started[2]!, started[3]!]);
    pairs.set('kn', [started[4]!, started[5]!]);
  });

  after(async () => {
    for (const agent of running) agent.child.kill('SIGKILL');
    await Promise.all(running.map((r) => r.done));
    const redis = await connectQueue({ url: REDIS, prefix: PREFIX });
    const keys = await redis.keys(`${PREFIX}:*`);
    if (keys.length > 0) await redis.del(...keys);
    redis.disconnect();
    await rm(root, { recursive: true, force: true });
  });

  /** A real `hoard serve` of the coordinator's home, and its URL once it listens. */
  const serveCoordinator = () => {
    const { child, done } = spawnHoard(['--json', 'serve', '--port', '0'], {
      env: { ...QUEUE, HOARD_HOME: coordinator, HOARD_SCHEDULER_TICK_MS: '0' },
    });
    let out = '';
    const url = new Promise<string>((resolve, reject) => {
      child.stdout!.on('data', (d) => {
        out += d;
        try {
          resolve((JSON.parse(out) as { url: string }).url);
        } catch {}
      });
      void done.then((r) => reject(new Error(`serve exited ${r.code}: ${r.stderr}`)));
    });
    return { child, done, url };
  };

  const run = (args: string[], env: Record<string, string> = {}) =>
    hoard(['--json', ...args], { ...QUEUE, HOARD_HOME: coordinator, ...env });

  it('lists the agents up, with host, kind, version and plugins', async () => {
    const r = await run(['agents', 'list']);
    assert.equal(r.code, 0, r.stderr);
    const mine = r.json.agents.filter((m: { host: string }) => m.host === 'a' || m.host === 'b');
    assert.deepEqual(mine.map((m: { host: string }) => m.host).sort(), ['a', 'b']);
    for (const m of mine) {
      assert.equal(m.kind, 'agent');
      assert.equal(m.concurrency, 1);
      assert.equal(m.running, 0);
      assert.ok(m.plugins.includes('exec.task') && m.plugins.includes('fs.directory'), m.plugins);
      assert.match(m.version, /^\d+\.\d+\.\d+/);
      assert.ok(Date.now() - Date.parse(m.lastHeartbeat) < 10_000);
    }
  });

  it("runs each hook in its host's agent, in hook order across hosts, and records host and agent", async () => {
    await rm(log, { force: true });
    const file = await plan(
      'cross',
      `name: cross
provider: shared
resources:
  - {type: exec.task, id: app, host: a, children: [files, here]}
  - {type: exec.task, id: files, host: b}
  - {type: exec.task, id: here}
parameters:
  exec.task:
    protect: {prepareBegin: '${record('pb')}', prepareFinish: '${record('pf')}', main: 'echo main on $PPID'}
`,
    );
    const r = await run(['protect', file]);
    assert.equal(r.code, 0, r.stderr);
    assert.equal(r.json.checkpoint.status, 'available');
    const got = await lines();
    const at = (entry: string) => {
      const i = got.indexOf(entry);
      assert.ok(i >= 0, `${entry} in ${got.join(' | ')}`);
      return i;
    };
    // Each hook in its own host's process; the resource without a host here.
    const appPb = at(`app pb ${a.pid}`);
    const filesPb = at(`files pb ${b.pid}`);
    const herePb = at(`here pb ${process.pid}`);
    const filesPf = at(`files pf ${b.pid}`);
    const herePf = at(`here pf ${process.pid}`);
    const appPf = at(`app pf ${a.pid}`);
    // A parent's prepareBegin before its children's (on another host), its prepareFinish after theirs.
    assert.ok(appPb < filesPb && appPb < herePb, got.join(' | '));
    assert.ok(filesPf < appPf && herePf < appPf, got.join(' | '));
    const task = (resource: string, hook: string) =>
      r.json.operation.tasks.find(
        (t: { resource: string; hook: string }) => t.resource === resource && t.hook === hook,
      );
    assert.equal(task('exec.task#app', 'main').host, 'a');
    assert.equal(task('exec.task#app', 'main').agent, a.id);
    assert.equal(task('exec.task#app', 'main').stdout, `main on ${a.pid}\n`);
    assert.equal(task('exec.task#files', 'prepareBegin').agent, b.id);
    assert.equal(task('exec.task#here', 'main').host, undefined);
    assert.equal(task('exec.task#here', 'main').agent, undefined);
    // Once answered, the jobs are gone from Redis, and the hooks' parameters with them.
    const redis = await connectQueue({ url: REDIS, prefix: PREFIX });
    try {
      const jobKeys = () => redis.keys(`${PREFIX}:hooks.*:${r.json.checkpoint.id}.*`);
      for (let waited = 0; (await jobKeys()).length > 0 && waited < 5_000; waited += 100)
        await new Promise((resolve) => setTimeout(resolve, 100));
      assert.deepEqual(await jobKeys(), []);
    } finally {
      redis.disconnect();
    }
  });

  it("writes an agent's data into the shared bank, restorable from the coordinator, with its statistics", async () => {
    const data = join(root, 'data-b');
    await mkdir(join(data, 'sub'), { recursive: true });
    await writeFile(join(data, 'one.txt'), 'one\n'.repeat(1000));
    await writeFile(join(data, 'sub', 'two.txt'), 'two');
    const file = await plan(
      'files',
      `name: files
provider: shared
resources:
  - {type: fs.directory, id: d, host: b, path: ${JSON.stringify(data)}}
`,
    );
    const r = await run(['protect', file]);
    assert.equal(r.code, 0, r.stderr);
    const stats = r.json.checkpoint.resources[0].stats;
    assert.equal(stats.files, 2);
    assert.equal(stats.bytes, 4003);
    assert.ok(stats.storedBytes > 0);
    const main = r.json.operation.tasks.find((t: { hook: string }) => t.hook === 'main');
    assert.equal(main.agent, b.id);
    // The coordinator proved the agent's blobs present before calling it available; a restore
    // here (no host for the restore's own resource? it has one: on b) reads them back.
    const target = join(root, 'restored');
    const restored = await run(['restore', r.json.checkpoint.id, '--target', target]);
    assert.equal(restored.code, 0, restored.stderr);
    assert.equal(await readFile(join(target, 'sub', 'two.txt'), 'utf8'), 'two');
    assert.equal(restored.json.operation.tasks.find((t: { hook: string }) => t.hook === 'main').agent, b.id);
  });

  it("reports the progress of a remote hook that runs a while (over 200 ms) to the operation's events like a local one's", async () => {
    const { providers } = await loadProviders(coordinator);
    const provider = providers.find((p) => p.name === 'shared')!;
    const file = await plan(
      'progress',
      `name: progress
provider: shared
resources:
  - {type: exec.task, id: p, host: a}
parameters:
  exec.task: {protect: {main: 'sleep 0.6'}}
`,
    );
    const transport = await QueueHookTransport.open({ url: REDIS, prefix: PREFIX });
    const events: EngineEvent[] = [];
    try {
      const result = await protect(await loadPlan(file), provider, {
        transport,
        onEvent: (e) => events.push(e),
      });
      assert.equal(result.checkpoint.status, 'available');
    } finally {
      await transport.close();
    }
    const progress = events.filter((e) => e.type === 'progress' && e.task === 'exec.task#p:main');
    assert.ok(
      progress.some((e) => e.type === 'progress' && e.detail === `taken by ${a.id}`),
      JSON.stringify(progress),
    );
  });

  it('shows agents through GET /v1/{project}/agents: all to an admin, the hosts of its plans to a project', async () => {
    const admin = (await run(['tokens', 'create', '--project', 'ops', '--admin'])).json.secret as string;
    const project = (await run(['tokens', 'create', '--project', 'demo'])).json.secret as string;
    const { child, done, url: listening } = serveCoordinator();
    try {
      const url = await listening;
      const get = async (token: string) => {
        const response = await fetch(`${url}/v1/demo/agents`, {
          headers: { authorization: `Bearer ${token}` },
        });
        assert.equal(response.status, 200);
        return (await response.json()) as { agents: { id: string; host: string; kind: string }[] };
      };
      const all = await get(admin);
      for (const agent of [a, b]) assert.ok(all.agents.some((m) => m.id === agent.id));
      assert.deepEqual(await get(project), { agents: [], queue: true });
      const created = await fetch(`${url}/v1/demo/plans`, {
        method: 'POST',
        headers: { authorization: `Bearer ${project}`, 'content-type': 'application/json' },
        body: JSON.stringify({
          name: 'on-a',
          providerId: 'shared',
          resources: [{ type: 'fs.directory', id: 'd', host: 'a', path: root }],
        }),
      });
      assert.equal(created.status, 201, await created.text());
      const mine = await get(project);
      assert.deepEqual(
        mine.agents.map((m) => [m.id, m.host, m.kind]),
        [[a.id, 'a', 'agent']],
      );
    } finally {
      child.kill('SIGTERM');
      await done;
    }
  });

  it('fails a hook no agent takes within HOARD_AGENT_WAIT with AGENT_UNAVAILABLE, and still runs the teardowns', async () => {
    await rm(log, { force: true });
    const file = await plan(
      'nowhere',
      `name: nowhere
provider: shared
resources:
  - {type: exec.task, id: app, children: [far]}
  - {type: exec.task, id: far, host: nowhere}
parameters:
  exec.task:
    protect: {prepareBegin: '${record('pb')}', prepareFinish: '${record('pf')}', main: '${record('main')}'}
`,
    );
    const started = Date.now();
    const r = await run(['protect', file], { HOARD_AGENT_WAIT: '1' });
    assert.ok(Date.now() - started < 15_000, `took ${Date.now() - started} ms`);
    assert.equal(r.code, 1, r.stderr);
    const task = (resource: string, hook: string) =>
      r.json.operation.tasks.find(
        (t: { resource: string; hook: string }) => t.resource === resource && t.hook === hook,
      );
    const far = task('exec.task#far', 'prepareBegin');
    assert.equal(far.status, 'failed');
    assert.equal(far.error.code, 'AGENT_UNAVAILABLE');
    assert.match(far.error.message, /no agent of host "nowhere" took it within 1 s/);
    assert.equal(far.host, 'nowhere');
    assert.equal(task('exec.task#app', 'prepareFinish').status, 'succeeded');
    assert.equal(task('exec.task#app', 'main').status, 'upstream_failed');
    assert.deepEqual(await lines(), [`app pb ${process.pid}`, `app pf ${process.pid}`]);
  });

  it('without HOARD_QUEUE_URL, never runs a hook of a resource with a host here: AGENT_UNAVAILABLE', async () => {
    const file = await plan(
      'noqueue',
      `name: noqueue
provider: shared
resources:
  - {type: exec.task, id: far, host: a}
parameters:
  exec.task: {protect: {main: 'echo ran here'}}
`,
    );
    const r = await hoard(['--json', 'protect', file], { HOARD_HOME: coordinator, HOARD_QUEUE_URL: '' });
    assert.equal(r.code, 1, r.stderr);
    const main = r.json.operation.tasks.find((t: { hook: string }) => t.hook === 'main');
    assert.equal(main.error.code, 'AGENT_UNAVAILABLE');
    assert.match(main.error.message, /HOARD_QUEUE_URL is not set/);
    assert.equal(main.stdout, undefined);
  });

  it('cancels a remote hook on Ctrl-C of the CLI, and runs the teardowns owed on the hosts', async () => {
    await rm(log, { force: true });
    const file = await plan(
      'cancel',
      `name: cancel
provider: shared
resources:
  - {type: exec.task, id: app, host: a, children: [slow]}
  - {type: exec.task, id: slow, host: b}
parameters:
  exec.task:
    protect: {prepareBegin: '${record('pb')}', prepareFinish: '${record('pf')}'}
  exec.task#slow:
    protect: {prepareBegin: '${record('pb')}; sleep 20; ${record('done')}'}
`,
    );
    const { child, done } = spawnHoard(['--json', 'protect', file], {
      env: { ...QUEUE, HOARD_HOME: coordinator },
    });
    await until("the child's remote prepareBegin to start", async () =>
      (await lines()).includes(`slow pb ${b.pid}`) ? true : undefined,
    );
    const cancelledAt = Date.now();
    child.kill('SIGINT');
    const r = await done;
    assert.ok(Date.now() - cancelledAt < 10_000, `took ${Date.now() - cancelledAt} ms`);
    assert.equal(r.code, 130, r.stderr);
    const task = (resource: string, hook: string) =>
      r.json.operation.tasks.find(
        (t: { resource: string; hook: string }) => t.resource === resource && t.hook === hook,
      );
    assert.equal(task('exec.task#slow', 'prepareBegin').status, 'cancelled');
    assert.equal(task('exec.task#slow', 'prepareFinish').status, 'cancelled');
    // The parent's prepareBegin succeeded on a: its prepareFinish is owed, and ran there.
    assert.equal(task('exec.task#app', 'prepareFinish').status, 'succeeded');
    assert.equal(task('exec.task#app', 'prepareFinish').agent, a.id);
    assert.deepEqual(await lines(), [`app pb ${a.pid}`, `slow pb ${b.pid}`, `app pf ${a.pid}`]);
    // The agent's command was stopped: agent b runs nothing now.
    const idle = await until('agent b to be idle', async () => {
      const list = await run(['agents', 'list']);
      const me = list.json.agents.find((m: { id: string }) => m.id === b.id);
      return me?.running === 0 ? me : undefined;
    });
    assert.equal(idle.running, 0);
    assert.ok(!(await lines()).some((l) => l.startsWith('slow done')));
  });

  for (const idempotent of [true, false]) {
    it(`after kill -9 of an agent mid-hook, ${idempotent ? 'delivers an idempotent hook again to another agent' : 'fails a prepareBegin that is not idempotent with AGENT_LOST, and runs its teardown on another agent of the host'}`, async () => {
      await rm(log, { force: true });
      const host = `k${idempotent ? 'i' : 'n'}`;
      const [k1, k2] = pairs.get(host)!;
      // The idempotent case kills a main hook; the other a prepareBegin (a freeze), which
      // may have done its work: its prepareFinish is owed and runs on the host.
      const hook = idempotent ? 'main' : 'prepareBegin';
      const file = await plan(
        `kill-${host}`,
        `name: kill-${host}
provider: shared
resources:
  - {type: exec.task, id: job, host: ${host}}
parameters:
  exec.task:
    protect: {${hook}: '${record('start')}; sleep 2; ${record('done')}', prepareFinish: '${record('pf')}'${idempotent ? ', idempotent: [main]' : ''}}
`,
      );
      const protecting = run(['protect', file]);
      const first = await until('the hook to start', async () => {
        const line = (await lines()).find((l) => l.startsWith('job start '));
        return line ? Number(line.split(' ')[2]) : undefined;
      });
      const victim = first === k1.pid ? k1 : k2;
      const survivor = victim === k1 ? k2 : k1;
      assert.equal(victim.pid, first);
      victim.child.kill('SIGKILL');
      const r = await protecting;
      const task = (name: string) => r.json.operation.tasks.find((t: { hook: string }) => t.hook === name);
      const starts = (await lines()).filter((l) => l.startsWith('job start '));
      if (idempotent) {
        assert.equal(r.code, 0, r.stderr);
        assert.equal(task('main').status, 'succeeded');
        assert.equal(task('main').agent, survivor.id);
        assert.deepEqual(starts, [`job start ${victim.pid}`, `job start ${survivor.pid}`]);
        assert.ok((await lines()).includes(`job done ${survivor.pid}`));
      } else {
        assert.equal(r.code, 1, r.stderr);
        const pb = task('prepareBegin');
        assert.equal(pb.status, 'failed');
        assert.equal(pb.error.code, 'AGENT_LOST');
        assert.match(pb.error.message, /not idempotent, so it is not run again/);
        assert.deepEqual(starts, [`job start ${victim.pid}`]);
        assert.equal(task('prepareFinish').status, 'succeeded');
        assert.equal(task('prepareFinish').agent, survivor.id);
        assert.ok((await lines()).includes(`job pf ${survivor.pid}`));
        assert.equal(task('main').status, 'upstream_failed');
      }
      await stopAgent(survivor);
    });
  }

  it('notices an agent killed mid-hook when no other agent of its host is up: AGENT_LOST after about the lock', async () => {
    await rm(log, { force: true });
    const file = await plan(
      'solo',
      `name: solo
provider: shared
resources:
  - {type: exec.task, id: job, host: solo}
parameters:
  exec.task:
    protect: {main: '${record('start')}; sleep 20; ${record('done')}'}
`,
    );
    const protecting = run(['protect', file]);
    await until('the hook to start', async () =>
      (await lines()).includes(`job start ${solo.pid}`) ? true : undefined,
    );
    const killedAt = Date.now();
    solo.child.kill('SIGKILL');
    const r = await protecting;
    // The lock is 1.5 s here: noticed long before the hook (20 s) would have ended by itself.
    assert.ok(Date.now() - killedAt < 10_000, `took ${Date.now() - killedAt} ms`);
    assert.equal(r.code, 1, r.stderr);
    const main = r.json.operation.tasks.find((t: { hook: string }) => t.hook === 'main');
    assert.equal(main.error.code, 'AGENT_LOST');
    assert.match(main.error.message, /its lock expired/);
  });

  it('cancels a remote hook through the API (POST …/operation_logs/{id}/cancel): the agent stops its command', async () => {
    await rm(log, { force: true });
    const admin = (await run(['tokens', 'create', '--project', 'ops', '--admin'])).json.secret as string;
    const { child, done, url: listening } = serveCoordinator();
    try {
      const url = await listening;
      const api = async (method: string, path: string, body?: unknown) => {
        const response = await fetch(`${url}/v1/ops/${path}`, {
          method,
          headers: {
            authorization: `Bearer ${admin}`,
            ...(body === undefined ? {} : { 'content-type': 'application/json' }),
          },
          ...(body === undefined ? {} : { body: JSON.stringify(body) }),
        });
        const text = await response.text();
        assert.ok(response.status < 300, `${method} ${path}: ${response.status} ${text}`);
        return JSON.parse(text);
      };
      const { plan: created } = await api('POST', 'plans', {
        name: 'api-cancel',
        providerId: 'shared',
        resources: [{ type: 'exec.task', id: 'slow', host: 'a' }],
        parameters: {
          'exec.task': {
            protect: {
              prepareBegin: record('pb'),
              prepareFinish: record('pf'),
              main: `${record('main')}; sleep 20; ${record('done')}`,
            },
          },
        },
      });
      const { operationLog } = await api('POST', 'providers/shared/checkpoints', { planId: created.id });
      await until('the remote main hook to start', async () =>
        (await lines()).includes(`slow main ${a.pid}`) ? true : undefined,
      );
      await api('POST', `operation_logs/${operationLog.id}/cancel`);
      const ended = await until('the operation to end', async () => {
        const { operationLog: now } = await api('GET', `operation_logs/${operationLog.id}`);
        return now.status === 'running' || now.status === 'queued' ? undefined : now;
      });
      assert.equal(ended.status, 'cancelled');
      assert.deepEqual(await lines(), [`slow pb ${a.pid}`, `slow pf ${a.pid}`, `slow main ${a.pid}`]);
      // The agent's command was stopped: it runs nothing now, and never wrote "done".
      await until('agent a to be idle', async () => {
        const list = await run(['agents', 'list']);
        return list.json.agents.find((m: { id: string }) => m.id === a.id)?.running === 0 ? true : undefined;
      });
      assert.ok(!(await lines()).some((l) => l.startsWith('slow done')));
    } finally {
      child.kill('SIGTERM');
      await done;
    }
  });
});
