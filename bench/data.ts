/**
 * `npm run bench:data`: the data path, Hoard against restic on the same destination, in one run.
 *
 * One seeded data set (data-set.ts: text, random, and large files that mix both inside them)
 * goes into, each from an empty repository:
 *   hoard-fs            fs.directory into an fs bank, encryption = none          (a)
 *   hoard-fs-password   the same, encryption = password                          (b)
 *   hoard-s3-password   into an s3 bank on radosgw (loopback), encryption = password (c)
 *   restic-local        restic into a local repository (the peer of a and b)
 *   restic-s3           restic into its own bucket on the same radosgw (the peer of c)
 *   tar-zstd            `tar | zstd -1` and back, a floor for the fs rows (no incremental)
 * For each: initial backup (time, MB/s), the 1 % change, incremental backup, restore of the
 * latest (time, MB/s; the restored bytes are counted), repository size, and each step's peak
 * RSS and CPU seconds (GNU time). Each step starts the tool afresh (start-up counts) after the page caches
 * are dropped, when this process may (root). The change is undone after each group of rows,
 * so every row meets the same data and the same change. The fs rows take each step in
 * turn, so the rows compared are measured close together in time; the whole is repeated in
 * rounds (every other round in reverse order) and the summary takes medians. Before the
 * rows, a cipher micro-benchmark (cipher.ts).
 *
 * The summary divides each Hoard time and size by its peer restic's, and (b) by (a): what
 * encryption costs. Targets (reported, not enforced): encryption adds at most 10 % to the
 * backup time; Hoard at least restic's speed for backup, incremental and restore on both
 * destinations; repository no larger than restic's; peak RSS of a backup and a restore at most
 * 1.5× restic's.
 *
 * JSON on stdout, progress on stderr. Missing tools (restic, zstd, radosgw) are reported and
 * their rows left out; a row that fails is reported with its error and the others still run.
 *
 * Environment: BENCH_DATA_MB scales the data set (default 1100, about 1.15 GB);
 * BENCH_DATA_ROUNDS (default 3); BENCH_DATA_ROWS=name,… runs only those rows;
 * BENCH_DATA_BEFORE=OTHER/build/src/cli/main.js adds that build's fs rows ("hoard-fs-before",
 * "hoard-fs-password-before") to the fs group, for an A/B in the same run, and its s3 row
 * ("hoard-s3-password-before", a group of its own, run after hoard-s3-password's);
 * BENCH_DATA_ENCRYPTION overrides the mode of the "password" rows (e.g. none, to try the
 * harness on a build without encryption); BENCH_NOTE is copied into the output (say what
 * else ran on the machine).
 */
