/** `main(argv, io)`: the CLI as a function — it prints only through io, reads io's env and cwd, and returns the exit status. */
import assert from 'node:assert/strict';
import { mkdtemp, readdir, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PassThrough } from 'node:stream';
import { describe, it } from 'node:test';
import type { CliIo } from '../../src/cli/context.js';
import { main } from '../../src/cli/main.js';

function io(options: {
  env: NodeJS.ProcessEnv;
  cwd: string;
}): CliIo & { out: () => string; err: () => string } {
  let out = '';
  let err = '';
  const stdin = new PassThrough();
  stdin.end();
  return {
    stdout: { write: (text: string) => (out += text) },
    stderr: { write: (text: string) => (err += text) },
    env: options.env,
    cwd: options.cwd,
    stdin,
    exit: (code) => assert.fail(`main asked to exit the process (${code})`),
    out: () => out,
    err: () => err,
  };
}

describe('main(argv, io)', () => {
  it("takes the home from io.env and a relative plan from io.cwd, prints to io's streams, returns 0", async () => {
    const dir = await mkdtemp(join(tmpdir(), 'hoard-main-'));
    await writeFile(join(dir, 'plan.yaml'), 'name: tiny\nresources:\n  - {type: noop, id: a}\n');
    const home = join(dir, 'home');
    assert.notEqual(process.cwd(), dir);
    const world = io({ env: { HOARD_HOME: home }, cwd: dir });
    const code = await main(['protect', 'plan.yaml', '--json'], world);
    assert.equal(code, 0, world.err());
    assert.equal(JSON.parse(world.out()).checkpoint.status, 'available');
    // The checkpoint went into io.env's home, not this process's.
    assert.deepEqual(await readdir(join(home, 'banks')), ['local']);
  });

  it('returns the exit status of a failure instead of exiting: 2 for bad input, the JSON error on stdout', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'hoard-main-'));
    const world = io({ env: { HOARD_HOME: join(dir, 'home') }, cwd: dir });
    assert.equal(await main(['protect', 'missing.yaml', '--json'], world), 2);
    assert.match(world.err(), /^hoard: .*missing\.yaml/);
    assert.equal(world.err().trim().split('\n').length, 1);
    assert.equal(JSON.parse(world.out()).error.code, 'PLAN_INVALID');
    const usage = io({ env: {}, cwd: dir });
    assert.equal(await main(['no-such-command'], usage), 2);
    assert.match(usage.err(), /unknown command 'no-such-command'/);
    assert.equal(usage.out(), '');
  });

  it('prints --help through io.stdout and returns 0', async () => {
    const world = io({ env: {}, cwd: process.cwd() });
    assert.equal(await main(['restore', '--help'], world), 0);
    assert.match(world.out(), /Examples:\n {2}hoard restore /);
    assert.equal(world.err(), '');
  });
});
