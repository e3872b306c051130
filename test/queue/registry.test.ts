/** The queue's settings and the registry of agents and workers, against the real Redis. */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { after, before, describe, it } from 'node:test';
import type { Redis } from 'ioredis';
import { HoardError } from '../../src/errors.js';
import { connectQueue, queueSettings, redactedUrl } from '../../src/queue/connection.js';
import { heartbeat, leave, listMembers, type Member } from '../../src/queue/registry.js';
import { NO_REDIS, REDIS_URL } from './redis-server.js';

describe('queue settings', () => {
  it('are absent without HOARD_QUEUE_URL, and default the prefix', () => {
    assert.equal(queueSettings({}), undefined);
    assert.equal(queueSettings({ HOARD_QUEUE_URL: '  ' }), undefined);
    assert.deepEqual(queueSettings({ HOARD_QUEUE_URL: 'redis://h:1/2' }), {
      url: 'redis://h:1/2',
      prefix: 'hoard',
    });
  });

  it('name the variable and what was expected when wrong', () => {
    const bad = (env: NodeJS.ProcessEnv, pattern: RegExp) =>
      assert.throws(
        () => queueSettings(env),
        (e: unknown) => e instanceof HoardError && e.code === 'QUEUE_INVALID' && pattern.test(e.message),
      );
    bad({ HOARD_QUEUE_URL: 'not a url' }, /HOARD_QUEUE_URL is not a URL: expected redis:/);
    bad({ HOARD_QUEUE_URL: 'http://h:1' }, /scheme "http": expected redis:\/\/ or rediss:\/\//);
    bad({ HOARD_QUEUE_URL: 'redis://h', HOARD_QUEUE_PREFIX: 'a:b' }, /HOARD_QUEUE_PREFIX/);
  });

  it('never show a password', () => {
    assert.equal(redactedUrl('redis://user:s3cret@h:6379/0'), 'redis://user:***@h:6379/0');
  });

  it('report an unreachable server as QUEUE_UNAVAILABLE without the password', async () => {
    await assert.rejects(
      connectQueue({ url: 'redis://:hunter2@127.0.0.1:1', prefix: 'x' }, { connectTimeoutMs: 1_000 }),
      (e: unknown) =>
        e instanceof HoardError &&
        e.code === 'QUEUE_UNAVAILABLE' &&
        /is Redis running there\?/.test(e.message) &&
        !e.message.includes('hunter2'),
    );
  });
});

describe('the registry', { skip: NO_REDIS }, () => {
  const prefix = `hoard-test-${randomBytes(4).toString('hex')}`;
  let redis: Redis;
  before(async () => {
    redis = await connectQueue({ url: REDIS_URL, prefix });
  });
  after(async () => {
    const keys = await redis.keys(`${prefix}:*`);
    if (keys.length) await redis.del(...keys);
    redis.disconnect();
  });

  const member = (id: string, kind: Member['kind'], host: string): Member => ({
    id,
    kind,
    host,
    version: '0.1.0',
    plugins: ['fs.directory'],
    concurrency: 2,
    running: 0,
    startedAt: new Date().toISOString(),
    lastHeartbeat: new Date().toISOString(),
  });

  it('lists living members, forgets those that left or stopped beating', async () => {
    await heartbeat(redis, prefix, member('w1', 'worker', 'm1'), 60_000);
    await heartbeat(redis, prefix, member('a2', 'agent', 'db'), 60_000);
    await heartbeat(redis, prefix, member('a1', 'agent', 'app'), 60_000);
    await heartbeat(redis, prefix, member('a3', 'agent', 'files'), 50);
    assert.deepEqual(
      (await listMembers(redis, prefix)).map((m) => m.id),
      ['a1', 'a2', 'a3', 'w1'],
    );
    await new Promise((resolve) => setTimeout(resolve, 120));
    await leave(redis, prefix, 'a2');
    assert.deepEqual(
      (await listMembers(redis, prefix)).map((m) => m.id),
      ['a1', 'w1'],
    );
    // The expired id is pruned from the set, not only hidden.
    assert.deepEqual((await redis.smembers(`${prefix}:members`)).sort(), ['a1', 'w1']);
  });
});
