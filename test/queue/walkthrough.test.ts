/**
 * The README's "Many machines" walk-through (examples/many-machines/walkthrough.sh) as
 * written: two `hoard agent` processes for hosts a and b, a protect whose resources name them,
 * then a restore; against the real Redis, under a prefix of its own.
 */
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { it } from 'node:test';
import { promisify } from 'node:util';
import { connectQueue } from '../../src/queue/connection.js';
import { ROOT } from '../cli/helpers.js';

const REDIS = process.env.HOARD_TEST_REDIS_URL ?? 'redis://127.0.0.1:6379';

it('the many-machines walk-through runs end to end', { timeout: 120_000 }, async () => {
  const work = await mkdtemp(join(tmpdir(), 'hoard-many-'));
  const prefix = `hoard-walk-${randomBytes(4).toString('hex')}`;
  try {
    const walk = await promisify(execFile)(
      'bash',
      [join(ROOT, 'examples', 'many-machines', 'walkthrough.sh')],
      {
        cwd: ROOT,
        env: {
          ...process.env,
          WORK: work,
          HOARD_QUEUE_URL: REDIS,
          HOARD_QUEUE_PREFIX: prefix,
        },
      },
    );
    assert.match(walk.stdout, /protect succeeded/);
    assert.match(walk.stdout, /^ {2}exec\.task#app on host a \(agent agent\.[^)]+\)$/m);
    assert.match(walk.stdout, /^ {2}fs\.directory#uploads on host b \(agent agent\.[^)]+\)$/m);
    assert.match(walk.stdout, /stdout of exec\.task#app prepareBegin:\n\s+freeze on host a/);
    assert.match(walk.stdout, /^a\s+agent\s/m);
    assert.match(walk.stdout, /^b\s+agent\s/m);
    assert.match(walk.stdout, /restore succeeded/);
    assert.equal(await readFile(join(work, 'restored', 'hello.txt'), 'utf8'), 'hello\n');
    // Each hook ran in its host's agent.
    assert.match(await readFile(join(work, 'agent-a.log'), 'utf8'), /exec\.task#app prepareBegin: succeeded/);
    assert.match(await readFile(join(work, 'agent-b.log'), 'utf8'), /fs\.directory#uploads main: succeeded/);
  } finally {
    const redis = await connectQueue({ url: REDIS, prefix });
    const keys = await redis.keys(`${prefix}:*`);
    if (keys.length > 0) await redis.del(...keys);
    redis.disconnect();
    await rm(work, { recursive: true, force: true });
  }
});