import { execFileSync, spawnSync } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { existsSync } from 'node:fs';
import { mkdir, mkdtemp, readdir, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { cpus, loadavg, tmpdir, totalmem } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { GetObjectCommand, type S3Client } from '@aws-sdk/client-s3';
import { cipherBench } from './cipher.js';
import { change, generate } from './data-set.js';
import { median, round } from './lib.js';
import { client, createBucket, listObjects, radosgw, removeBucket, type S3Server } from './s3.js';

const scale = Number(process.env.BENCH_DATA_MB ?? 1100) / 1100;
const MAIN = fileURLToPath(new URL('../src/cli/main.js', import.meta.url));
const PASSWORD_MODE = process.env.BENCH_DATA_ENCRYPTION ?? 'password';
const ROUNDS = Math.max(1, Number(process.env.BENCH_DATA_ROUNDS ?? 3));
const ONLY = process.env.BENCH_DATA_ROWS?.split(',').map((s) => s.trim());
/** Another build's CLI (…/build/src/cli/main.js): its fs rows run as "…-before" in the same group, for an A/B. */
const BEFORE = process.env.BENCH_DATA_BEFORE;

const log = (line: string) => process.stderr.write(`bench:data: ${line}\n`);

interface Step {
  seconds: number;
  peakRssMiB: number | null;
  /** User + system CPU seconds of the command and its children (GNU time): less bent by other load than `seconds`. */
  cpuSeconds: number | null;
}

/** One tool into one destination, from an empty repository to a restore. */
interface Row {
  name: string;
  tool: string;
  destination: 'fs' | 's3';
  encryption: string;
  /** False for tar | zstd: it has no incremental backup. */
  incremental: boolean;
  /** Creates the empty repository (not timed). */
  setup(): Promise<void>;
  backup(label: string): Step;
  restore(target: string): Step;
  size(): Promise<number>;
  /** The repository's objects, for the plaintext check (Hoard rows only). */
  objects?(): AsyncIterable<Buffer>;
  teardown(): Promise<void>;
}

const hasTime = existsSync('/usr/bin/time');
let cachesDropped = false;

function dropCaches(): void {
  try {
    execFileSync('sh', ['-c', 'sync && echo 3 > /proc/sys/vm/drop_caches'], { stdio: 'ignore' });
    cachesDropped = true;
  } catch {
    cachesDropped = false;
  }
}

/** Runs a command (through sh), timed; peak RSS of the command from GNU time when present. */
function timed(label: string, script: string, env: Record<string, string> = {}): Step {
  dropCaches();
  log(label);
  const start = performance.now();
  const args = hasTime ? ['/usr/bin/time', '-f', '%M %U %S', 'sh', '-c', script] : ['sh', '-c', script];
  const r = spawnSync(args[0]!, args.slice(1), {
    env: { ...process.env, ...env },
    encoding: 'utf8',
    maxBuffer: 64 << 20,
  });
  const seconds = (performance.now() - start) / 1000;
  if (r.status !== 0) throw new Error(`${label} failed (exit ${r.status}): ${r.stderr.slice(-2000).trim()}`);
  const [kb, user, system] = hasTime
    ? (r.stderr.trim().split('\n').pop() ?? '').split(' ').map(Number)
    : [Number.NaN, Number.NaN, Number.NaN];
  const cpu = (user ?? Number.NaN) + (system ?? Number.NaN);
  return {
    seconds: round(seconds, 2),
    peakRssMiB: kb !== undefined && Number.isFinite(kb) ? round(kb / 1024, 1) : null,
    cpuSeconds: Number.isFinite(cpu) ? round(cpu, 2) : null,
  };
}

function have(tool: string): boolean {
  return spawnSync('sh', ['-c', `command -v ${tool}`]).status === 0;
}

async function du(path: string): Promise<number> {
  let total = 0;
  for (const rel of await readdir(path, { recursive: true })) {
    const st = await stat(join(path, rel));
    if (st.isFile()) total += st.size;
  }
  return total;
}

async function* filesUnder(path: string): AsyncIterable<Buffer> {
  for (const rel of await readdir(path, { recursive: true })) {
    const abs = join(path, rel);
    if ((await stat(abs)).isFile()) yield await readFile(abs);
  }
}

async function* objectsIn(s3: S3Client, bucket: string): AsyncIterable<Buffer> {
  for (const o of await listObjects(s3, bucket)) {
    const got = await s3.send(new GetObjectCommand({ Bucket: bucket, Key: o.key }));
    yield Buffer.from(await got.Body!.transformToByteArray());
  }
}

const work = await mkdtemp(join(tmpdir(), 'hoard-bench-data-'));
const data = join(work, 'data');
const passwordFile = join(work, 'password');
await writeFile(passwordFile, 'correct horse battery staple\n', { mode: 0o600 });
const plan = join(work, 'plan.json');
await writeFile(
  plan,
  JSON.stringify({ name: 'bench', resources: [{ type: 'fs.directory', id: 'data', path: data }] }),
);

/** Each row's bucket has a name of its own: a bucket just removed may linger in radosgw. */
let buckets = 0;

/** fs.directory into a bank of its own, in a home of its own. */
function hoardRow(
  name: string,
  destination: 'fs' | 's3',
  encryption: string,
  server?: S3Server,
  main = MAIN,
): Row {
  const home = join(work, name);
  const bankPath = join(home, 'bank');
  const bucket = `bench-${name}-${process.pid}-${++buckets}`;
  const s3 = server ? client(server) : undefined;
  const cli = `node ${main} --home ${home}`;
  let checkpoint = '';
  let n = 0;
  return {
    name,
    tool: 'hoard',
    destination,
    encryption,
    incremental: true,
    async setup() {
      const bank =
        destination === 'fs'
          ? `[fs]\npath = ${bankPath}\n`
          : `[s3]\nbucket = ${bucket}\nendpoint = ${server!.endpoint}\naccess_key_id = ${server!.accessKeyId}\nsecret_access_key = ${server!.secretAccessKey}\n`;
      const keys = encryption === 'password' ? `[encryption]\npassword_file = ${passwordFile}\n` : '';
      await mkdir(join(home, 'providers'), { recursive: true });
      await writeFile(
        join(home, 'providers', `${name}.conf`),
        `[provider]\nname = ${name}\nid = ${randomUUID()}\nbank = ${destination}\nplugin = fs.directory\nencryption = ${encryption}\n${bank}${keys}`,
      );
      if (s3) await createBucket(s3, bucket);
    },
    backup(label) {
      const out = join(home, `protect-${++n}.json`);
      const step = timed(
        `${name}: ${label} backup`,
        `${cli} protect ${plan} --provider ${name} --json > ${out}`,
      );
      checkpoint = JSON.parse(execFileSync('cat', [out], { encoding: 'utf8' })).checkpoint.id;
      return step;
    },
    restore(target) {
      return timed(
        `${name}: restore`,
        `${cli} restore ${checkpoint} --provider ${name} --target ${target} --json > /dev/null`,
      );
    },
    async size() {
      return s3 ? (await listObjects(s3, bucket)).reduce((t, o) => t + o.size, 0) : du(bankPath);
    },
    objects() {
      return s3 ? objectsIn(s3, bucket) : filesUnder(bankPath);
    },
    async teardown() {
      if (s3) await removeBucket(s3, bucket).catch((e) => log(`${name}: removing ${bucket}: ${e}`));
      await rm(home, { recursive: true, force: true });
    },
  };
}

function resticRow(destination: 'fs' | 's3', server?: S3Server): Row {
  const name = destination === 'fs' ? 'restic-local' : 'restic-s3';
  const bucket = `bench-${name}-${process.pid}-${++buckets}`;
  const repo = join(work, name);
  const env: Record<string, string> = {
    RESTIC_PASSWORD: 'correct horse battery staple',
    RESTIC_REPOSITORY: server ? `s3:${server.endpoint}/${bucket}` : repo,
    RESTIC_CACHE_DIR: join(work, `${name}-cache`),
    ...(server
      ? { AWS_ACCESS_KEY_ID: server.accessKeyId, AWS_SECRET_ACCESS_KEY: server.secretAccessKey }
      : {}),
  };
  const s3 = server ? client(server) : undefined;
  return {
    name,
    tool: 'restic',
    destination,
    encryption: 'password (always)',
    incremental: true,
    async setup() {
      // Version 2: compressed (zstd, "auto"), as Hoard's banks are.
      execFileSync('restic', ['init', '--repository-version', '2'], {
        env: { ...process.env, ...env },
        stdio: 'ignore',
      });
    },
    backup: (label) => timed(`${name}: ${label} backup`, `restic backup --quiet ${data}`, env),
    restore: (target) => timed(`${name}: restore`, `restic restore --quiet latest --target ${target}`, env),
    async size() {
      return s3 ? (await listObjects(s3, bucket)).reduce((t, o) => t + o.size, 0) : du(repo);
    },
    async teardown() {
      if (s3) await removeBucket(s3, bucket).catch((e) => log(`${name}: removing ${bucket}: ${e}`));
      await rm(repo, { recursive: true, force: true });
      await rm(env.RESTIC_CACHE_DIR!, { recursive: true, force: true });
    },
  };
}

function tarRow(): Row {
  const archive = join(work, 'data.tar.zst');
  return {
    name: 'tar-zstd',
    tool: 'tar | zstd -1 -T0',
    destination: 'fs',
    encryption: 'none',
    incremental: false,
    async setup() {},
    backup: () => timed('tar-zstd: tar | zstd', `tar -C ${data} -cf - . | zstd -q -1 -T0 -o ${archive}`),
    restore: (target) =>
      timed(
        'tar-zstd: zstd -d | tar -x',
        `mkdir -p ${target} && zstd -q -dc ${archive} | tar -C ${target} -xf -`,
      ),
    size: async () => (await stat(archive)).size,
    teardown: () => rm(archive, { force: true }),
  };
}

/** 64 bytes from the middle of an incompressible file: found verbatim in a repository only if it is stored unencrypted. */
async function plaintextProbe(): Promise<Buffer> {
  return (await readFile(join(data, 'mid/d0/f0.bin'))).subarray(4096, 4096 + 64);
}

async function contains(objects: AsyncIterable<Buffer>, probe: Buffer): Promise<boolean> {
  for await (const o of objects) if (o.includes(probe)) return true;
  return false;
}

const machine = {
  cpus: cpus().length,
  cpuModel: cpus()[0]?.model ?? null,
  memoryGiB: round(totalmem() / 2 ** 30, 1),
  node: process.version,
  hoardCommit: gitHead(),
  cachesDropped: false,
  loadAverage: { start: loadavg().map((x) => round(x, 2)), end: [] as number[] },
  note: process.env.BENCH_NOTE ?? null,
};

function gitHead(): string | null {
  try {
    return execFileSync('git', ['rev-parse', '--short', 'HEAD'], {
      cwd: fileURLToPath(new URL('../..', import.meta.url)),
      encoding: 'utf8',
      stdio: ['ignore', 'pipe', 'ignore'],
    }).trim();
  } catch {
    return null;
  }
}

log('cipher micro-benchmark (AES-256-GCM, ChaCha20-Poly1305, 64 KiB segments)');
const cipher = cipherBench();

log(`generating the data set in ${data}`);
const set = await generate(data, scale);
const MB = set.bytes / 1e6;

const missing: Record<string, string> = {};
if (!have('restic'))
  missing['restic-local'] = missing['restic-s3'] = 'restic not installed (apt-get install restic)';
if (!have('zstd')) missing['tar-zstd'] = 'zstd not installed (apt-get install zstd)';
const wanted = (name: string) => (!ONLY || ONLY.includes(name)) && !missing[name];
const server = ['hoard-s3-password', 'hoard-s3-password-before', 'restic-s3'].some(wanted)
  ? radosgw(log)
  : { missing: 'not asked for (BENCH_DATA_ROWS)' };
if ('missing' in server) {
  missing['hoard-s3-password'] = missing['hoard-s3-password-before'] = server.missing;
  missing['restic-s3'] ??= server.missing;
}
for (const [name, why] of Object.entries(missing)) log(`${name} left out: ${why}`);

/**
 * A round's rows in groups. A group's rows take each step in turn (all initial backups, the
 * change, all incrementals, all restores), so that the rows compared are measured close
 * together in time on a machine whose load varies. The s3 rows are groups of one: two
 * repositories would not fit together in radosgw's 2 GiB memstore (with BENCH_DATA_MB at
 * most 400 they do, and make one group).
 */
function groups(): Row[][] {
  const fs = [
    hoardRow('hoard-fs', 'fs', 'none'),
    hoardRow('hoard-fs-password', 'fs', PASSWORD_MODE),
    ...(BEFORE
      ? [
          hoardRow('hoard-fs-before', 'fs', 'none', undefined, BEFORE),
          hoardRow('hoard-fs-password-before', 'fs', PASSWORD_MODE, undefined, BEFORE),
        ]
      : []),
    ...(missing['restic-local'] ? [] : [resticRow('fs')]),
    ...(missing['tar-zstd'] ? [] : [tarRow()]),
  ];
  const s3 =
    'missing' in server
      ? []
      : [
          hoardRow('hoard-s3-password', 's3', PASSWORD_MODE, server),
          ...(BEFORE ? [hoardRow('hoard-s3-password-before', 's3', PASSWORD_MODE, server, BEFORE)] : []),
          resticRow('s3', server),
        ];
  // A small data set's S3 repositories fit radosgw together: one group, each step in turn.
  const s3Groups = scale * 1100 <= 400 ? [s3] : s3.map((row) => [row]);
  return [fs, ...s3Groups]
    .map((group) => group.filter((row) => wanted(row.name)))
    .filter((group) => group.length > 0);
}

interface Run {
  initial?: Step;
  repoBytesAfterInitial?: number;
  incremental?: Step;
  restore?: Step;
  restoredBytes?: number;
  restoredBytesExpected?: number;
  repoBytes?: number;
  plaintextInRepository?: boolean;
  error?: string;
}

const probe = await plaintextProbe();
let changed: { bytes: number; files: number; dataSetBytesAfter: number } | undefined;
const runs = new Map<string, { row: Row; runs: Run[] }>();

async function runGroup(rows: Row[], round: number): Promise<void> {
  const state = rows.map((row) => {
    const run: Run = {};
    const entry = runs.get(row.name) ?? { row, runs: [] };
    entry.runs.push(run);
    runs.set(row.name, entry);
    return { row, run };
  });
  /** One step of every row still going; a row that fails is reported and stops there. */
  const each = async (step: (row: Row, run: Run) => Promise<void>) => {
    for (const { row, run } of state) {
      if (run.error !== undefined) continue;
      try {
        await step(row, run);
      } catch (error) {
        run.error = (error as Error).message;
        log(`${row.name} failed: ${run.error}`);
      }
    }
  };
  await each((row) => row.setup());
  await each(async (row, run) => {
    run.initial = row.backup(`round ${round}, initial`);
    run.repoBytesAfterInitial = await row.size();
  });
  const c = await change(data, scale);
  try {
    changed ??= { bytes: c.bytes, files: c.files, dataSetBytesAfter: await du(data) };
    await each(async (row, run) => {
      if (row.incremental) run.incremental = row.backup(`round ${round}, incremental`);
    });
    await each(async (row, run) => {
      const target = join(work, `${row.name}-restore`);
      run.restore = row.restore(target);
      run.restoredBytes = await du(target);
      run.restoredBytesExpected = row.incremental ? changed!.dataSetBytesAfter : set.bytes;
      await rm(target, { recursive: true, force: true });
    });
    await each(async (row, run) => {
      run.repoBytes = await row.size();
      if (row.objects && round === 1) {
        log(`${row.name}: looking for plaintext in the repository`);
        run.plaintextInRepository = await contains(row.objects(), probe);
      }
    });
  } finally {
    await c.undo();
    for (const { row } of state) await row.teardown();
  }
}

for (let round = 1; round <= ROUNDS; round++) {
  // Every other round in the opposite order, so that no row always goes first.
  const list = groups();
  if (round % 2 === 0) for (const group of list.reverse()) group.reverse();
  for (const group of list) await runGroup(group, round);
}
machine.cachesDropped = cachesDropped;
machine.loadAverage.end = loadavg().map((x) => round(x, 2));

/** A row's median step over the rounds (a row that failed in any round has none). */
interface Medians {
  initial: Step;
  incremental: Step | null;
  restore: Step;
  repoBytes: number;
}
function medianStep(steps: Step[]): Step {
  const rss = steps.map((s) => s.peakRssMiB).filter((x): x is number => x !== null);
  const cpu = steps.map((s) => s.cpuSeconds).filter((x): x is number => x !== null);
  return {
    seconds: round(median(steps.map((s) => s.seconds)), 2),
    peakRssMiB: rss.length ? round(median(rss), 1) : null,
    cpuSeconds: cpu.length ? round(median(cpu), 2) : null,
  };
}
const medians = new Map<string, Medians>();
const results: Record<string, unknown> = {};
for (const [name, { row, runs: list }] of runs) {
  const ok = list.filter((r) => r.error === undefined);
  const failed = list.find((r) => r.error !== undefined);
  results[name] = {
    tool: row.tool,
    destination: row.destination,
    encryption: row.encryption,
    ...(failed ? { error: failed.error } : {}),
    runs: list,
  };
  if (failed || ok.length === 0) continue;
  const m: Medians = {
    initial: medianStep(ok.map((r) => r.initial!)),
    incremental: row.incremental ? medianStep(ok.map((r) => r.incremental!)) : null,
    restore: medianStep(ok.map((r) => r.restore!)),
    repoBytes: Math.round(median(ok.map((r) => r.repoBytes!))),
  };
  medians.set(name, m);
  Object.assign(results[name] as object, { median: m });
}

const ratio = (a: number | undefined, b: number | undefined, digits = 2) =>
  a !== undefined && b !== undefined ? round(a / b, digits) : null;
/** Each time and size of `rowName` divided by `peerName`'s (medians). */
function versus(rowName: string, peerName: string) {
  const row = medians.get(rowName);
  const peer = medians.get(peerName);
  if (!row || !peer) return null;
  return {
    initialTime: ratio(row.initial.seconds, peer.initial.seconds),
    incrementalTime: ratio(row.incremental?.seconds, peer.incremental?.seconds),
    restoreTime: ratio(row.restore.seconds, peer.restore.seconds),
    repoSize: ratio(row.repoBytes, peer.repoBytes, 3),
    initialCpu: ratio(row.initial.cpuSeconds ?? undefined, peer.initial.cpuSeconds ?? undefined),
    incrementalCpu: ratio(
      row.incremental?.cpuSeconds ?? undefined,
      peer.incremental?.cpuSeconds ?? undefined,
    ),
    restoreCpu: ratio(row.restore.cpuSeconds ?? undefined, peer.restore.cpuSeconds ?? undefined),
    initialPeakRss: ratio(row.initial.peakRssMiB ?? undefined, peer.initial.peakRssMiB ?? undefined),
    incrementalPeakRss: ratio(
      row.incremental?.peakRssMiB ?? undefined,
      peer.incremental?.peakRssMiB ?? undefined,
    ),
    restorePeakRss: ratio(row.restore.peakRssMiB ?? undefined, peer.restore.peakRssMiB ?? undefined),
  };
}
const spread = (xs: number[]) => (xs.length > 1 ? `${Math.min(...xs)}–${Math.max(...xs)}` : null);

const table = Object.fromEntries(
  [...runs].map(([name, { runs: list }]) => {
    const m = medians.get(name);
    if (!m) return [name, { error: list.find((r) => r.error)?.error ?? 'did not run' }];
    return [
      name,
      {
        initialSeconds: m.initial.seconds,
        initialMBps: round(MB / m.initial.seconds, 1),
        incrementalSeconds: m.incremental?.seconds ?? null,
        restoreSeconds: m.restore.seconds,
        restoreMBps: round(MB / m.restore.seconds, 1),
        repoBytes: m.repoBytes,
        cpuSeconds: {
          initial: m.initial.cpuSeconds,
          incremental: m.incremental?.cpuSeconds ?? null,
          restore: m.restore.cpuSeconds,
        },
        peakRssMiB: Math.max(
          m.initial.peakRssMiB ?? 0,
          m.incremental?.peakRssMiB ?? 0,
          m.restore.peakRssMiB ?? 0,
        ),
        secondsOverRounds: {
          initial: spread(list.map((r) => r.initial!.seconds)),
          incremental: spread(list.flatMap((r) => (r.incremental ? [r.incremental.seconds] : []))),
          restore: spread(list.map((r) => r.restore!.seconds)),
        },
        restoredAll: list.every((r) => r.restoredBytes === r.restoredBytesExpected),
      },
    ];
  }),
);

const fsNone = versus('hoard-fs', 'restic-local');
const fsPassword = versus('hoard-fs-password', 'restic-local');
const s3Password = versus('hoard-s3-password', 'restic-s3');
const encryptionCost = versus('hoard-fs-password', 'hoard-fs');
/** Whether the plaintext probe was absent from the row's repository (first round). */
const encrypted = (name: string) => {
  const found = runs.get(name)?.runs[0]?.plaintextInRepository;
  return typeof found === 'boolean' ? !found : null;
};

type Target = { target: string; value: number | null; limit: number; met: boolean | null };
const target = (what: string, value: number | null | undefined, limit: number): Target => ({
  target: what,
  value: value ?? null,
  limit,
  met: value === null || value === undefined ? null : value <= limit,
});
const targets: Target[] = [
  target(
    'encryption adds at most 10 % to the initial backup: (b) ÷ (a) time',
    encryptionCost?.initialTime,
    1.1,
  ),
  target(
    'the same in CPU seconds (user + system; less bent by other load on the machine)',
    encryptionCost?.initialCpu,
    1.1,
  ),
];
for (const [label, v] of [
  ['fs, unencrypted (a) ÷ restic local', fsNone],
  ['fs, password (b) ÷ restic local', fsPassword],
  ['s3, password (c) ÷ restic s3', s3Password],
] as const) {
  targets.push(
    target(`${label}: initial backup time`, v?.initialTime, 1),
    target(`${label}: incremental backup time`, v?.incrementalTime, 1),
    target(`${label}: restore time`, v?.restoreTime, 1),
    target(`${label}: repository size`, v?.repoSize, 1),
    target(`${label}: initial backup peak RSS`, v?.initialPeakRss, 1.5),
    target(`${label}: restore peak RSS`, v?.restorePeakRss, 1.5),
  );
}

console.log(
  JSON.stringify(
    {
      machine,
      rounds: ROUNDS,
      cipher,
      dataSet: { ...set, scale: round(scale, 3), change: changed ?? null },
      missing,
      results,
      summary: {
        of: `medians over ${ROUNDS} round(s); MB/s = data set bytes ÷ seconds`,
        table,
        encryptionInEffect: {
          'hoard-fs': encrypted('hoard-fs'),
          'hoard-fs-password': encrypted('hoard-fs-password'),
          'hoard-s3-password': encrypted('hoard-s3-password'),
        },
        hoardOverRestic: {
          fs: {
            peer: 'restic-local',
            'hoard-fs': fsNone,
            'hoard-fs-password': fsPassword,
            ...(BEFORE
              ? {
                  'hoard-fs-before': versus('hoard-fs-before', 'restic-local'),
                  'hoard-fs-password-before': versus('hoard-fs-password-before', 'restic-local'),
                }
              : {}),
          },
          s3: {
            peer: 'restic-s3',
            'hoard-s3-password': s3Password,
            ...(BEFORE
              ? { 'hoard-s3-password-before': versus('hoard-s3-password-before', 'restic-s3') }
              : {}),
          },
        },
        encryptionCost: encryptionCost && { ...encryptionCost, of: 'hoard-fs-password ÷ hoard-fs' },
        targets,
      },
    },
    null,
    2,
  ),
);
await rm(work, { recursive: true, force: true });
