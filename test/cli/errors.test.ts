/**
 * What the CLI says when the input is bad or the repository is damaged or busy: one line on
 * stderr naming what is wrong, `--json` gives `{"error": {code, message, details}}`, and the
 * exit status is the one docs/errors.md gives the code.
 */
import assert from 'node:assert/strict';
import { mkdir, mkdtemp, readdir, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { FsBank } from '../../src/bank/index.js';
import { reverseId } from '../../src/checkpoints/keys.js';
import { ContentStore } from '../../src/store/index.js';
import { hoard } from './helpers.js';

/** `hoard --home HOME ARGS… --json`: exit code, stderr, and the one JSON document. */
async function run(home: string, args: string[]) {
  const r = await hoard(['--home', home, ...args, '--json']);
  let json: { error?: { code: string; message: string; details?: Record<string, unknown> } } & Record<
    string,
    unknown
  >;
  try {
    json = JSON.parse(r.stdout);
  } catch {
    throw new Error(`not one JSON document on stdout:\n${r.stdout}\nstderr:\n${r.stderr}`);
  }
  return { ...r, json };
}

/** Asserts a clean error: the exit status, the code, one line on stderr matching `message`. */
function assertError(r: Awaited<ReturnType<typeof run>>, exit: number, code: string, message: RegExp) {
  assert.equal(r.code, exit, r.stderr);
  assert.equal(r.json.error?.code, code, r.stdout);
  assert.match(r.json.error!.message, message);
  const lines = r.stderr.trim().split('\n');
  assert.equal(lines.length, 1, `one line on stderr, got:\n${r.stderr}`);
  assert.match(lines[0]!, message);
  assert.ok(!/\n\s+at /.test(r.stderr), 'no stack trace');
}

/** A home with one available checkpoint of a one-resource noop plan. */
async function withCheckpoint() {
  const dir = await mkdtemp(join(tmpdir(), 'hoard-errors-'));
  const home = join(dir, 'home');
  const plan = join(dir, 'plan.yaml');
  await writeFile(plan, 'name: tiny\nresources: [{type: noop, id: a}]\n');
  const p = await run(home, ['protect', plan]);
  assert.equal(p.code, 0, p.stderr);
  const id = (p.json.checkpoint as { id: string }).id;
  return { dir, home, id, bank: join(home, 'banks', 'local') };
}

describe('hoard CLI: bad arguments are exit 2 naming the argument', () => {
  it('a home (--home or HOARD_HOME) that is a file', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'hoard-errors-'));
    const file = join(dir, 'not-a-dir');
    await writeFile(file, 'x');
    assertError(
      await run(file, ['checkpoints', 'list']),
      2,
      'USAGE',
      /^(hoard: )?--home \S+not-a-dir must be a directory; it is a file$/,
    );
    const r = await hoard(['providers', 'list', '--json'], { HOARD_HOME: file });
    assert.equal(r.code, 2, r.stderr);
    assert.equal(JSON.parse(r.stdout).error.code, 'USAGE');
    assert.match(r.stderr, /^hoard: HOARD_HOME \S+not-a-dir must be a directory; it is a file\n$/);
    const below = await hoard(['checkpoints', 'list'], { HOARD_HOME: join(file, 'home') });
    assert.equal(below.code, 2, below.stderr);
    assert.match(below.stderr, /^hoard: HOARD_HOME \S+ must be a directory: a part of its path is a file\n$/);
  });

  it('a newline or another control character in a checkpoint id, for every command that takes one', async () => {
    const { home, id, bank } = await withCheckpoint();
    const before = await readdir(bank, { recursive: true });
    for (const bad of [`${id}\nX`, `${id}\n`, `${id.slice(0, 10)}\u001b[31m`]) {
      for (const args of [
        ['checkpoints', 'show', bad],
        ['checkpoints', 'delete', bad],
        ['restore', bad, '--target', '/tmp/nowhere'],
        ['verify', bad],
        ['copy', bad, '--to', 'local'],
      ]) {
        const r = await run(home, args);
        assertError(
          r,
          2,
          'CHECKPOINT_NOT_FOUND',
          /argument CHECKPOINT: ".*\\(n|u001b).*" is not a checkpoint id/,
        );
        assert.equal(r.json.error?.details?.checkpoint, bad, args.join(' '));
      }
    }
    assertError(
      await run(home, ['checkpoints', 'list', '--marker', `${id}\nX`]),
      2,
      'CHECKPOINT_NOT_FOUND',
      /--marker: ".*\\n.*" is not a checkpoint id/,
    );
    assert.deepEqual(await readdir(bank, { recursive: true }), before, 'nothing was written');
  });
});

