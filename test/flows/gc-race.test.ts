/**
 * Garbage collection against a protect, with the collector forced into every gap of the
 * protect (and the protect into the collector's): no gap may lose a checkpoint's data, and
 * no checkpoint may be called available unless its data is there.
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { PROCESS_OWNER } from '../../src/checkpoints/store.js';
import { restore, verify } from '../../src/flows/checkpoint-ops.js';
import { collectGarbage } from '../../src/flows/gc.js';
import { protect } from '../../src/flows/protect.js';
import { referencedBlobs } from '../../src/flows/references.js';
import type { ProtectionPlugin } from '../../src/plugins/sdk.js';
import { ContentStore } from '../../src/store/index.js';
import { deferred, type Fixture, fixture, plan, sha256, sourceTree, treeSums } from './fixture.js';

// A protect waits at most this long for a collector (default 10 minutes): a bug here fails, not hangs.
process.env.HOARD_STORE_WAIT = '5';

/** Where a test stops the protect to run a collector. */
type Gap = (point: string) => Promise<void>;

/**
 * `test.data` keeps `data` in the content store the way fs.directory does (a writer, then the
 * `blobs` references), calling `gap` at each step; `test.app`, its parent, calls it once every
 * other hook is done.
 */
function gapPlugins(data: Buffer, gap: Gap): ProtectionPlugin[] {
  const dataPlugin: ProtectionPlugin = {
    name: 'test.data',
    types: [{ type: 'test.data' }],
    operation(kind) {
      if (kind === 'protect') {
        return {
          onMain: async (ctx) => {
            const writer = await ctx.store.openWriter(`test ${ctx.checkpoint.id}`);
            const { blobs } = await writer.write(data);
            await gap('a writer is open');
            await writer.close();
            await gap('the writer is closed, nothing refers to its blobs yet');
            await ctx.bank.put('blobs', [...new Set(blobs)].sort().join('\n'));
            await ctx.bank.put('order', blobs.join('\n'));
            await gap('the blobs are referenced, the checkpoint is still protecting');
          },
        };
      }
      if (kind === 'verify') {
        return {
          onMain: async (ctx) => {
            const order = (await ctx.bank.get('order')).toString('utf8').split('\n');
            const parts: Buffer[] = [];
            for (const id of order) parts.push(await ctx.store.readBlob(id));
            if (sha256(Buffer.concat(parts)) !== sha256(data)) throw new Error('the data read back differs');
          },
        };
      }
      return undefined;
    },
  };
  const appPlugin: ProtectionPlugin = {
    name: 'test.app',
    types: [{ type: 'test.app' }],
    operation: (kind) =>
      kind === 'protect' ? { onComplete: () => gap('every hook but the last is done') } : undefined,
  };
  return [dataPlugin, appPlugin];
}

const DATA_PLAN = `
name: gaps
resources:
  - {type: test.app, id: app, children: [data]}
  - {type: test.data, id: data}
`;

describe('garbage collection never removes what a protect is about to refer to', () => {
  const data = randomBytes(700 * 1024);
  const outcomes: { point: string; outcome: string }[] = [];
  let f: Fixture;
  const gap: Gap = async (point) => {
    const outcome = await collectGarbage(f.provider).then(
      (report) => `ran and removed ${report.packsRemoved} pack(s)`,
      (error: { code?: string }) => error.code ?? String(error),
    );
    outcomes.push({ point, outcome });
  };

  before(async () => {
    f = await fixture(gapPlugins(data, gap));
  });
  after(() => f.done());

  it('a collector in any gap of a protect is refused, and the checkpoint verifies', async () => {
    const result = await protect(plan(DATA_PLAN), f.provider, {
      beforeCommit: () => gap('the data is proven, the status is not yet available'),
    });
    assert.equal(result.checkpoint.status, 'available', JSON.stringify(result.operation));
    assert.deepEqual(
      outcomes.map((o) => o.point),
      [
        'a writer is open',
        'the writer is closed, nothing refers to its blobs yet',
        'the blobs are referenced, the checkpoint is still protecting',
        'every hook but the last is done',
        'the data is proven, the status is not yet available',
      ],
    );
    for (const { point, outcome } of outcomes) assert.equal(outcome, 'STORE_BUSY', `gc when ${point}`);

    // Once the protect is over, a collector runs, and keeps what the checkpoint refers to.
    const report = await collectGarbage(f.provider);
    assert.equal(report.packsRemoved, 0);
    assert.equal(report.blobsMissing, 0);
    const verified = await verify(result.checkpoint.id, f.provider);
    assert.equal(verified.operation!.status, 'succeeded', JSON.stringify(verified.operation!.tasks));
  });
});

