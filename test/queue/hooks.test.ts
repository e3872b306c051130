/**
 * The coordinator's side of hooks on BullMQ (queue/hooks.ts), against the real Redis: a
 * coordinator that restarts adopts the job its predecessor dispatched (same id) instead of
 * running the hook again.
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { Queue } from 'bullmq';
import type { HookRequest } from '../../src/flows/transport.js';
import { loadProviders } from '../../src/providers/provider.js';
import { Agent } from '../../src/queue/agent.js';
import { connectQueue } from '../../src/queue/connection.js';
import { hookJobId, hookQueueName, QueueHookTransport } from '../../src/queue/hooks.js';
import { NO_REDIS, REDIS_URL } from './redis-server.js';

const settings = { url: REDIS_URL, prefix: `hoard-hooks-${randomBytes(4).toString('hex')}` };

describe('hooks on BullMQ, the coordinator side', { skip: NO_REDIS, timeout: 60_000 }, () => {
  let root: string;
  let agent: Agent;

  before(async () => {
    root = await mkdtemp(join(tmpdir(), 'hoard-hooks-'));
    await mkdir(join(root, 'providers'));
    await writeFile(
      join(root, 'providers', 'p.conf'),
      `[provider]\nname = p\nid = 5d1e3f7a-2b4c-4d6e-8f0a-1b3c5d7e9f21\nbank = fs\nplugin = exec.task\n[fs]\npath = ${join(root, 'bank')}\n`,
    );
    const { providers } = await loadProviders(root);
    agent = await Agent.start({ host: 'adopt', providers, settings, version: 'test' });
  });

  after(async () => {
    await agent?.close(true);
    const redis = await connectQueue(settings);
    const keys = await redis.keys(`${settings.prefix}:*`);
    if (keys.length > 0) await redis.del(...keys);
    redis.disconnect();
    await rm(root, { recursive: true, force: true });
  });

  it('a restarted coordinator adopts a job its predecessor dispatched: the answer, not a second run', async () => {
    const log = join(root, 'runs.log');
    const checkpoint = '20261207T150000000Z-0a1b2c3d';
    // The bank the agent checks holds the checkpoint's record, as a coordinator's would.
    await mkdir(join(root, 'bank', 'checkpoints', checkpoint), { recursive: true });
    await writeFile(join(root, 'bank', 'checkpoints', checkpoint, 'meta.json'), '{}');
    const request: HookRequest = {
      kind: 'protect',
      checkpoint: { id: checkpoint, plan: 'adopt', provider: 'p' },
      providerId: '5d1e3f7a-2b4c-4d6e-8f0a-1b3c5d7e9f21',
      bank: { location: `fs ${join(root, 'bank')}` },
      key: 'exec.task#job',
      resource: { type: 'exec.task', id: 'job', host: 'adopt' },
      hook: 'main',
      host: 'adopt',
      parameters: {
        parameters: { protect: { main: `echo ran >> ${JSON.stringify(log)}; sleep 1; echo said-so` } },
        protectParameters: {},
      },
      failures: [],
      task: 'exec.task#job:main',
      attempt: 1,
      run: 'protect',
      idempotent: false,
      teardown: false,
    };
    const io = () => ({ signal: new AbortController().signal, progress: () => {} });

    // The first coordinator dispatches and dies (its transport closes) before the answer.
    const first = await QueueHookTransport.open(settings);
    void first.run(request, io()).catch(() => {});
    const deadline = Date.now() + 20_000;
    while (!(await readFile(log, 'utf8').catch(() => '')).includes('ran')) {
      assert.ok(Date.now() < deadline, 'the hook did not start');
      await new Promise((r) => setTimeout(r, 50));
    }
    await first.close();
    const queue = new Queue(hookQueueName('adopt'), {
      connection: { url: REDIS_URL },
      prefix: settings.prefix,
    });
    try {
      while ((await queue.getJobState(hookJobId(request))) !== 'completed') {
        assert.ok(Date.now() < deadline, 'the hook did not end');
        await new Promise((r) => setTimeout(r, 50));
      }
    } finally {
      await queue.close();
    }

    // Its successor dispatches the same hook (same id) after it ended: it gets that run's answer.
    const second = await QueueHookTransport.open(settings, { lockMs: 20_000 });
    try {
      const started = Date.now();
      const outcome = await second.run(request, io());
      assert.equal(outcome.agent, agent.id);
      assert.equal(outcome.output?.stdout, 'said-so\n');
      // Well before the watchdog's first read (half of a 20 s lock): the 'duplicated' event
      // of the add had its state read at once.
      assert.ok(Date.now() - started < 5_000, `took ${Date.now() - started} ms`);
    } finally {
      await second.close();
    }
    assert.equal(await readFile(log, 'utf8'), 'ran\n', 'the hook ran once');
  });
});
