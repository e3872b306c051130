/**
 * `npm run bench:api`: does listing slow with history? For each history size (1,000 and
 * 100,000 checkpoints of one project's plan in an fs bank, a minute apart), the CPU one
 * newest page of 100 costs in-process (listCheckpoints + withStats, as the API's route calls
 * them, 2.5 s after the last write: the fs bank then keeps the directories' listings), then `hoard serve` (a separate process, SQLite catalog) on loopback loaded by
 * autocannon from this process: listing a page of 100 and showing one checkpoint, with the
 * server's CPU per request; for the largest size also with a protect running (an
 * fs.directory of ~200 MB, protected again and again). JSON on stdout.
 *
 * The newest 1,000 checkpoints of each bank are made as a protect makes them (record, index
 * entries with stats); older ones of a larger history are index entries only, written
 * straight into the bank's directory without fsync (`directEntries`), which is all a listing
 * of the newest pages reads, and makes a 100,000-checkpoint bank in seconds.
 *
 *   HOARD_BENCH_SECONDS (default 10) per scenario, HOARD_BENCH_SIZES (default 1000,100000)
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { cpus, loadavg, tmpdir, totalmem } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import autocannon from 'autocannon';
import { SqliteCatalog } from '../src/catalog/index.js';
import { newCheckpointId, planIndexKey, timeIndexKey } from '../src/checkpoints/keys.js';
import { type CheckpointMeta, CheckpointStore } from '../src/checkpoints/store.js';
import { listCheckpoints, withStats } from '../src/flows/checkpoints.js';
import { localProvider } from '../src/providers/provider.js';
import { median, round } from './lib.js';

const MAIN = fileURLToPath(new URL('../src/cli/main.js', import.meta.url));
const SECONDS = Number(process.env.HOARD_BENCH_SECONDS ?? 10);
const SIZES = (process.env.HOARD_BENCH_SIZES ?? '1000,100000').split(',').map(Number);
/** Checkpoints made whole (record and entries) at the newest end of every history. */
const WHOLE = 1000;
const CONNECTIONS = 16;

const log = (message: string) => process.stderr.write(`bench:api: ${message}\n`);

const statsOf = (i: number) => ({
  files: 1,
  bytes: 1000 + i,
  newBytes: i % 7,
  storedBytes: 500,
  durationMs: 20,
});

/** `count` checkpoints of `planId`, a minute apart, ending now; returns the ids of the whole ones. */
async function seed(home: string, planId: string, count: number): Promise<string[]> {
  const provider = await localProvider(home);
  const store = new CheckpointStore(provider.bank);
  const start = Date.now() - count * 60_000;
  const idOf = (i: number) => newCheckpointId(new Date(start + i * 60_000));
  const direct = Math.max(0, count - WHOLE);
  await directEntries(
    (provider.bank as unknown as { root: string }).root,
    Array.from({ length: direct }, (_, i) => [
      timeIndexKey(idOf(i), 'available', planId, statsOf(i)),
      planIndexKey(idOf(i), 'available', planId, statsOf(i)),
    ]).flat(),
  );
  const ids: string[] = [];
  let next = direct;
  const worker = async () => {
    while (next < count) {
      const i = next++;
      const id = idOf(i);
      const created = new Date(start + i * 60_000).toISOString();
      const meta: CheckpointMeta = {
        version: 1,
        id,
        plan: planId,
        provider: { id: provider.id, name: provider.name },
        status: 'available',
        createdAt: created,
        updatedAt: created,
        resources: [{ type: 'noop', id: 'x', status: 'available', stats: statsOf(i) }],
        graph: { resources: [{ type: 'noop', id: 'x', children: [] }] },
        parameters: {},
        operations: [],
        stats: statsOf(i),
      };
      await store.create(meta);
      ids.push(id);
    }
  };
  await Promise.all(Array.from({ length: 16 }, worker));
  return ids.sort();
}

