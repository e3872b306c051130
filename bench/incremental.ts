/**
 * `npm run bench:incremental`: the incremental protect of a tree of 20 000 small files (issue 15
 * item 4), Hoard (`fs.directory` into an unencrypted fs bank) against restic 0.14 (local
 * repository, version 2) and against the floor: a Node process that walks the tree and lstats
 * every entry, in one thread with synchronous calls, and does nothing else. Each round changes
 * 1 % of the files (rewritten with new content), then times each tool's incremental after the
 * change and, straight after, an unchanged one; the order of the tools alternates by round.
 * Page caches are dropped before each step, as in `bench:data` (BENCH_WARM=1 keeps them).
 * `HOARD_BENCH_COMPARE=OTHER/build/src/cli/main.js` runs another build of Hoard in the same
 * rounds (an A/B). BENCH_ROUNDS (default 3). Needs restic and GNU time. JSON on stdout.
 */
import { execFileSync, spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { median, round, seeded } from './lib.js';

const MAIN = fileURLToPath(new URL('../src/cli/main.js', import.meta.url));
const DIRS = 200;
const PER_DIR = 100;
const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 3);
const WARM = process.env.BENCH_WARM === '1';

interface Step {
  seconds: number;
  cpuSeconds: number;
  peakRssMiB: number;
}

function log(message: string): void {
  process.stderr.write(`${message}\n`);
}

