/**
 * The service's instrumented banks (metrics.ts) must behave like the banks they count: in
 * particular, a stream a reader stops early must close its file, not leave it to the garbage
 * collector (DEP0137, which Node says will become an error).
 */
import assert from 'node:assert/strict';
import { createCipheriv } from 'node:crypto';
import { readdirSync, readlinkSync } from 'node:fs';
import { mkdir, mkdtemp, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import type { Catalog } from '../../src/catalog/index.js';
import { restore, verify } from '../../src/flows/checkpoint-ops.js';
import { protect } from '../../src/flows/protect.js';
import { parsePlan } from '../../src/plans/plan.js';
import { localProvider } from '../../src/providers/provider.js';
import { Metrics } from '../../src/service/metrics.js';

setFlagsFromString('--expose-gc');
const gc = runInNewContext('gc') as () => void;

/** Descriptors of this process open on files under `dir`. */
function openUnder(dir: string): string[] {
  const open: string[] = [];
  for (const fd of readdirSync('/proc/self/fd')) {
    try {
      const path = readlinkSync(`/proc/self/fd/${fd}`);
      if (path.startsWith(dir)) open.push(path);
    } catch {
      // Gone since the listing (the listing's own descriptor, for one).
    }
  }
  return open;
}

describe('metrics: instrumented banks', () => {
  it('a restore and a verify through a served provider close every file of the bank they open', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'hoard-metrics-handles-'));
    const data = join(dir, 'data');
    await mkdir(data);
    // 24 MiB of random data in 8 files: two packs, each read up to its last blob and no further.
    for (let i = 0; i < 8; i++) {
      const bytes = createCipheriv('aes-128-ctr', Buffer.alloc(16, i), Buffer.alloc(16)).update(
        Buffer.alloc(3 * 1024 * 1024),
      );
      await writeFile(join(data, `f${i}.bin`), bytes);
    }
    const local = await localProvider(join(dir, 'home'));
    const plan = parsePlan(
      JSON.stringify({ name: 'files', resources: [{ type: 'fs.directory', id: 'data', path: data }] }),
      'plan.json',
    );
    const p = await protect(plan, local);
    assert.equal(p.checkpoint.status, 'available');
    const served = new Metrics({} as Catalog, async () => []).instrument(local);

    const closedByGc: string[] = [];
    const onWarning = (warning: Error) => {
      if (/Closing file descriptor \d+ on garbage collection/.test(warning.message))
        closedByGc.push(warning.message);
    };
    process.on('warning', onWarning);
    try {
      const r = await restore(p.checkpoint.id, served, { target: join(dir, 'restored') });
      assert.equal(r.operation?.status, 'succeeded');
      const v = await verify(p.checkpoint.id, served);
      assert.equal(v.operation?.status, 'succeeded');
      assert.deepEqual(openUnder(join(dir, 'home')), [], 'files of the bank still open');
      // Whatever was left open (and maybe already collected) is reported by Node when collected.
      for (let i = 0; i < 3; i++) {
        gc();
        await new Promise((resolve) => setTimeout(resolve, 20));
      }
      assert.deepEqual(closedByGc, []);
    } finally {
      process.off('warning', onWarning);
    }
  });
});