/** Empty objects at `keys` of the fs bank at `root`, written as files directly (no fsync). */
async function directEntries(root: string, keys: string[]): Promise<void> {
  const made = new Map<string, Promise<unknown>>();
  let next = 0;
  const worker = async () => {
    while (next < keys.length) {
      const path = join(root, ...keys[next++]!.split('/'));
      const dir = dirname(path);
      if (!made.has(dir)) made.set(dir, mkdir(dir, { recursive: true }));
      await made.get(dir);
      await writeFile(path, '');
      if (next % 20_000 === 0) log(`wrote ${next}/${keys.length} index entries directly`);
    }
  };
  await Promise.all(Array.from({ length: 32 }, worker));
}

/** CPU and wall time of one newest page of 100 of the plan, in-process, as the API's route gets it. */
async function pageCost(home: string, planId: string) {
  const provider = await localProvider(home);
  const page = async () =>
    withStats(provider, (await listCheckpoints(provider, { plan: planId, limit: 100 })).checkpoints, {
      planNames: false,
    });
  for (let i = 0; i < 20; i++) await page(); // warm up
  const cpu: number[] = [];
  const wall: number[] = [];
  for (let batch = 0; batch < 10; batch++) {
    const c = process.cpuUsage();
    const t = performance.now();
    for (let i = 0; i < 20; i++) {
      const items = await page();
      if (items.length !== 100 || items.some((c) => !c.stats))
        throw new Error('a page of 100 with stats expected');
    }
    const used = process.cpuUsage(c);
    cpu.push((used.user + used.system) / 1000 / 20);
    wall.push((performance.now() - t) / 20);
  }
  return { cpuMsPerPage: round(median(cpu), 3), wallMsPerPage: round(median(wall), 3) };
}

/** CPU time the process `pid` has used, in ms (Linux /proc). */
function cpuMsOf(pid: number): number {
  const fields = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]!.split(' ');
  return ((Number(fields[11]) + Number(fields[12])) * 1000) / 100; // utime, stime in 1/100 s
}

