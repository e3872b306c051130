/** CHECKPOINT arguments and times as SPEC §8 has them: unique prefixes, `latest`, `--since 7d`. */
import assert from 'node:assert/strict';
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { hoard } from './helpers.js';

describe('checkpoint references', () => {
  let home = '';
  const ids: string[] = [];
  const run = (args: string[]) => hoard(['--home', home, ...args]);

  before(async () => {
    home = await mkdtemp(join(tmpdir(), 'hoard-refs-'));
    await mkdir(join(home, 'data'));
    await writeFile(join(home, 'data', 'a.txt'), 'first');
    for (const name of ['one', 'two']) {
      await writeFile(
        join(home, `${name}.yaml`),
        `name: ${name}\nresources:\n  - { type: fs.directory, id: d, path: ${join(home, 'data')} }\n`,
      );
    }
    for (const plan of ['one', 'two', 'one']) {
      const p = await run(['protect', join(home, `${plan}.yaml`), '--json']);
      assert.equal(p.code, 0, p.stderr);
      ids.push(JSON.parse(p.stdout).checkpoint.id);
      await writeFile(join(home, 'data', 'a.txt'), `after ${ids.length}`);
    }
  });
  after(() => rm(home, { recursive: true, force: true }));

  const shown = async (ref: string, more: string[] = []) => {
    const r = await run(['checkpoints', 'show', ref, ...more, '--json']);
    assert.equal(r.code, 0, r.stderr);
    return JSON.parse(r.stdout).checkpoint.id as string;
  };

  it('"latest" is the newest available checkpoint, of a plan with --plan', async () => {
    assert.equal(await shown('latest'), ids[2]);
    assert.equal(await shown('latest', ['--plan', 'two']), ids[1]);
    const none = await run(['checkpoints', 'show', 'latest', '--plan', 'three']);
    assert.equal(none.code, 2);
    assert.match(none.stderr, /"latest": no available checkpoint of plan three/);
    const target = join(home, 'restored');
    const r = await run(['restore', 'latest', '--plan', 'two', '--target', target]);
    assert.equal(r.code, 0, r.stderr);
    assert.equal(await readFile(join(target, 'a.txt'), 'utf8'), 'after 1');
  });

  it('a unique prefix names its checkpoint; an ambiguous or short one is exit 2 saying why', async () => {
    for (const id of ids) assert.equal(await shown(id.slice(0, id.length - 6)), id);
    const ambiguous = await run(['checkpoints', 'show', ids[0]!.slice(0, 8)]);
    assert.equal(ambiguous.code, 2);
    assert.match(ambiguous.stderr, /is the start of 3 checkpoint ids .*: give more of it/);
    const short = await run(['verify', ids[0]!.slice(0, 5)]);
    assert.equal(short.code, 2);
    assert.match(short.stderr, /a unique prefix of one \(at least 6 characters\)/);
    const missing = await run(['checkpoints', 'show', '199901']);
    assert.equal(missing.code, 2);
    assert.match(missing.stderr, /no checkpoint id starts with 199901/);
  });

  it('checkpoints list prints a header and aligned columns', async () => {
    const r = await run(['checkpoints', 'list']);
    assert.equal(r.code, 0, r.stderr);
    const lines = r.stdout.trimEnd().split('\n');
    assert.match(lines[0]!, /^ID +STATUS +PLAN +CREATED +SIZE$/);
    assert.equal(lines.length, 4);
    const column = (line: string, word: string) => line.indexOf(word);
    for (const line of lines.slice(1)) {
      assert.equal(column(line, 'available'), column(lines[0]!, 'STATUS'), line);
      assert.equal(line.search(/\d{4}-\d{2}-\d{2}T/), column(lines[0]!, 'CREATED'), line);
      assert.equal(line.search(/(\d+(\.\d+)? (B|KiB|MiB)|-)$/), column(lines[0]!, 'SIZE'), line);
    }
  });

  it('--since and --until take an ISO time or a duration back from now', async () => {
    const listed = async (...args: string[]) => {
      const r = await run(['checkpoints', 'list', ...args, '--json']);
      assert.equal(r.code, 0, r.stderr);
      return (JSON.parse(r.stdout).checkpoints as { id: string }[]).map((c) => c.id);
    };
    assert.deepEqual(await listed('--since', '1h'), [...ids].reverse());
    assert.deepEqual(await listed('--since', '2000-01-01'), [...ids].reverse());
    assert.deepEqual(await listed('--until', '1h'), []);
    assert.deepEqual(await listed('--since', '1d', '--until', '1h'), []);
    const bad = await run(['checkpoints', 'list', '--since', 'yesterday']);
    assert.equal(bad.code, 2);
    assert.match(bad.stderr, /--since: "yesterday" is neither an ISO time .* nor a duration back from now/);
  });
});
