/**
 * Statistics as the CLI shows them (SPEC §13): `checkpoints list` and `show`, old checkpoints
 * without statistics, and `hoard stats` for the repository.
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { cp, mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { hoard } from './helpers.js';

/** A bank written before statistics were recorded (see test/flows/old-format.test.ts). */
const OLD_BANK = fileURLToPath(new URL('../../../test/fixtures/bank-2026-12', import.meta.url));
const OLD_ID = '20261207T004954193Z-f21ec56a';

describe('hoard CLI: statistics', () => {
  let dir: string;
  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'hoard-stats-'));
  });
  after(() => rm(dir, { recursive: true, force: true }));

  it('an old checkpoint without statistics is listed and shown with a dash', async () => {
    const home = join(dir, 'old');
    await cp(OLD_BANK, join(home, 'banks', 'local'), { recursive: true });
    const list = await hoard(['--home', home, 'checkpoints', 'list']);
    assert.equal(list.code, 0, list.stderr);
    const [header, row] = list.stdout.trim().split('\n');
    assert.match(header!, /^ID\s+STATUS\s+PLAN\s+CREATED\s+SIZE$/);
    assert.match(row!, new RegExp(`^${OLD_ID}\\s+available\\s+\\S+\\s+\\S+\\s+-$`));
    const json = JSON.parse((await hoard(['--home', home, '--json', 'checkpoints', 'list'])).stdout);
    assert.equal(json.checkpoints[0].id, OLD_ID);
    assert.equal(json.checkpoints[0].stats, undefined);

    const show = await hoard(['--home', home, 'checkpoints', 'show', OLD_ID]);
    assert.equal(show.code, 0, show.stderr);
    assert.match(show.stdout, /fs\.directory#files\s+available\s+-\n/);
    assert.match(show.stdout, /total\s+-\n/);
    const shown = JSON.parse((await hoard(['--home', home, '--json', 'checkpoints', 'show', OLD_ID])).stdout);
    assert.equal(shown.checkpoint.stats, undefined);
    assert.equal(shown.checkpoint.resources[0].stats, undefined);
    assert.equal(shown.operation.kind, 'protect', "the protect's log comes with it");

    const stats = JSON.parse((await hoard(['--home', home, '--json', 'stats'])).stdout).stats;
    assert.equal(stats.checkpoints, 1);
    assert.equal(stats.withoutStats, 1);
    assert.equal(stats.logicalBytes, 0);
    assert.ok(stats.packs >= 1 && stats.storedBytes > 0);
  });

  it('hoard stats: the same data protected twice is stored once, a dedup ratio of about 2', async () => {
    const home = join(dir, 'twice');
    const data = join(dir, 'data');
    await mkdir(join(data, 'sub'), { recursive: true });
    // Random: compression cannot help, so the ratio is deduplication alone.
    await writeFile(join(data, 'a.bin'), randomBytes(150_000));
    await writeFile(join(data, 'sub', 'b.bin'), randomBytes(50_000));
    const planFile = join(dir, 'plan.yaml');
    await writeFile(
      planFile,
      `name: twice\nresources:\n  - {type: fs.directory, id: data, path: ${JSON.stringify(data)}}\n`,
    );
    const first = JSON.parse((await hoard(['--home', home, '--json', 'protect', planFile])).stdout);
    assert.deepEqual(
      { ...first.checkpoint.stats, storedBytes: 0, durationMs: 0 },
      { files: 2, bytes: 200_000, newBytes: 200_000, storedBytes: 0, durationMs: 0 },
    );
    const once = JSON.parse((await hoard(['--home', home, '--json', 'stats'])).stdout).stats;
    const second = JSON.parse((await hoard(['--home', home, '--json', 'protect', planFile])).stdout);
    assert.equal(second.checkpoint.stats.newBytes, 0);

    const r = await hoard(['--home', home, '--json', 'stats']);
    assert.equal(r.code, 0, r.stderr);
    const stats = JSON.parse(r.stdout).stats;
    assert.equal(stats.provider.name, 'local');
    assert.equal(stats.checkpoints, 2);
    assert.equal(stats.withoutStats, 0);
    assert.equal(stats.files, 4);
    assert.equal(stats.logicalBytes, 400_000);
    assert.equal(stats.storeLogicalBytes, 400_000);
    assert.equal(stats.packs, once.packs, 'the second protect wrote no pack');
    assert.equal(stats.storedBytes, once.storedBytes);
    assert.ok(stats.storedBytes >= 200_000 && stats.storedBytes < 210_000, `${stats.storedBytes}`);
    assert.ok(stats.dedupRatio > 1.9 && stats.dedupRatio <= 2, `${stats.dedupRatio}`);

    const human = await hoard(['--home', home, 'stats']);
    assert.equal(human.code, 0, human.stderr);
    assert.match(human.stdout, /logical bytes\s+391 KiB \(400000; 4 files in 2 available checkpoints\)/);
    assert.match(human.stdout, /dedup ratio\s+(1\.9\d|2\.00)x/);
    const list = await hoard(['--home', home, 'checkpoints', 'list']);
    assert.match(list.stdout.trim().split('\n')[1]!, /\s195 KiB$/);

    // A delete shows its resources as deleted (not as their protect left them), and its hooks' time.
    const deleted = await hoard(['--home', home, 'checkpoints', 'delete', first.checkpoint.id]);
    assert.equal(deleted.code, 0, deleted.stderr);
    assert.match(deleted.stdout, /^checkpoint \S+ {2}deleted/m);
    assert.match(deleted.stdout, /^ {2}fs\.directory#data {2}deleted {2}2 files/m);
    assert.doesNotMatch(deleted.stdout, /available/);
    assert.match(deleted.stdout, /^delete succeeded in \d+(\.\d)? (ms|s) \(\d+ hooks/m);
  });

  it('hoard stats for an unknown provider is one line, exit 2', async () => {
    const r = await hoard(['--home', join(dir, 'none'), 'stats', '--provider', 'nope']);
    assert.equal(r.code, 2, r.stderr);
    assert.equal(r.stderr.trim().split('\n').length, 1, r.stderr);
  });
});
