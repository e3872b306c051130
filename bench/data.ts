/**
 * `npm run bench:data`: the data path against restic and `tar | zstd`, in the same run.
 *
 * A seeded data set (default about 1.1 GiB: 18 000 small text-like files, 2 000 mid-size
 * random files, 4 large random files), then a 1 % change (files rewritten, one large file
 * edited in the middle, a few files added). For Hoard (fs.directory into the local fs
 * bank), restic (local repository) and tar | zstd: initial backup MB/s, incremental backup
 * time, restore MB/s, repository size, peak RSS. Page caches are dropped before each
 * timed step when this process may (root); the JSON says whether they were.
 *
 * Needs `restic` and GNU `time` (`apt-get install restic time zstd`); missing tools are
 * reported and their rows left out. BENCH_DATA_MB scales the data set.
 */
import { execFileSync, spawnSync } from 'node:child_process';
import { createCipheriv } from 'node:crypto';
import { existsSync } from 'node:fs';
import { mkdir, mkdtemp, open, readdir, rm, stat, writeFile } from 'node:fs/promises';
import { cpus, tmpdir, totalmem } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { round, seeded } from './lib.js';

const scale = Number(process.env.BENCH_DATA_MB ?? 1100) / 1100;
const MAIN = fileURLToPath(new URL('../src/cli/main.js', import.meta.url));

/** Seeded random bytes: AES-CTR over zeros, fast and the same on every machine. */
function randomStream(seed: number): (n: number) => Buffer {
  const key = Buffer.alloc(16);
  key.writeUInt32LE(seed);
  const cipher = createCipheriv('aes-128-ctr', key, Buffer.alloc(16));
  return (n) => cipher.update(Buffer.alloc(n));
}

const WORDS =
  'the of and to in is that for it as was with be by on not he this are or his from at which but have an they you were her she there'.split(
    ' ',
  );

function textBytes(rnd: () => number, n: number): Buffer {
  const parts: string[] = [];
  let len = 0;
  while (len < n) {
    const w = WORDS[Math.floor(rnd() * WORDS.length)]!;
    parts.push(w);
    len += w.length + 1;
  }
  return Buffer.from(parts.join(' ').slice(0, n));
}

async function generate(root: string): Promise<{ files: number; bytes: number }> {
  const rnd = seeded(42);
  const random = randomStream(42);
  let files = 0;
  let bytes = 0;
  const put = async (rel: string, data: Buffer) => {
    const abs = join(root, rel);
    await mkdir(join(abs, '..'), { recursive: true });
    await writeFile(abs, data);
    files++;
    bytes += data.length;
  };
  for (let i = 0; i < Math.round(18_000 * scale); i++)
    await put(`small/d${i % 100}/f${i}.txt`, textBytes(rnd, 1024 + Math.floor(rnd() * 15 * 1024)));
  for (let i = 0; i < Math.round(2_000 * scale); i++)
    await put(`mid/d${i % 20}/f${i}.bin`, random(64 * 1024 + Math.floor(rnd() * 448 * 1024)));
  for (let i = 0; i < 4; i++) {
    const size = Math.round(100 * 1024 * 1024 * scale);
    const handle = await open(join(root, `large-${i}.bin`), 'w');
    for (let done = 0; done < size; done += 4 << 20)
      await handle.write(random(Math.min(4 << 20, size - done)));
    await handle.close();
    files++;
    bytes += size;
  }
  return { files, bytes };
}

