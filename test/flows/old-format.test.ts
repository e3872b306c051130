/**
 * A bank written by Hoard as of 2026-12 (deflate packs, before zstd) stays readable:
 * test/fixtures/bank-2026-12 is such a bank, as `hoard protect` left it, holding a tree of a
 * text file, a random file, a file random at its start and compressible after, and a link.
 */
import assert from 'node:assert/strict';
import { cp, readFile, readlink } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { CheckpointStore } from '../../src/checkpoints/store.js';
import { restore, verify } from '../../src/flows/checkpoint-ops.js';
import { protect } from '../../src/flows/protect.js';
import { type Fixture, fixture, plan, treeSums } from './fixture.js';

const FIXTURE = fileURLToPath(new URL('../../../test/fixtures/bank-2026-12', import.meta.url));
const SUMS = fileURLToPath(new URL('../../../test/fixtures/bank-2026-12.sha256', import.meta.url));

describe('a bank written before zstd (2026-12, deflate packs)', () => {
  let f: Fixture;
  let sums: Map<string, string>;
  before(async () => {
    f = await fixture();
    await cp(FIXTURE, join(f.dir, 'bank'), { recursive: true });
    sums = new Map(
      (await readFile(SUMS, 'utf8'))
        .trim()
        .split('\n')
        .map((line) => {
          const [sum, path] = line.split(/\s+/) as [string, string];
          return [path.replace(/^\.\//, ''), sum];
        }),
    );
  });
  after(() => f.done());

  it('verifies and restores bit for bit, and new checkpoints deduplicate against it', async () => {
    const [checkpoint] = (await new CheckpointStore(f.provider.bank).list()).checkpoints;
    assert.equal(checkpoint?.status, 'available');
    const verified = await verify(checkpoint!.id, f.provider);
    assert.equal(verified.operation!.status, 'succeeded', JSON.stringify(verified.operation!.tasks));
    const target = join(f.dir, 'restored');
    const restored = await restore(checkpoint!.id, f.provider, { target });
    assert.equal(restored.operation!.status, 'succeeded');
    assert.deepEqual(await treeSums(target, sums.keys()), sums);
    assert.equal(await readlink(join(target, 'link')), 'notes.txt');

    // The same tree protected again with today's format: nothing new is stored.
    const next = await protect(
      plan(`
name: format-v1
resources:
  - {type: fs.directory, id: files, path: ${JSON.stringify(target)}}
`),
      f.provider,
    );
    assert.equal(next.checkpoint.status, 'available');
    assert.match(next.operation!.log.join('\n'), /, 0 new/);
  });
});
