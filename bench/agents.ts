/**
 * `npm run bench:agents` (SPEC §12, issue 14): what carrying hooks to agents over BullMQ costs.
 *
 * (a) dispatch: a chain of noop resources run one hook at a time (engine concurrency 1), all on
 *     one host served by one real `hoard agent` process, against the same chain run in process;
 *     per-hook time from the engine's own task events (median, p99), and its parts as the
 *     coordinator sees them;
 * (b) a 1,000-resource noop plan (tree, fan-out 5) over 1, 2 and 4 agents of one host (each its
 *     own process and home), against the same plan in process; wall time, and the CPU each party
 *     used over the run (coordinator, agents, Redis), which says who is the limit;
 * (c) an fs.directory plan of four trees on four hosts (one agent each) against the same plan in
 *     one process; BENCH_AGENTS_MB sets each tree's size (default 250).
 *
 * Redis: BENCH_REDIS_URL (default redis://127.0.0.1:6379), keys under a random prefix removed at
 * the end. BENCH_AGENTS_CONCURRENCY: hooks at once per agent (default 1). JSON on stdout, progress
 * on stderr.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { mkdir, mkdtemp, open, rm, writeFile } from 'node:fs/promises';
import { cpus, loadavg, tmpdir, totalmem } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { EngineEvent } from '../src/engine/index.js';
import { protect } from '../src/flows/protect.js';
import type { Plan } from '../src/plans/plan.js';
import { loadProviders, type Provider } from '../src/providers/provider.js';
import { connectQueue } from '../src/queue/connection.js';
import { QueueHookTransport } from '../src/queue/hooks.js';
import { randomStream, textBytes } from './data-set.js';
import { median, round, seeded } from './lib.js';

const REDIS = process.env.BENCH_REDIS_URL ?? 'redis://127.0.0.1:6379';
const PREFIX = `hoard-bench-agents-${randomBytes(4).toString('hex')}`;
const MAIN = fileURLToPath(new URL('../src/cli/main.js', import.meta.url));
const TREE_MB = Number(process.env.BENCH_AGENTS_MB ?? 250);
const CHAIN = Number(process.env.BENCH_AGENTS_CHAIN ?? 100);
const ROUNDS = Number(process.env.BENCH_AGENTS_ROUNDS ?? 3);
/** Hooks at once per agent (`hoard agent --concurrency`). */
const CONCURRENCY = Number(process.env.BENCH_AGENTS_CONCURRENCY ?? 1);
const settings = { url: REDIS, prefix: PREFIX };
const say = (line: string) => process.stderr.write(`agents bench: ${line}\n`);

const root = await mkdtemp(join(tmpdir(), 'hoard-bench-agents-'));
let bankSerial = 0;

/** A home whose provider `bench` keeps its bank at `bank`. */
async function home(name: string, bank: string): Promise<string> {
  const dir = join(root, 'homes', name);
  await mkdir(join(dir, 'providers'), { recursive: true });
  await writeFile(
    join(dir, 'providers', 'bench.conf'),
    `[provider]\nname = bench\nid = 0d3c2b1a-5e4f-4a6b-8c7d-9e0f1a2b3c4d\nbank = fs\nplugin = noop\nplugin = fs.directory\n[fs]\npath = ${bank}\n`,
  );
  return dir;
}

async function providerAt(bank: string): Promise<Provider> {
  const { providers } = await loadProviders(await home(`coordinator-${bankSerial++}`, bank));
  return providers.find((p) => p.name === 'bench')!;
}

interface Agent {
  child: ChildProcess;
  exited: Promise<void>;
}

/** A real `hoard agent --host HOST` in its own process and home, once it serves. */
async function startAgent(host: string, name: string, bank: string): Promise<Agent> {
  const child = spawn(
    process.execPath,
    [MAIN, '--json', 'agent', '--host', host, '--concurrency', String(CONCURRENCY)],
    {
      env: {
        ...process.env,
        HOARD_HOME: await home(name, bank),
        HOARD_QUEUE_URL: REDIS,
        HOARD_QUEUE_PREFIX: PREFIX,
      },
      stdio: ['ignore', 'pipe', 'ignore'],
    },
  );
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  let out = '';
  await new Promise<void>((resolve, reject) => {
    child.stdout!.on('data', (d) => {
      out += d;
      if (out.includes('\n') || out.trim().endsWith('}')) resolve();
    });
    void exited.then(() => reject(new Error(`agent ${name} exited before it served`)));
  });
  return { child, exited };
}

