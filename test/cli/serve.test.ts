/**
 * `hoard serve`, `hoard worker`, `hoard tokens` and `hoard prune` as a user meets them from
 * the shell: help with examples, a clear one-line error (exit 2) when the server cannot
 * listen, and the retention flags prune takes.
 */
import assert from 'node:assert/strict';
import { mkdtemp } from 'node:fs/promises';
import { createServer, type Server } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { hoard } from './helpers.js';

const home = () => mkdtemp(join(tmpdir(), 'hoard-serve-cli-'));

describe('help', () => {
  for (const command of [['serve'], ['worker'], ['tokens'], ['tokens', 'create'], ['prune']]) {
    it(`hoard ${command.join(' ')} --help shows examples of itself`, async () => {
      const { code, stdout } = await hoard([...command, '--help']);
      assert.equal(code, 0);
      const examples = stdout.split(/\nExamples?:\n/)[1];
      assert.ok(examples, `no Examples section in:\n${stdout}`);
      assert.match(examples, new RegExp(`hoard ${command.join(' ')}\\b`));
    });
  }
});

describe('hoard serve', () => {
  it('on a port already in use says so in one line and exits 2, with --json the error document', async () => {
    const busy: Server = createServer();
    await new Promise<void>((resolve) => busy.listen(0, '127.0.0.1', resolve));
    const port = (busy.address() as { port: number }).port;
    try {
      const dir = await home();
      const plain = await hoard(['--home', dir, 'serve', '--port', String(port)]);
      assert.equal(plain.code, 2, plain.stderr);
      assert.equal(
        plain.stderr.trim(),
        `hoard: cannot listen: 127.0.0.1:${port} is already in use (another hoard serve?): choose another --port, or --port 0 for a free one`,
      );
      const json = await hoard(['--home', dir, '--json', 'serve', '--port', String(port)]);
      assert.equal(json.code, 2);
      const { error } = JSON.parse(json.stdout);
      assert.equal(error.code, 'USAGE');
      assert.deepEqual(error.details, { host: '127.0.0.1', port, code: 'EADDRINUSE' });
    } finally {
      busy.close();
    }
  });

  it('on an address that is not this machine’s says which option to change', async () => {
    const { code, stderr } = await hoard([
      '--home',
      await home(),
      'serve',
      '--port',
      '0',
      '--host',
      '192.0.2.1',
    ]);
    assert.equal(code, 2, stderr);
    assert.match(
      stderr,
      /^hoard: cannot listen: 192\.0\.2\.1 is not an address of this machine: choose another --host/,
    );
    assert.doesNotMatch(stderr, /\n\s+at /, 'no stack trace');
  });
});

describe('hoard prune', () => {
  it('takes every restic keep rule as a flag, hourly and yearly included', async () => {
    const { code, stdout, stderr } = await hoard([
      '--home',
      await home(),
      '--json',
      'prune',
      'nothing-yet',
      '--keep-hourly',
      '24',
      '--keep-daily',
      '7',
      '--keep-yearly',
      '3',
      '--dry-run',
    ]);
    assert.equal(code, 0, stderr);
    const result = JSON.parse(stdout);
    assert.deepEqual(result.policy, { kind: 'keep', hourly: 24, daily: 7, yearly: 3 });
    assert.equal(result.dryRun, true);
    assert.deepEqual(result.decisions, []);
  });
});