describe('hoard CLI: a damaged repository is exit 3, a busy one exit 4', () => {
  it('a truncated meta.json: show, verify, restore and delete say CHECKPOINT_CORRUPT (exit 3); delete --force removes it', async () => {
    const { home, id, bank, dir } = await withCheckpoint();
    const meta = join(bank, 'checkpoints', id, 'meta.json');
    await writeFile(meta, '{\n  "version": 1,\n  "id": "');
    const damaged = new RegExp(
      `checkpoint ${id}: checkpoints/${id}/meta\\.json is damaged: not valid JSON \\(.+\\)`,
    );
    for (const args of [
      ['checkpoints', 'show', id],
      ['verify', id],
      ['restore', id, '--target', join(dir, 'restored')],
      ['checkpoints', 'delete', id],
    ]) {
      const r = await run(home, args);
      assertError(r, 3, 'CHECKPOINT_CORRUPT', damaged);
      assert.equal(r.json.error?.details?.key, `checkpoints/${id}/meta.json`);
    }
    const refused = await run(home, ['checkpoints', 'delete', id]);
    assert.match(refused.json.error!.message, /"hoard checkpoints delete \S+ --force" removes it/);
    // The listing reads index keys only, by design (stats included): the damage shows when
    // the record is read.
    const list = await run(home, ['checkpoints', 'list']);
    const [listed] = list.json.checkpoints as { createdAt: string; stats?: { files: number } }[];
    assert.deepEqual(list.json.checkpoints, [
      { id, plan: 'tiny', status: 'available', createdAt: listed!.createdAt, stats: listed!.stats },
    ]);
    assert.equal(typeof listed!.stats?.files, 'number');
    const forced = await run(home, ['checkpoints', 'delete', id, '--force']);
    assert.equal(forced.code, 0, forced.stderr);
    assert.deepEqual((forced.json.discarded as { plans: string[] }).plans, ['tiny']);
    assert.deepEqual((await run(home, ['checkpoints', 'list'])).json.checkpoints, []);
    const left = await readdir(bank, { recursive: true });
    assert.deepEqual(
      left.filter((e) => e.includes(id) || e.includes(reverseId(id))),
      [],
    );
    assertError(await run(home, ['checkpoints', 'show', id]), 2, 'CHECKPOINT_NOT_FOUND', /no checkpoint/);
  });

  it('gc while a protect writes to the content store is STORE_BUSY, exit 4; afterwards it runs', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'hoard-errors-'));
    const home = join(dir, 'home');
    const bank = join(home, 'banks', 'local');
    await mkdir(bank, { recursive: true });
    const writer = await new ContentStore(new FsBank(bank)).openWriter(
      'protect 20261123T094512345Z-3fa9c1d2',
    );
    try {
      const r = await run(home, ['gc']);
      assertError(
        r,
        4,
        'STORE_BUSY',
        /cannot prune the content store: 1 writer\(s\) are writing to it \("protect /,
      );
    } finally {
      await writer.abort();
    }
    const after = await run(home, ['gc']);
    assert.equal(after.code, 0, after.stderr);
  });
});