function dropCaches(): boolean {
  if (WARM) return false;
  try {
    execFileSync('sh', ['-c', 'sync && echo 3 > /proc/sys/vm/drop_caches'], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
}

function timed(args: string[], env: Record<string, string> = {}): Step {
  dropCaches();
  const start = performance.now();
  const r = spawnSync('/usr/bin/time', ['-f', '%M %U %S', ...args], {
    env: { ...process.env, ...env },
    encoding: 'utf8',
    maxBuffer: 64 << 20,
  });
  const seconds = (performance.now() - start) / 1000;
  if (r.status !== 0)
    throw new Error(`${args.join(' ')} failed (exit ${r.status}): ${r.stderr.slice(-2000)}`);
  const [kb, user, system] = (r.stderr.trim().split('\n').pop() ?? '').split(' ').map(Number);
  return {
    seconds: round(seconds, 3),
    cpuSeconds: round(user! + system!, 2),
    peakRssMiB: round(kb! / 1024, 1),
  };
}

const random = seeded(15);
function text(bytes: number): Buffer {
  const b = Buffer.allocUnsafe(bytes);
  for (let i = 0; i < bytes; i++) b[i] = 97 + Math.floor(random() * 26);
  return b;
}

async function main() {
  const work = await mkdtemp(join(tmpdir(), 'hoard-bench-incremental-'));
  const data = join(work, 'data');
  log(`bench:incremental in ${work}: writing ${DIRS * PER_DIR} files`);
  for (let d = 0; d < DIRS; d++) {
    await mkdir(join(data, `d${d}`), { recursive: true });
    for (let f = 0; f < PER_DIR; f++) {
      await writeFile(join(data, `d${d}`, `f${f}.txt`), text(500 + Math.floor(random() * 8000)));
    }
  }
  const floorScript = join(work, 'walk.mjs');
  await writeFile(
    floorScript,
    `import { lstatSync, readdirSync } from 'node:fs';
const dirs = [process.argv[2]];
while (dirs.length) { const d = dirs.pop(); for (const name of readdirSync(d)) { const p = d + '/' + name; if (lstatSync(p, { bigint: true }).isDirectory()) dirs.push(p); } }
`,
  );
  const hoards: { name: string; main: string }[] = [{ name: 'hoard', main: MAIN }];
  if (process.env.HOARD_BENCH_COMPARE)
    hoards.push({ name: 'hoard-compare', main: process.env.HOARD_BENCH_COMPARE });
  const tools: { name: string; args: string[]; env?: Record<string, string> }[] = [];
  for (const [i, { name, main: cli }] of hoards.entries()) {
    const home = join(work, `home-${name}`);
    await mkdir(join(home, 'providers'), { recursive: true });
    await writeFile(
      join(home, 'providers', 'p.conf'),
      `[provider]\nname = p\nid = 3b0c1d2e-0000-4000-8000-00000000000${i}\nbank = fs\nplugin = fs.directory\nencryption = none\n[fs]\npath = ${join(home, 'bank')}\n`,
    );
    await writeFile(
      join(home, 'plan.yaml'),
      `name: inc\nresources:\n  - type: fs.directory\n    id: files\n    path: ${data}\n`,
    );
    tools.push({
      name,
      args: ['node', cli, '--home', home, 'protect', join(home, 'plan.yaml'), '--provider', 'p', '--json'],
    });
  }
  const resticEnv = {
    RESTIC_PASSWORD: 'correct horse battery staple',
    RESTIC_REPOSITORY: join(work, 'restic'),
    RESTIC_CACHE_DIR: join(work, 'restic-cache'),
  };
  execFileSync('restic', ['init', '--repository-version', '2', '-q'], {
    env: { ...process.env, ...resticEnv },
  });
  tools.push({ name: 'restic', args: ['restic', 'backup', '-q', data], env: resticEnv });
  tools.push({ name: 'floor', args: ['node', floorScript, data] });

  log('initial backups');
  for (const tool of tools) timed(tool.args, tool.env);

  const steps: Record<string, { changed: Step[]; unchanged: Step[] }> = {};
  for (const tool of tools) steps[tool.name] = { changed: [], unchanged: [] };
  for (let round = 0; round < ROUNDS; round++) {
    // 1 %: 200 files rewritten, a different set each round.
    for (let k = 0; k < (DIRS * PER_DIR) / 100; k++) {
      const d = (k * 7 + round) % DIRS;
      const f = (k * 13 + round * 31) % PER_DIR;
      await writeFile(join(data, `d${d}`, `f${f}.txt`), text(500 + Math.floor(random() * 8000)));
    }
    const order = round % 2 === 0 ? tools : [...tools].reverse();
    for (const tool of order) {
      log(`round ${round + 1}: ${tool.name} after a 1 % change`);
      steps[tool.name]!.changed.push(timed(tool.args, tool.env));
    }
    for (const tool of order) {
      log(`round ${round + 1}: ${tool.name} unchanged`);
      steps[tool.name]!.unchanged.push(timed(tool.args, tool.env));
    }
  }
  await rm(work, { recursive: true, force: true });

  const summary: Record<
    string,
    Record<string, { seconds: number; cpuSeconds: number; peakRssMiB: number }>
  > = {};
  for (const [name, { changed, unchanged }] of Object.entries(steps)) {
    const med = (list: Step[]) => ({
      seconds: round(median(list.map((s) => s.seconds)), 3),
      cpuSeconds: round(median(list.map((s) => s.cpuSeconds)), 2),
      peakRssMiB: round(median(list.map((s) => s.peakRssMiB)), 1),
    });
    summary[name] = { changed: med(changed), unchanged: med(unchanged) };
  }
  const ratio = (a: string, b: string, kind: 'changed' | 'unchanged', field: 'seconds' | 'cpuSeconds') => {
    const [x, y] = [summary[a]?.[kind]?.[field], summary[b]?.[kind]?.[field]];
    return x !== undefined && y !== undefined ? round(x / y, 2) : null;
  };
  console.log(
    JSON.stringify(
      {
        files: DIRS * PER_DIR,
        rounds: ROUNDS,
        caches: WARM ? 'warm' : existsSync('/proc/sys/vm/drop_caches') ? 'dropped before each step' : 'warm',
        node: process.version,
        summary,
        ratios: {
          hoardOverRestic: {
            changed: ratio('hoard', 'restic', 'changed', 'seconds'),
            unchanged: ratio('hoard', 'restic', 'unchanged', 'seconds'),
            changedCpu: ratio('hoard', 'restic', 'changed', 'cpuSeconds'),
            unchangedCpu: ratio('hoard', 'restic', 'unchanged', 'cpuSeconds'),
          },
          hoardOverFloor: {
            changed: ratio('hoard', 'floor', 'changed', 'seconds'),
            changedCpu: ratio('hoard', 'floor', 'changed', 'cpuSeconds'),
          },
          ...(summary['hoard-compare']
            ? {
                hoardOverCompare: {
                  changed: ratio('hoard', 'hoard-compare', 'changed', 'seconds'),
                  changedCpu: ratio('hoard', 'hoard-compare', 'changed', 'cpuSeconds'),
                  unchangedCpu: ratio('hoard', 'hoard-compare', 'unchanged', 'cpuSeconds'),
                },
              }
            : {}),
        },
        steps,
      },
      null,
      2,
    ),
  );
}

await main();
