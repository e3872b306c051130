/**
 * `npm run bench:api`: `hoard serve` (a separate process, SQLite catalog) on loopback with
 * 10k checkpoints of one project's plan in its bank, loaded by autocannon from this
 * process: listing checkpoints (a page of 100) and showing one, each with and without a
 * protect running (an fs.directory of ~200 MB, protected again and again). JSON on stdout.
 *
 *   HOARD_BENCH_SECONDS (default 10) per scenario, HOARD_BENCH_CHECKPOINTS (default 10000)
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { cpus, tmpdir, totalmem } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import autocannon from 'autocannon';
import { SqliteCatalog } from '../src/catalog/index.js';
import { newCheckpointId } from '../src/checkpoints/keys.js';
import { type CheckpointMeta, CheckpointStore } from '../src/checkpoints/store.js';
import { localProvider } from '../src/providers/provider.js';
import { round } from './lib.js';

const MAIN = fileURLToPath(new URL('../src/cli/main.js', import.meta.url));
const SECONDS = Number(process.env.HOARD_BENCH_SECONDS ?? 10);
const CHECKPOINTS = Number(process.env.HOARD_BENCH_CHECKPOINTS ?? 10_000);
const CONNECTIONS = 16;

const log = (message: string) => process.stderr.write(`bench:api: ${message}\n`);

async function seed(home: string, planId: string): Promise<string[]> {
  const provider = await localProvider(home);
  const store = new CheckpointStore(provider.bank);
  const ids: string[] = [];
  const start = Date.now() - CHECKPOINTS * 60_000;
  let next = 0;
  const worker = async () => {
    while (next < CHECKPOINTS) {
      const i = next++;
      const created = new Date(start + i * 60_000);
      const id = newCheckpointId(created);
      const meta: CheckpointMeta = {
        version: 1,
        id,
        plan: planId,
        provider: { id: provider.id, name: provider.name },
        status: 'available',
        createdAt: created.toISOString(),
        updatedAt: created.toISOString(),
        resources: [{ type: 'noop', id: 'x', status: 'available' }],
        graph: { resources: [{ type: 'noop', id: 'x', children: [] }] },
        parameters: {},
        operations: [],
      };
      await store.create(meta);
      ids.push(id);
      if (ids.length % 1000 === 0) log(`seeded ${ids.length}/${CHECKPOINTS} checkpoints`);
    }
  };
  await Promise.all(Array.from({ length: 16 }, worker));
  return ids;
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

async function load(url: string, token: string) {
  const result = await autocannon({
    url,
    connections: CONNECTIONS,
    duration: SECONDS,
    headers: { authorization: `Bearer ${token}` },
  });
  return {
    requestsPerSecond: round(result.requests.average, 0),
    p50Ms: result.latency.p50,
    p99Ms: result.latency.p99,
    errors: result.errors + result.non2xx,
    requests: result.requests.total,
  };
}

async function main() {
  const dir = await mkdtemp(join(tmpdir(), 'hoard-bench-api-'));
  const home = join(dir, 'home');
  const catalog = new SqliteCatalog(join(home, 'catalog.sqlite'));
  await catalog.migrate();
  const { secret } = await catalog.createToken({ project: 'bench' });
  const data = join(dir, 'data');
  await mkdir(data, { recursive: true });
  for (let i = 0; i < 50; i++) await writeFile(join(data, `f${i}`), randomBytes(4 * 1024 * 1024));
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
  const t = performance.now();
  const ids = await seed(home, listed.id);
  const seedSeconds = (performance.now() - t) / 1000;
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

  const scenarios = [];
  for (const protecting of [false, true]) {
    let loop: Promise<void> | undefined;
    if (protecting) {
      running = true;
      loop = protectLoop();
      await new Promise((resolve) => setTimeout(resolve, 500));
    }
    for (const [name, target] of [
      [`list 100 of ${CHECKPOINTS} checkpoints`, list],
      ['show one checkpoint', show],
    ] as const) {
      log(`${name}${protecting ? ', protect running' : ''}: ${SECONDS} s with ${CONNECTIONS} connections`);
      scenarios.push({ name, protectRunning: protecting, ...(await load(target, secret)) });
    }
    running = false;
    await loop;
  }
  child.kill('SIGTERM');
  await new Promise((resolve) => child.on('close', resolve));
  await rm(dir, { recursive: true, force: true });
  process.stdout.write(
    `${JSON.stringify(
      {
        benchmark: 'api',
        date: new Date().toISOString(),
        machine: { cpus: cpus().length, cpu: cpus()[0]?.model, memoryGiB: round(totalmem() / 2 ** 30, 1) },
        node: process.version,
        checkpoints: CHECKPOINTS,
        seedSeconds: round(seedSeconds, 1),
        connections: CONNECTIONS,
        secondsPerScenario: SECONDS,
        protectsDuringLoad: protects,
        scenarios,
      },
      null,
      2,
    )}\n`,
  );
}

await main();