async function stopAgents(agents: Agent[]): Promise<void> {
  for (const a of agents) a.child.kill('SIGTERM');
  await Promise.all(agents.map((a) => a.exited));
}

/** User + system CPU seconds of a process, from /proc (Linux). */
function cpuSeconds(pid: number): number {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return (Number(fields[11]) + Number(fields[12])) / 100; // utime, stime in clock ticks (100 Hz)
}

async function redisCpu(): Promise<number> {
  const redis = await connectQueue(settings);
  try {
    const info = await redis.info('cpu');
    const get = (k: string) => Number(new RegExp(`${k}:([0-9.]+)`).exec(info)?.[1] ?? 0);
    return get('used_cpu_user') + get('used_cpu_sys');
  } finally {
    redis.disconnect();
  }
}

function noopPlan(name: string, count: number, shape: 'chain' | 'tree', host?: string): Plan {
  return {
    name,
    provider: 'bench',
    source: 'bench',
    parameters: {},
    resources: Array.from({ length: count }, (_, i) => ({
      resource: { type: 'noop', id: `r${i}`, ...(host ? { host } : {}) },
      children: (shape === 'chain' ? [i + 1] : Array.from({ length: 5 }, (_, k) => 5 * i + k + 1))
        .filter((c) => c < count)
        .map((c) => `noop#r${c}`),
    })),
  };
}

function percentile(values: number[], p: number): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)]!;
}

/** Protects `plan`, timing each task from `running` to its end by the engine's own events. */
async function timed(plan: Plan, provider: Provider, transport?: QueueHookTransport, concurrency?: number) {
  const began = new Map<string, number>();
  const durations: number[] = [];
  const onEvent = (e: EngineEvent) => {
    if (e.type !== 'state') return;
    if (e.state === 'running') began.set(e.task, e.at);
    else if (e.state === 'succeeded' && began.has(e.task)) durations.push(e.at - began.get(e.task)!);
  };
  const cpu = process.cpuUsage();
  const t = performance.now();
  const result = await protect(plan, provider, {
    onEvent,
    ...(transport ? { transport } : {}),
    ...(concurrency ? { concurrency } : {}),
  });
  const ms = performance.now() - t;
  const used = process.cpuUsage(cpu);
  if (result.checkpoint.status !== 'available') {
    const failed = result.operation?.tasks.find((t) => t.status === 'failed');
    throw new Error(
      `${plan.name}: protect ended ${result.checkpoint.status}: ${JSON.stringify(failed?.error ?? result.checkpoint)}`,
    );
  }
  return { ms, durations, coordinatorCpuS: (used.user + used.system) / 1e6 };
}

/** (a) Per-hook dispatch overhead: a chain, one hook at a time, remote against local. */
async function dispatch() {
  const bank = join(root, 'bank-dispatch');
  const provider = await providerAt(bank);
  const agents = [await startAgent('d', 'dispatch-agent', bank)];
  const transport = await QueueHookTransport.open(settings);
  try {
    // Warm-up: opening the host's queue and the first connections are not per hook.
    await timed(noopPlan('warm', 5, 'chain', 'd'), provider, transport, 1);
    await timed(noopPlan('warm-local', 5, 'chain'), provider, undefined, 1);
    const remote: number[] = [];
    const local: number[] = [];
    const remoteRuns: number[] = [];
    const localRuns: number[] = [];
    for (let k = 0; k < ROUNDS; k++) {
      // Interleaved, so that the machine's load meets both alike.
      const r = await timed(noopPlan(`chain-remote-${k}`, CHAIN, 'chain', 'd'), provider, transport, 1);
      const l = await timed(noopPlan(`chain-local-${k}`, CHAIN, 'chain'), provider, undefined, 1);
      remote.push(...r.durations);
      local.push(...l.durations);
      remoteRuns.push(r.ms);
      localRuns.push(l.ms);
      say(`dispatch round ${k + 1}: remote ${round(r.ms)} ms, local ${round(l.ms)} ms`);
    }
    const hooks = CHAIN * 4;
    return {
      shape: `chain of ${CHAIN} noop resources (${hooks} hooks), engine concurrency 1, ${ROUNDS} rounds interleaved`,
      hookMs: {
        remote: { median: round(median(remote), 2), p99: round(percentile(remote, 99), 2), n: remote.length },
        local: { median: round(median(local), 3), p99: round(percentile(local, 99), 3), n: local.length },
      },
      overheadPerHookMs: {
        median: round(median(remote) - median(local), 2),
        p99: round(percentile(remote, 99) - percentile(local, 99), 2),
      },
      protectMs: { remote: remoteRuns.map((v) => round(v, 0)), local: localRuns.map((v) => round(v, 0)) },
      wallPerHookMs: {
        remote: round(median(remoteRuns) / hooks, 2),
        local: round(median(localRuns) / hooks, 3),
      },
    };
  } finally {
    await transport.close();
    await stopAgents(agents);
  }
}

