/**
 * The README's curl walkthrough (examples/service/walkthrough.sh) against a real
 * `hoard serve` process with a token made by `hoard tokens create`: scheduled
 * retention_protect runs, prunes to two checkpoints, and the newest restores byte for byte.
 */
import assert from 'node:assert/strict';
import { type ChildProcess, execFile } from 'node:child_process';
import { mkdir, mkdtemp, readFile, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, it } from 'node:test';
import { promisify } from 'node:util';
import { hoardProcess, ROOT, spawnHoard } from '../cli/helpers.js';

const run = promisify(execFile);
let server: ChildProcess | undefined;

after(async () => {
  if (server && server.exitCode === null) {
    server.kill('SIGTERM');
    await new Promise((resolve) => server!.on('close', resolve));
  }
});

it('the curl walkthrough runs end to end', { timeout: 90_000 }, async () => {
  const dir = await mkdtemp(join(tmpdir(), 'hoard-walk-'));
  const home = join(dir, 'home');
  const data = join(dir, 'data');
  await mkdir(join(data, 'docs'), { recursive: true });
  await writeFile(join(data, 'docs', 'a.md'), '# notes\n');
  await writeFile(join(data, 'b.bin'), Buffer.alloc(70_000, 3));
  const env = { HOARD_HOME: home, HOARD_SCHEDULER_TICK_MS: '200' };
  const made = await hoardProcess(['tokens', 'create', '--project', 'demo', '--json'], { env });
  assert.equal(made.code, 0, made.stderr);
  const token = made.json.secret as string;

  ({ child: server } = spawnHoard(['serve', '--port', '0', '--json'], { env }));
  server.stderr!.pipe(process.stderr);
  const url = await new Promise<string>((resolve, reject) => {
    let out = '';
    server!.stdout!.on('data', (d) => {
      out += d;
      try {
        resolve(JSON.parse(out).url);
      } catch {}
    });
    server!.on('close', (code) => reject(new Error(`hoard serve exited ${code}`)));
  });

  const target = join(dir, 'restored');
  const walk = await run('bash', [join(ROOT, 'examples', 'service', 'walkthrough.sh')], {
    env: {
      ...process.env,
      ...env,
      HOARD_URL: url,
      TOKEN: token,
      PROJECT: 'demo',
      DATA: data,
      TARGET: target,
    },
  });
  assert.match(walk.stdout, /available checkpoints: 2\n/, walk.stdout);
  assert.match(walk.stdout, /succeeded runs: [3-9]/);
  assert.match(walk.stdout, /1 event: end/);
  assert.match(walk.stdout, /restore: succeeded into/);
  assert.equal(await readFile(join(target, 'docs', 'a.md'), 'utf8'), '# notes\n');
  assert.deepEqual(await readFile(join(target, 'b.bin')), Buffer.alloc(70_000, 3));
});
