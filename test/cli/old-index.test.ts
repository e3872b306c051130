/**
 * A bank whose checkpoint index is in the flat layout of 2026-12 (test/fixtures/index-2026-12,
 * see test/checkpoints/index-layout.test.ts) as the local provider's bank: the CLI lists it
 * with paging, --plan, --since/--until, `latest` and id prefixes, and `gc` moves the index
 * without changing what is listed.
 */
import assert from 'node:assert/strict';
import { cp, mkdir, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { FsBank } from '../../src/bank/index.js';
import { hoard } from './helpers.js';

const FIXTURE = fileURLToPath(new URL('../../../test/fixtures/index-2026-12', import.meta.url));

describe('the CLI on a bank with the flat index of 2026-12', () => {
  let home = '';
  const run = async (args: string[]) => {
    const r = await hoard(['--home', home, ...args, '--json']);
    assert.equal(r.code, 0, r.stderr);
    return r.json;
  };
  const ids = async (args: string[] = []) =>
    (await run(['checkpoints', 'list', ...args])).checkpoints.map((c: { id: string; status: string }) =>
      [c.id.slice(0, 8), c.status].join(' '),
    );
  before(async () => {
    home = await mkdtemp(join(tmpdir(), 'hoard-old-index-'));
    await mkdir(join(home, 'banks'), { recursive: true });
    await cp(FIXTURE, join(home, 'banks', 'local'), { recursive: true });
  });
  after(() => rm(home, { recursive: true, force: true }));

  const everything = [
    '20261125 available',
    '20261124 available',
    '20261123 available',
    '20261121 error',
    '20261120 available',
    '20261120 available',
  ];

  it('lists, pages, filters and resolves references, then lists the same after gc moved the index', async () => {
    for (const moved of [false, true]) {
      assert.deepEqual(await ids(), everything, `moved: ${moved}`);
      assert.deepEqual(await ids(['--plan', 'alpha']), [
        '20261124 available',
        '20261121 error',
        '20261120 available',
      ]);
      const first = await run(['checkpoints', 'list', '--plan', 'alpha', '--limit', '2']);
      assert.equal(first.checkpoints.length, 2);
      assert.deepEqual(await ids(['--plan', 'alpha', '--marker', first.next]), ['20261120 available']);
      assert.deepEqual(await ids(['--since', '2026-11-21T00:00:00Z', '--until', '2026-11-24T00:00:00Z']), [
        '20261123 available',
        '20261121 error',
      ]);
      assert.equal(
        (await run(['checkpoints', 'show', 'latest', '--plan', 'alpha'])).checkpoint.id,
        '20261124T010000123Z-5f607182',
      );
      assert.equal(
        (await run(['checkpoints', 'show', '20261123T01'])).checkpoint.id,
        '20261123T010000123Z-4e5f6071',
      );
      // The size column's stats: from the flat stats index, then from the moved entries.
      const sized = (await run(['checkpoints', 'list', '--plan', 'beta'])).checkpoints.map(
        (c: { stats?: { files: number } }) => c.stats?.files,
      );
      assert.deepEqual(sized, [5, undefined, 2]);
      if (moved) break;
      const gc = (await run(['gc'])).gc;
      assert.equal(gc.indexMoved, 6);
      assert.deepEqual(gc.deletesFinished, ['20261122T010000123Z-3d4e5f60']);
      const bank = new FsBank(join(home, 'banks', 'local'));
      for (const prefix of ['index/time/', 'index/plan/', 'index/stats/'])
        assert.deepEqual(await bank.list(prefix), [], prefix);
    }
  });
});