/** (b) A 1,000-resource noop tree over 1, 2 and 4 agents of one host, against in process. */
async function scaling() {
  const resources = Number(process.env.BENCH_AGENTS_RESOURCES ?? 1000);
  const rows: Record<string, unknown>[] = [];
  const bank = join(root, 'bank-scaling');
  const provider = await providerAt(bank);
  const local = [];
  for (let i = 0; i < 2; i++)
    local.push(await timed(noopPlan(`tree-local-${i}`, resources, 'tree'), provider));
  const best = local.sort((a, b) => a.ms - b.ms)[0]!;
  rows.push({
    agents: 0,
    where: 'in process',
    ms: round(best.ms, 0),
    coordinatorCpuS: round(best.coordinatorCpuS, 2),
  });
  say(`tree in process: ${round(best.ms)} ms`);
  for (const n of [1, 2, 4]) {
    const agents = await Promise.all(
      Array.from({ length: n }, (_, i) => startAgent('t', `tree-agent-${n}-${i}`, bank)),
    );
    const transport = await QueueHookTransport.open(settings);
    try {
      await timed(noopPlan(`tree-warm-${n}`, 10, 'tree', 't'), provider, transport);
      const runs = [];
      for (let k = 0; k < 2; k++) {
        const agentCpu0 = agents.map((a) => cpuSeconds(a.child.pid!));
        const redis0 = await redisCpu();
        const run = await timed(noopPlan(`tree-${n}-${k}`, resources, 'tree', 't'), provider, transport);
        const redis1 = await redisCpu();
        const agentCpu = agents.map((a, i) => cpuSeconds(a.child.pid!) - agentCpu0[i]!);
        runs.push({ ...run, agentCpu, redisCpuS: redis1 - redis0 });
      }
      const r = runs.sort((a, b) => a.ms - b.ms)[0]!;
      const seconds = r.ms / 1000;
      rows.push({
        agents: n,
        ms: round(r.ms, 0),
        runsMs: runs.map((x) => round(x.ms, 0)),
        perHookMs: round(r.ms / (resources * 4), 3),
        coordinatorCpuS: round(r.coordinatorCpuS, 2),
        coordinatorBusy: round(r.coordinatorCpuS / seconds, 2),
        agentCpuS: r.agentCpu.map((v) => round(v, 2)),
        agentBusy: r.agentCpu.map((v) => round(v / seconds, 2)),
        redisCpuS: round(r.redisCpuS, 2),
        redisBusy: round(r.redisCpuS / seconds, 2),
      });
      say(`tree over ${n} agent(s): ${round(r.ms)} ms`);
    } finally {
      await transport.close();
      await stopAgents(agents);
    }
  }
  return { shape: `tree of ${resources} noop resources (fan-out 5, ${resources * 4} hooks), one host`, rows };
}

/** A tree of about `mb` MB: a third text files, the rest incompressible files, seeded. */
async function makeTree(dir: string, mb: number, seed: number): Promise<{ files: number; bytes: number }> {
  const rnd = seeded(seed);
  const random = randomStream(seed);
  let bytes = 0;
  let files = 0;
  const target = mb * 1024 * 1024;
  while (bytes < target) {
    const text = rnd() < 0.33;
    const size = Math.min(target - bytes, Math.floor(16 * 1024 + rnd() * 2 * 1024 * 1024));
    const path = join(dir, `d${files % 16}`, `f${files}.${text ? 'txt' : 'bin'}`);
    await mkdir(join(path, '..'), { recursive: true });
    const handle = await open(path, 'w');
    await handle.write(text ? textBytes(rnd, size) : random(size));
    await handle.close();
    bytes += size;
    files++;
  }
  return { files, bytes };
}