function serve(home: string): Promise<{ child: ChildProcess; url: string }> {
  const child = spawn(process.execPath, [MAIN, '--home', home, 'serve', '--port', '0', '--json'], {
    env: { ...process.env, HOARD_SCHEDULER_TICK_MS: '1000' },
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  let out = '';
  return new Promise((resolve, reject) => {
    child.stdout!.on('data', (d) => {
      out += d;
      try {
        resolve({ child, url: JSON.parse(out).url });
      } catch {}
    });
    child.on('close', (code) => reject(new Error(`hoard serve exited ${code}`)));
  });
}

async function load(url: string, token: string, server: number) {
  const cpuBefore = cpuMsOf(server);
  const result = await autocannon({
    url,
    connections: CONNECTIONS,
    duration: SECONDS,
    headers: { authorization: `Bearer ${token}` },
  });
  const serverCpuMs = cpuMsOf(server) - cpuBefore;
  return {
    requestsPerSecond: round(result.requests.average, 0),
    serverCpuMsPerRequest: round(serverCpuMs / Math.max(1, result.requests.total), 3),
    p50Ms: result.latency.p50,
    p99Ms: result.latency.p99,
    errors: result.errors + result.non2xx,
    requests: result.requests.total,
  };
}

async function main() {
  const dir = await mkdtemp(join(tmpdir(), 'hoard-bench-api-'));
  const data = join(dir, 'data');
  await mkdir(data, { recursive: true });
  for (let i = 0; i < 50; i++) await writeFile(join(data, `f${i}`), randomBytes(4 * 1024 * 1024));
  const sizes = [];
  for (const [n, size] of SIZES.entries()) {
    const home = join(dir, `home-${size}`);
    const catalog = new SqliteCatalog(join(home, 'catalog.sqlite'));
    await catalog.migrate();
    const { secret } = await catalog.createToken({ project: 'bench' });
    const listed = await catalog.createPlan({
      project: 'bench',
      name: 'listed',
      provider: 'local',
      resources: [{ type: 'noop', id: 'x' }],
      parameters: {},
    });
    const busy = await catalog.createPlan({
      project: 'bench',
      name: 'busy',
      provider: 'local',
      resources: [{ type: 'fs.directory', id: 'data', path: data }],
      parameters: {},
    });
    await catalog.close();
    log(`seeding ${size} checkpoints`);
    const t = performance.now();
    const ids = await seed(home, listed.id, size);
    const seedSeconds = (performance.now() - t) / 1000;
    // The fs bank keeps a directory's listing once it has not changed for 2 s (bank/fs.ts): the
    // steady state of a plan between its protects. Measured on a fresh bank object, so each
    // size starts from nothing kept.
    await new Promise((resolve) => setTimeout(resolve, 2500));
    const inProcess = await pageCost(home, listed.id);
    log(`${size} checkpoints: newest page of 100 in-process ${JSON.stringify(inProcess)}`);

    const { child, url } = await serve(home);
    const api = `${url}/v1/bench`;
    const list = `${api}/providers/local/checkpoints?limit=100&planId=${listed.id}`;
    const show = `${api}/providers/local/checkpoints/${ids[Math.floor(ids.length / 2)]}`;

    // Protects one after another for as long as `running` says.
    let running = false;
    let protects = 0;
    const protectLoop = async () => {
      while (running) {
        const r = await fetch(`${api}/providers/local/checkpoints`, {
          method: 'POST',
          headers: { authorization: `Bearer ${secret}`, 'content-type': 'application/json' },
          body: JSON.stringify({ planId: busy.id }),
        });
        const { operationLog } = (await r.json()) as { operationLog: { id: string } };
        for (;;) {
          const s = await fetch(`${api}/operation_logs/${operationLog.id}`, {
            headers: { authorization: `Bearer ${secret}` },
          });
          const { operationLog: l } = (await s.json()) as { operationLog: { status: string } };
          if (l.status !== 'queued' && l.status !== 'running') break;
          await new Promise((resolve) => setTimeout(resolve, 100));
        }
        protects++;
      }
    };

    const scenarios: ({ name: string; protectRunning: boolean } & Awaited<ReturnType<typeof load>>)[] = [];
    const largest = n === SIZES.length - 1;
    for (const protecting of largest ? [false, true] : [false]) {
      let loop: Promise<void> | undefined;
      if (protecting) {
        running = true;
        loop = protectLoop();
        await new Promise((resolve) => setTimeout(resolve, 500));
      }
      for (const [name, target] of [
        [`list 100 of ${size} checkpoints`, list],
        ['show one checkpoint', show],
      ] as const) {
        log(`${name}${protecting ? ', protect running' : ''}: ${SECONDS} s with ${CONNECTIONS} connections`);
        scenarios.push({ name, protectRunning: protecting, ...(await load(target, secret, child.pid!)) });
      }
      running = false;
      await loop;
    }
    child.kill('SIGTERM');
    await new Promise((resolve) => child.on('close', resolve));
    const rate = (name: string) => scenarios.find((s) => s.name.startsWith(name) && !s.protectRunning)!;
    sizes.push({
      checkpoints: size,
      wholeCheckpoints: Math.min(size, WHOLE),
      seedSeconds: round(seedSeconds, 1),
      newestPageInProcess: inProcess,
      listToShowRequestsRatio: round(rate('list').requestsPerSecond / rate('show').requestsPerSecond, 2),
      ...(largest ? { protectsDuringLoad: protects } : {}),
      scenarios,
    });
    await rm(home, { recursive: true, force: true });
  }
  await rm(dir, { recursive: true, force: true });
  const first = sizes[0]!;
  const last = sizes[sizes.length - 1]!;
  process.stdout.write(
    `${JSON.stringify(
      {
        benchmark: 'api',
        date: new Date().toISOString(),
        machine: {
          cpus: cpus().length,
          cpu: cpus()[0]?.model,
          memoryGiB: round(totalmem() / 2 ** 30, 1),
          loadAverageAtEnd: loadavg().map((l) => round(l, 2)),
        },
        node: process.version,
        connections: CONNECTIONS,
        secondsPerScenario: SECONDS,
        newestPageCpuRatio: round(
          last.newestPageInProcess.cpuMsPerPage / first.newestPageInProcess.cpuMsPerPage,
          2,
        ),
        sizes,
      },
      null,
      2,
    )}\n`,
  );
}

await main();