describe('a protect that starts while a collector holds the store', () => {
  let f: Fixture;
  before(async () => {
    f = await fixture();
  });
  after(() => f.done());

  it('waits for the collector, saying why, then protects; the collector removed nothing it needs', async () => {
    const source = join(f.dir, 'source');
    const sums = await sourceTree(source, { 'a.bin': 300_000, 'sub/b.bin': 1_500_000, 'sub/c.txt': 10 });
    const files = plan(`
name: files
resources:
  - {type: fs.directory, id: files, path: ${JSON.stringify(source)}}
`);
    // A first checkpoint, then a collector that pauses once it holds the store.
    const first = await protect(files, f.provider);
    assert.equal(first.checkpoint.status, 'available');
    const paused = deferred();
    const resume = deferred();
    const collecting = new ContentStore(f.provider.bank).prune(
      async () => {
        paused.resolve();
        await resume.promise;
        return referencedBlobs(f.provider);
      },
      { owner: `${PROCESS_OWNER} gc` },
    );
    await paused.promise;

    const waiting = deferred<string>();
    const protecting = protect(files, f.provider, {
      onEvent: (event) => {
        if (event.type === 'progress' && /waiting for the content store/.test(event.detail ?? ''))
          waiting.resolve(event.detail!);
      },
    });
    assert.match(await waiting.promise, /is pruning it/);
    resume.resolve();
    const report = await collecting;
    assert.equal(report.packsRemoved, 0);
    const second = await protecting;
    assert.equal(second.checkpoint.status, 'available', JSON.stringify(second.operation));

    const verified = await verify(second.checkpoint.id, f.provider);
    assert.equal(verified.operation!.status, 'succeeded');
    const target = join(f.dir, 'restored');
    const restored = await restore(second.checkpoint.id, f.provider, { target });
    assert.equal(restored.operation!.status, 'succeeded');
    assert.deepEqual(await treeSums(target, sums.keys()), sums);
  });
});

describe('a collector killed while it held the store', () => {
  let f: Fixture;
  before(async () => {
    f = await fixture();
  });
  after(() => f.done());

  it('does not stop the next protect: the lease of a dead process on this machine is broken at once', async () => {
    const source = join(f.dir, 'source');
    await sourceTree(source, { 'a.bin': 100_000 });
    const root = (f.provider.bank as unknown as { root: string }).root;
    const bankModule = new URL('../../src/bank/index.js', import.meta.url).href;
    // A gc that took the prune lease for ten minutes, then was killed (kill -9, OOM, a reboot of the container).
    const gc = spawn(
      process.execPath,
      [
        '--input-type=module',
        '-e',
        `import { FsBank } from ${JSON.stringify(bankModule)};
         await new FsBank(process.env.BANK_ROOT).section('store').acquireLease('locks/prune', { owner: 'killed gc', ttlMs: 600000 });
         process.stdout.write('held\\n');
         setInterval(() => {}, 1000);`,
      ],
      { env: { ...process.env, BANK_ROOT: root }, stdio: ['ignore', 'pipe', 'inherit'] },
    );
    await new Promise<void>((resolve, reject) => {
      gc.stdout.once('data', () => resolve());
      gc.once('exit', (code) => reject(new Error(`the gc exited with ${code}`)));
    });
    const exited = new Promise((resolve) => gc.once('exit', resolve));
    gc.kill('SIGKILL');
    await exited;
    const started = Date.now();
    const result = await protect(
      plan(`
name: files
resources:
  - {type: fs.directory, id: files, path: ${JSON.stringify(source)}}
`),
      f.provider,
    );
    assert.equal(result.checkpoint.status, 'available', JSON.stringify(result.operation));
    assert.ok(Date.now() - started < 10_000, `took ${Date.now() - started} ms`);
  });
});
