/**
 * Statistics recorded at protect time (SPEC §13) and exec.task's output kept in the
 * operation log (issue 12, items 4 and 8).
 */
import assert from 'node:assert/strict';
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { protect } from '../../src/flows/protect.js';
import { type Fixture, fixture, plan } from './fixture.js';

/** Text that compresses well but has no repeated chunk: numbered lines. */
function text(bytes: number, seed: string): Buffer {
  const lines: string[] = [];
  let size = 0;
  for (let i = 0; size < bytes; i++) {
    const line = `${seed} line ${String(i).padStart(8, '0')}: the quick brown fox jumps over the lazy dog\n`;
    lines.push(line);
    size += line.length;
  }
  return Buffer.from(lines.join('')).subarray(0, bytes);
}

describe('statistics of a protect', () => {
  let f: Fixture;
  let source: string;
  before(async () => {
    f = await fixture();
    source = join(f.dir, 'src');
    await mkdir(join(source, 'sub'), { recursive: true });
    await writeFile(join(source, 'a.txt'), text(300_000, 'a'));
    await writeFile(join(source, 'sub', 'b.txt'), text(5_000, 'b'));
    await writeFile(join(source, 'empty'), '');
  });
  after(() => f.done());

  const thePlan = () =>
    plan(`
name: stats
provider: test
resources:
  - {type: exec.task, id: app, children: [data]}
  - {type: fs.directory, id: data, path: ${JSON.stringify(source)}}
parameters:
  exec.task#app:
    protect: {prepareBegin: "sleep 0.2"}
`);

  it('records files, bytes, new and stored bytes per resource and in total; nothing new the second time', async () => {
    const first = await protect(thePlan(), f.provider);
    assert.equal(first.checkpoint.status, 'available', JSON.stringify(first.checkpoint.error));
    const data = first.checkpoint.resources.find((r) => r.type === 'fs.directory')!.stats!;
    assert.equal(data.files, 3);
    assert.equal(data.bytes, 305_000);
    assert.equal(data.newBytes, 305_000);
    assert.ok(data.storedBytes > 0, `storedBytes ${data.storedBytes}`);
    assert.ok(data.storedBytes <= data.newBytes, `compressible: ${data.storedBytes} <= ${data.newBytes}`);
    assert.ok(data.storedBytes < data.newBytes / 2, `compressed well: ${data.storedBytes}`);
    assert.ok(data.durationMs >= 0);
    const app = first.checkpoint.resources.find((r) => r.type === 'exec.task')!.stats!;
    assert.deepEqual(
      { ...app, durationMs: 0 },
      { files: 0, bytes: 0, newBytes: 0, storedBytes: 0, durationMs: 0 },
    );
    assert.ok(app.durationMs >= 150, `the sleep is the app's time: ${app.durationMs}`);
    const total = first.checkpoint.stats!;
    assert.equal(total.files, 3);
    assert.equal(total.bytes, 305_000);
    assert.equal(total.newBytes, 305_000);
    assert.equal(total.storedBytes, data.storedBytes + app.storedBytes);
    assert.ok(total.durationMs >= app.durationMs);
    // The operation log carries them too.
    assert.deepEqual(first.operation!.resources.find((r) => r.type === 'fs.directory')!.stats, data);

    const second = await protect(thePlan(), f.provider);
    const again = second.checkpoint.resources.find((r) => r.type === 'fs.directory')!.stats!;
    assert.equal(again.files, 3);
    assert.equal(again.bytes, 305_000);
    assert.equal(again.newBytes, 0, 'nothing changed: nothing new');
    // Only its manifest and lists, far less than the data.
    assert.ok(again.storedBytes > 0 && again.storedBytes < data.storedBytes / 4, `${again.storedBytes}`);
  });

  it('a sqlite.database is one file of its size, all new each time', async () => {
    const { default: Database } = await import('better-sqlite3');
    const path = join(f.dir, 'db.sqlite');
    const db = new Database(path);
    db.exec('CREATE TABLE t (x TEXT)');
    db.prepare('INSERT INTO t VALUES (?)').run('x'.repeat(10_000));
    db.close();
    const { statSync } = await import('node:fs');
    const size = statSync(path).size;
    const result = await protect(
      plan(`
name: db
provider: test
resources:
  - {type: sqlite.database, id: db, path: ${JSON.stringify(path)}}
`),
      f.provider,
    );
    const stats = result.checkpoint.resources[0]!.stats!;
    assert.equal(stats.files, 1);
    assert.equal(stats.bytes, size);
    assert.equal(stats.newBytes, size);
    assert.ok(stats.storedBytes >= size, 'the copy and its info.json');
  });
});

describe('exec.task output in the operation log', () => {
  let f: Fixture;
  before(async () => {
    f = await fixture();
  });
  after(() => f.done());

  it('keeps the last 64 KiB of stdout and stderr of each hook, failed or not, without the env values', async () => {
    const result = await protect(
      plan(`
name: output
provider: test
resources:
  - {type: exec.task, id: loud}
  - {type: exec.task, id: failing}
parameters:
  exec.task#loud:
    env: {API_TOKEN: "s3cr3t-token-value"}
    protect:
      main: "i=0; while [ $i -lt 2000 ]; do printf 'line %05d of a long output.........................\\\\n' $i; i=$((i+1)); done; echo \\"token is $API_TOKEN\\" >&2"
  exec.task#failing:
    protect: {main: "echo starting; echo 'it broke' >&2; exit 3"}
`),
      f.provider,
    );
    const loud = result.operation!.tasks.find((t) => t.resource === 'exec.task#loud' && t.hook === 'main')!;
    // 2000 lines of 53 bytes: 106000 bytes, of which the last 65536 are kept.
    assert.equal(Buffer.byteLength(loud.stdout!), 64 * 1024);
    assert.ok(loud.stdout!.endsWith('line 01999 of a long output.........................\n'));
    assert.ok(!loud.stdout!.includes('line 00000 '), 'the start is dropped');
    assert.equal(loud.stderr, 'token is ***\n');
    const failing = result.operation!.tasks.find(
      (t) => t.resource === 'exec.task#failing' && t.hook === 'main',
    )!;
    assert.equal(failing.status, 'failed');
    assert.equal(failing.stdout, 'starting\n');
    assert.equal(failing.stderr, 'it broke\n');
    const quiet = result.operation!.tasks.find((t) => t.hook === 'prepareBegin')!;
    assert.equal(quiet.stdout, undefined, 'a hook without output has none');
  });
});