/** The 1 % change: rewrite 1 % of the small and mid files, edit a large file mid-way, add a few. */
async function change(root: string): Promise<number> {
  const rnd = seeded(7);
  const random = randomStream(7);
  let changed = 0;
  for (let i = 0; i < Math.round(180 * scale); i++) {
    const n = Math.floor(rnd() * Math.round(18_000 * scale));
    await writeFile(join(root, `small/d${n % 100}/f${n}.txt`), textBytes(rnd, 4096));
    changed += 4096;
  }
  for (let i = 0; i < Math.round(20 * scale); i++) {
    const n = Math.floor(rnd() * Math.round(2_000 * scale));
    await writeFile(join(root, `mid/d${n % 20}/f${n}.bin`), random(256 * 1024));
    changed += 256 * 1024;
  }
  const handle = await open(join(root, 'large-0.bin'), 'r+');
  await handle.write(random(1 << 20), 0, 1 << 20, Math.round(50 * 1024 * 1024 * scale));
  await handle.close();
  for (let i = 0; i < 10; i++) await writeFile(join(root, `added-${i}.bin`), random(512 * 1024));
  return changed + (1 << 20) + 10 * 512 * 1024;
}

async function du(path: string): Promise<number> {
  let total = 0;
  for (const rel of await readdir(path, { recursive: true })) {
    const st = await stat(join(path, rel));
    if (st.isFile()) total += st.size;
  }
  return total;
}

let cachesDropped = false;
function dropCaches(): void {
  try {
    execFileSync('sh', ['-c', 'sync && echo 3 > /proc/sys/vm/drop_caches'], { stdio: 'ignore' });
    cachesDropped = true;
  } catch {
    cachesDropped = false;
  }
}

const hasTime = existsSync('/usr/bin/time');

/** Runs a command (through sh), timed; peak RSS of the command from GNU time when present. */
function timed(
  label: string,
  script: string,
  env: Record<string, string> = {},
): { seconds: number; peakRssMiB: number | null } {
  dropCaches();
  process.stderr.write(`bench:data: ${label}\n`);
  const start = performance.now();
  const args = hasTime ? ['/usr/bin/time', '-f', '%M', 'sh', '-c', script] : ['sh', '-c', script];
  const r = spawnSync(args[0]!, args.slice(1), {
    env: { ...process.env, ...env },
    encoding: 'utf8',
    maxBuffer: 64 << 20,
  });
  const seconds = (performance.now() - start) / 1000;
  if (r.status !== 0) throw new Error(`${label} failed (${r.status}): ${r.stderr.slice(-2000)}`);
  const kb = hasTime ? Number(r.stderr.trim().split('\n').pop()) : Number.NaN;
  return { seconds: round(seconds, 2), peakRssMiB: Number.isFinite(kb) ? round(kb / 1024, 1) : null };
}

function have(tool: string): boolean {
  return spawnSync('sh', ['-c', `command -v ${tool}`]).status === 0;
}

const work = await mkdtemp(join(tmpdir(), 'hoard-bench-data-'));
const data = join(work, 'data');
process.stderr.write(`bench:data: generating the data set in ${data}\n`);
const set = await generate(data);
const MB = set.bytes / 1e6;
const results: Record<string, unknown> = {};

// Hoard
{
  const home = join(work, 'hoard-home');
  const plan = join(work, 'plan.json');
  await writeFile(
    plan,
    JSON.stringify({ name: 'bench', resources: [{ type: 'fs.directory', id: 'data', path: data }] }),
  );
  const cli = `node ${MAIN} --home ${home}`;
  const first = timed('hoard initial backup', `${cli} protect ${plan} --json > ${work}/hoard-1.json`);
  const size1 = await du(join(home, 'banks/local/store'));
  results.hoard = { initial: first, repoBytesAfterInitial: size1 };
}
// restic
const resticOk = have('restic');
if (resticOk) {
  const env = {
    RESTIC_PASSWORD: 'bench',
    RESTIC_REPOSITORY: join(work, 'restic-repo'),
    RESTIC_CACHE_DIR: join(work, 'restic-cache'),
  };
  execFileSync('restic', ['init'], { env: { ...process.env, ...env }, stdio: 'ignore' });
  const first = timed('restic initial backup', `restic backup --quiet ${data}`, env);
  results.restic = {
    version: execFileSync('restic', ['version'], { encoding: 'utf8' }).trim(),
    initial: first,
    repoBytesAfterInitial: await du(env.RESTIC_REPOSITORY),
  };
}
// tar | zstd
const tarOk = have('zstd');
if (tarOk) {
  const first = timed('tar | zstd', `tar -C ${data} -cf - . | zstd -q -1 -T0 -o ${work}/data.tar.zst`);
  results.tarZstd = { initial: first, bytes: (await stat(join(work, 'data.tar.zst'))).size };
}

