/**
 * What the read-only commands load (README, "Start-up of the read-only commands"): each
 * module costs start-up time, so a command must not import what it does not run. A real
 * `hoard` process runs with a module hook that records every ES module it loads; the test
 * names the modules that must stay out, so that an import added back fails here rather than
 * only in the benchmark.
 */
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { pathToFileURL } from 'node:url';
import { hoard, MAIN } from './helpers.js';

/** A hook (module.register) that appends each module's URL to a file, and what registers it. */
const HOOKS = `
import { appendFileSync } from 'node:fs';
let file;
export function initialize(data) { file = data.file; }
export async function load(url, context, next) {
  appendFileSync(file, url + '\\n');
  return next(url, context);
}
`;
const REGISTER = (hooks: string, file: string) => `
import { register } from 'node:module';
register(${JSON.stringify(pathToFileURL(hooks).href)}, { data: { file: ${JSON.stringify(file)} } });
`;

describe('start-up: what the read-only commands load', () => {
  let dir: string;
  let home: string;
  let id: string;
  let register: string;
  let count = 0;

  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'hoard-startup-'));
    home = join(dir, 'home');
    const data = join(dir, 'data');
    await mkdir(data);
    await writeFile(join(data, 'a.txt'), 'some text\n');
    await writeFile(
      join(dir, 'plan.yaml'),
      `name: small\nresources:\n  - { type: fs.directory, id: files, path: ${data} }\n`,
    );
    const made = await hoard(['--home', home, 'protect', join(dir, 'plan.yaml'), '--json']);
    assert.equal(made.code, 0, made.stderr);
    id = made.json.checkpoint.id;
    await writeFile(join(dir, 'hooks.mjs'), HOOKS);
    register = join(dir, 'register.mjs');
  });

  after(() => rm(dir, { recursive: true, force: true }));

  /** The modules of src/ that `hoard ARGS…` loads, relative to build/src/ (`bank/fs.js`). */
  async function loaded(args: string[]): Promise<string[]> {
    const file = join(dir, `loaded-${++count}`);
    await writeFile(register, REGISTER(join(dir, 'hooks.mjs'), file));
    await writeFile(file, '');
    execFileSync(
      process.execPath,
      ['--import', pathToFileURL(register).href, MAIN, '--home', home, ...args],
      {
        encoding: 'utf8',
      },
    );
    const root = pathToFileURL(join(MAIN, '../..')).href;
    const modules = (await readFile(file, 'utf8'))
      .split('\n')
      .filter((url) => url.startsWith(`${root}/`))
      .map((url) => url.slice(root.length + 1));
    // The hook saw the command run: the bank it read was loaded.
    assert.ok(modules.includes('bank/fs.js'), `no bank/fs.js among ${modules.join(', ')}`);
    return modules;
  }

  it('checkpoints list and show on an unencrypted provider load nothing of crypto/ or the encryption layer', async () => {
    for (const args of [
      ['checkpoints', 'list'],
      ['checkpoints', 'show', id],
    ]) {
      const modules = await loaded(args);
      const crypto = modules.filter((m) => m.startsWith('crypto/') || m === 'bank/encrypted.js');
      assert.deepEqual(crypto, [], `hoard ${args.join(' ')}`);
    }
  });

  it('ls loads no engine and no operation runner; stats no content store beyond its index', async () => {
    const ls = await loaded(['ls', id, 'fs.directory#files']);
    assert.deepEqual(
      ls.filter((m) => m.startsWith('engine/') || m === 'flows/operation.js' || m.startsWith('crypto/')),
      [],
    );
    const stats = await loaded(['stats']);
    assert.deepEqual(
      stats.filter((m) => (m.startsWith('store/') && !STATS_STORE.includes(m)) || m.startsWith('crypto/')),
      [],
    );
  });
});

/** What `hoard stats` needs of the content store: its index. */
const STATS_STORE = [
  'store/stats.js',
  'store/blob-index.js',
  'store/keys.js',
  'store/map-limit.js',
  'store/pack.js',
  // The format of a checkpoint's `blobs` objects (what its referenced bytes are counted from).
  'store/references.js',
];