/** (c) Four fs.directory trees on four hosts (an agent each) against one process. */
async function directories() {
  const trees: { dir: string; files: number; bytes: number }[] = [];
  for (let i = 0; i < 4; i++) {
    const dir = join(root, `tree-${i}`);
    trees.push({ dir, ...(await makeTree(dir, TREE_MB, 1000 + i)) });
  }
  const plan = (hosts: boolean): Plan => ({
    name: hosts ? 'dirs-agents' : 'dirs-local',
    provider: 'bench',
    source: 'bench',
    parameters: {},
    resources: trees.map((t, i) => ({
      resource: {
        type: 'fs.directory',
        id: `t${i}`,
        extra: { path: t.dir },
        ...(hosts ? { host: `f${i}` } : {}),
      },
      children: [],
    })),
  });
  const runs: { where: string; ms: number; coordinatorCpuS: number; agentCpuS?: number[] }[] = [];
  // In process, then on agents, then again each: every run into a fresh bank.
  for (const pass of [0, 1]) {
    for (const where of pass === 0 ? ['in process', 'agents'] : ['agents', 'in process']) {
      const bank = join(root, `bank-dirs-${where === 'agents' ? 'a' : 'l'}-${pass}`);
      const provider = await providerAt(bank);
      if (where === 'in process') {
        const r = await timed(plan(false), provider);
        runs.push({ where, ms: r.ms, coordinatorCpuS: r.coordinatorCpuS });
      } else {
        const agents = await Promise.all(
          [0, 1, 2, 3].map((i) => startAgent(`f${i}`, `dirs-${pass}-${i}`, bank)),
        );
        const transport = await QueueHookTransport.open(settings);
        try {
          const cpu0 = agents.map((a) => cpuSeconds(a.child.pid!));
          const r = await timed(plan(true), provider, transport);
          const agentCpuS = agents.map((a, i) => round(cpuSeconds(a.child.pid!) - cpu0[i]!, 2));
          runs.push({ where, ms: r.ms, coordinatorCpuS: r.coordinatorCpuS, agentCpuS });
        } finally {
          await transport.close();
          await stopAgents(agents);
        }
      }
      await rm(bank, { recursive: true, force: true });
      say(`four trees, ${where}, round ${pass + 1}: ${round(runs.at(-1)!.ms)} ms`);
    }
  }
  const med = (where: string) => median(runs.filter((r) => r.where === where).map((r) => r.ms));
  return {
    trees: trees.map((t) => ({ files: t.files, mb: round(t.bytes / 1e6, 1) })),
    treeMB: TREE_MB,
    runs: runs.map((r) => ({ ...r, ms: round(r.ms, 0), coordinatorCpuS: round(r.coordinatorCpuS, 2) })),
    medianMs: { inProcess: round(med('in process'), 0), agents: round(med('agents'), 0) },
    agentsOverInProcess: round(med('agents') / med('in process'), 2),
  };
}

try {
  const only = process.env.BENCH_AGENTS_ONLY?.split(',');
  const want = (part: string) => !only || only.includes(part);
  const out: Record<string, unknown> = {
    machine: {
      cpus: cpus().length,
      memGiB: round(totalmem() / 2 ** 30, 0),
      node: process.version,
      loadavgAtStart: loadavg().map((v) => round(v, 2)),
    },
    redis: REDIS.replace(/\/\/[^@]*@/, '//***@'),
    agentConcurrency: CONCURRENCY,
  };
  if (want('dispatch')) out.dispatch = await dispatch();
  if (want('scaling')) out.scaling = await scaling();
  if (want('directories')) out.directories = await directories();
  out.loadavgAtEnd = loadavg().map((v) => round(v, 2));
  console.log(JSON.stringify(out, null, 2));
} finally {
  const redis = await connectQueue(settings);
  const keys = await redis.keys(`${PREFIX}:*`);
  for (let i = 0; i < keys.length; i += 1000) await redis.del(...keys.slice(i, i + 1000));
  redis.disconnect();
  await rm(root, { recursive: true, force: true });
}