const changedBytes = await change(data);
{
  const home = join(work, 'hoard-home');
  const plan = join(work, 'plan.json');
  const cli = `node ${MAIN} --home ${home}`;
  const second = timed('hoard incremental backup', `${cli} protect ${plan} --json > ${work}/hoard-2.json`);
  const id = JSON.parse(execFileSync('cat', [`${work}/hoard-2.json`], { encoding: 'utf8' })).checkpoint.id;
  const restored = timed(
    'hoard restore',
    `${cli} restore ${id} --target ${work}/hoard-restore --json > /dev/null`,
  );
  const h = results.hoard as Record<string, unknown>;
  Object.assign(h, {
    incremental: second,
    restore: restored,
    repoBytes: await du(join(home, 'banks/local/store')),
  });
}
if (resticOk) {
  const env = {
    RESTIC_PASSWORD: 'bench',
    RESTIC_REPOSITORY: join(work, 'restic-repo'),
    RESTIC_CACHE_DIR: join(work, 'restic-cache'),
  };
  const second = timed('restic incremental backup', `restic backup --quiet ${data}`, env);
  const restored = timed(
    'restic restore',
    `restic restore --quiet latest --target ${work}/restic-restore`,
    env,
  );
  Object.assign(results.restic as Record<string, unknown>, {
    incremental: second,
    restore: restored,
    repoBytes: await du(env.RESTIC_REPOSITORY),
  });
}
if (tarOk) {
  const restored = timed(
    'zstd -d | tar -x',
    `mkdir -p ${work}/tar-restore && zstd -q -dc ${work}/data.tar.zst | tar -C ${work}/tar-restore -xf -`,
  );
  Object.assign(results.tarZstd as Record<string, unknown>, { restore: restored });
}

type Row = { initial: { seconds: number }; incremental?: { seconds: number }; restore: { seconds: number } };
const rate = (r: Row | undefined, step: 'initial' | 'restore') => (r ? round(MB / r[step].seconds, 1) : null);
const hoard = results.hoard as Row & { repoBytes: number };
const restic = results.restic as (Row & { repoBytes: number }) | undefined;
console.log(
  JSON.stringify(
    {
      machine: {
        cpus: cpus().length,
        memoryGiB: round(totalmem() / 2 ** 30, 1),
        node: process.version,
        cachesDropped,
      },
      dataSet: { files: set.files, bytes: set.bytes, changedBytes },
      results,
      summary: {
        initialMBps: {
          hoard: rate(hoard, 'initial'),
          restic: rate(restic, 'initial'),
          tarZstd: rate(results.tarZstd as Row | undefined, 'initial'),
        },
        restoreMBps: {
          hoard: rate(hoard, 'restore'),
          restic: rate(restic, 'restore'),
          tarZstd: rate(results.tarZstd as Row | undefined, 'restore'),
        },
        incrementalSeconds: {
          hoard: hoard.incremental?.seconds,
          restic: restic?.incremental?.seconds ?? null,
        },
        repoBytes: { hoard: hoard.repoBytes, restic: restic?.repoBytes ?? null },
        ratios: restic
          ? {
              initialSpeedHoardOverRestic: round(restic.initial.seconds / hoard.initial.seconds, 2),
              restoreSpeedHoardOverRestic: round(restic.restore.seconds / hoard.restore.seconds, 2),
              incrementalTimeHoardOverRestic: round(
                hoard.incremental!.seconds / restic.incremental!.seconds,
                2,
              ),
              repoSizeHoardOverRestic: round(hoard.repoBytes / restic.repoBytes, 3),
            }
          : 'restic not installed (apt-get install restic)',
      },
    },
    null,
    2,
  ),
);
await rm(work, { recursive: true, force: true });
