/**
 * An agent writes into the coordinator's bank or not at all (SPEC §12): an agent whose
 * provider file, of the same id and name, points at another bank refuses every hook with
 * AGENT_BANK_MISMATCH, naming its host and both banks, and stores nothing anywhere.
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { mkdir, mkdtemp, readdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { connectQueue } from '../../src/queue/connection.js';
import { hoard, type Ran, spawnHoard } from '../cli/helpers.js';
import { NO_REDIS, REDIS_URL } from './redis-server.js';

const PREFIX = `hoard-bank-id-${randomBytes(4).toString('hex')}`;
const QUEUE = { HOARD_QUEUE_URL: REDIS_URL, HOARD_QUEUE_PREFIX: PREFIX };

describe('an agent whose provider opens another bank', { skip: NO_REDIS, timeout: 120_000 }, () => {
  let root: string;
  const agents: { kill(signal: NodeJS.Signals): void; done: Promise<Ran> }[] = [];

  /** A home whose provider `shared` (always the same id) keeps its bank in `bank`. */
  const home = async (name: string, bank: string) => {
    const dir = join(root, 'homes', name);
    await mkdir(join(dir, 'providers'), { recursive: true });
    await writeFile(
      join(dir, 'providers', 'shared.conf'),
      `[provider]\nname = shared\nid = 7c2e9a41-3b5d-4f60-8e1a-2d4c6b8f0a13\nbank = fs\nplugin = exec.task\nplugin = fs.directory\n[fs]\npath = ${bank}\n`,
    );
    return dir;
  };
  const startAgent = async (host: string, bank: string) => {
    const { child, done } = spawnHoard(['--json', 'agent', '--host', host], {
      env: { ...QUEUE, HOARD_HOME: await home(`agent-${host}`, bank) },
    });
    agents.push({ kill: (s) => child.kill(s), done });
    await new Promise<void>((resolve, reject) => {
      child.stdout!.once('data', () => resolve());
      void done.then((r) => reject(new Error(`agent exited ${r.code}: ${r.stderr}`)));
    });
  };

  before(async () => {
    root = await mkdtemp(join(tmpdir(), 'hoard-bank-identity-'));
    await startAgent('right', join(root, 'bank'));
    await startAgent('wrong', join(root, 'other-bank'));
  });

  after(async () => {
    for (const a of agents) a.kill('SIGKILL');
    await Promise.all(agents.map((a) => a.done));
    const redis = await connectQueue({ url: REDIS_URL, prefix: PREFIX });
    const keys = await redis.keys(`${PREFIX}:*`);
    if (keys.length > 0) await redis.del(...keys);
    redis.disconnect();
    await rm(root, { recursive: true, force: true });
  });

  it('refuses its hooks with AGENT_BANK_MISMATCH naming host and both banks, and stores nothing; an agent of the same bank runs them', async () => {
    const data = join(root, 'data');
    await mkdir(data);
    await writeFile(join(data, 'f.txt'), 'some data\n'.repeat(1000));
    const coordinator = await home('coordinator', join(root, 'bank'));
    const plan = async (host: string) => {
      const file = join(root, `on-${host}.yaml`);
      await writeFile(
        file,
        `name: on-${host}\nprovider: shared\nresources:\n  - {type: fs.directory, id: files, host: ${host}, path: ${JSON.stringify(data)}}\n`,
      );
      return file;
    };
    const refused = await hoard(['--json', 'protect', await plan('wrong')], {
      ...QUEUE,
      HOARD_HOME: coordinator,
    });
    assert.equal(refused.code, 1, refused.stderr);
    assert.equal(refused.json.checkpoint.status, 'error');
    const first = refused.json.operation.tasks.find((t: { status: string }) => t.status === 'failed');
    assert.equal(first.hook, 'main');
    assert.equal(first.error.code, 'AGENT_BANK_MISMATCH');
    const message: string = first.error.message;
    assert.match(message, /the agent on host "wrong"/);
    assert.ok(message.includes(`fs ${join(root, 'other-bank')}`), message);
    assert.ok(message.includes(`is in fs ${join(root, 'bank')}`), message);
    assert.match(message, /point the agent's provider at the same bank/);
    // Nothing of it reached the other bank (no section, no content store).
    const stored = await readdir(join(root, 'other-bank')).catch(() => []);
    assert.deepEqual(stored, []);

    const good = await hoard(['--json', 'protect', await plan('right')], {
      ...QUEUE,
      HOARD_HOME: coordinator,
    });
    assert.equal(good.code, 0, good.stderr);
    assert.equal(good.json.checkpoint.status, 'available');
  });
});
