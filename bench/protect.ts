/**
 * `npm run bench:protect`: protect with the `noop` plugin over a resource tree (fan-out 5)
 * of 1k and 10k resources, then list and delete; per-resource overhead (wall and CPU time),
 * bank objects written, peak RSS. Each size runs in its own process. JSON on stdout.
 */
import { execFileSync } from 'node:child_process';
import { mkdtemp, readdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { CheckpointStore } from '../src/checkpoints/store.js';
import { deleteCheckpoint } from '../src/flows/checkpoint-ops.js';
import { protect } from '../src/flows/protect.js';
import type { Plan } from '../src/plans/plan.js';
import { localProvider } from '../src/providers/provider.js';
import { peakRssMiB, round } from './lib.js';

async function countFiles(dir: string): Promise<number> {
  const entries = await readdir(dir, { recursive: true, withFileTypes: true });
  return entries.filter((e) => e.isFile() && !e.name.startsWith('.')).length;
}

async function measure(resources: number) {
  const home = await mkdtemp(join(tmpdir(), 'hoard-bench-protect-'));
  const provider = await localProvider(home);
  const plan: Plan = {
    name: 'bench',
    provider: 'local',
    source: 'bench',
    parameters: {},
    resources: Array.from({ length: resources }, (_, i) => ({
      resource: { type: 'noop', id: `r${i}` },
      children: Array.from({ length: 5 }, (_, k) => 5 * i + k + 1)
        .filter((c) => c < resources)
        .map((c) => `noop#r${c}`),
    })),
  };
  const cpu = process.cpuUsage();
  let t = performance.now();
  const result = await protect(plan, provider);
  const protectMs = performance.now() - t;
  const { user, system } = process.cpuUsage(cpu);
  // CPU time (all threads): on a shared, loaded machine wall time mostly measures the others.
  const protectCpuMs = (user + system) / 1000;
  if (result.checkpoint.status !== 'available') throw new Error(`protect ended ${result.checkpoint.status}`);
  const objects = await countFiles(join(home, 'banks', 'local'));
  t = performance.now();
  const page = await new CheckpointStore(provider.bank).list({ limit: 10 });
  const listMs = performance.now() - t;
  if (page.checkpoints.length !== 1) throw new Error('list did not find the checkpoint');
  t = performance.now();
  await deleteCheckpoint(result.checkpoint.id, provider);
  const deleteMs = performance.now() - t;
  await rm(home, { recursive: true, force: true });
  return {
    resources,
    hooks: resources * 4,
    protectMs: round(protectMs, 1),
    usPerResource: round((protectMs * 1000) / resources, 1),
    protectCpuMs: round(protectCpuMs, 1),
    cpuUsPerResource: round((protectCpuMs * 1000) / resources, 1),
    bankObjectsWritten: objects,
    listMs: round(listMs, 2),
    deleteMs: round(deleteMs, 1),
    peakRssMiB: peakRssMiB(),
  };
}

const self = fileURLToPath(import.meta.url);
if (process.argv[2]) {
  process.stdout.write(`${JSON.stringify(await measure(Number(process.argv[2])))}\n`);
} else {
  const rows = [];
  for (const n of [1000, 10_000]) {
    process.stderr.write(`protect bench: ${n} noop resources\n`);
    rows.push(JSON.parse(execFileSync(process.execPath, [self, String(n)], { encoding: 'utf8' })));
  }
  console.log(
    JSON.stringify({ bank: 'fs (local provider)', plugin: 'noop', tree: 'fan-out 5', rows }, null, 2),
  );
}
