/**
 * Makespan: how short Hoard's scheduler makes a run that has real constraints.
 *
 * A seeded suite of random DAGs with task durations, exclusive resources (devices) and a
 * concurrency limit, each run on the simulated clock, once with Hoard's policy (priority,
 * then critical path) and once with plain FIFO. Each makespan is divided by a lower bound
 * no schedule can beat: the longest of the critical path, total work ÷ concurrency, and
 * each exclusive resource's total work.
 */
import { runGraph, SimulatedClock, TaskGraph } from '../src/engine/index.js';
import { round, seeded } from './lib.js';

export interface Instance {
  name: string;
  concurrency: number;
  durations: number[];
  /** Device each task uses, or -1. */
  device: number[];
  edges: [number, number][];
}

export function randomInstance(seed: number): Instance {
  const rnd = seeded(seed);
  const pick = <T>(xs: T[]): T => xs[Math.floor(rnd() * xs.length)]!;
  const n = 50 + Math.floor(rnd() * 250);
  const concurrency = pick([2, 4, 8, 16]);
  const devices = pick([0, 2, 3, 5]);
  const deviceShare = devices ? 0.1 + rnd() * 0.4 : 0;
  const maxPreds = pick([1, 2, 3, 4]);
  const window = pick([5, 20, 100]);
  const durations: number[] = [];
  const device: number[] = [];
  const edges: [number, number][] = [];
  for (let i = 0; i < n; i++) {
    // Mostly short tasks with a long tail, like hooks next to a large dump.
    durations.push(rnd() < 0.1 ? 100 + Math.floor(rnd() * 900) : 1 + Math.floor(rnd() * 100));
    device.push(devices && rnd() < deviceShare ? Math.floor(rnd() * devices) : -1);
    const preds = Math.floor(rnd() * (maxPreds + 1));
    const seen = new Set<number>();
    for (let k = 0; k < preds && i > 0; k++) {
      const p = Math.max(0, i - 1 - Math.floor(rnd() * window));
      if (!seen.has(p)) {
        seen.add(p);
        edges.push([p, i]);
      }
    }
  }
  return { name: `seed-${seed}`, concurrency, durations, device, edges };
}

export function lowerBound({ concurrency, durations, device, edges }: Instance): number {
  const n = durations.length;
  const finish = durations.slice();
  const succ: number[][] = Array.from({ length: n }, () => []);
  for (const [a, b] of edges) succ[a]!.push(b);
  // Edges always point from a lower to a higher index, so index order is topological.
  const earliest = new Array<number>(n).fill(0);
  for (let i = 0; i < n; i++) {
    finish[i] = earliest[i]! + durations[i]!;
    for (const s of succ[i]!) earliest[s] = Math.max(earliest[s]!, finish[i]!);
  }
  const criticalPath = Math.max(...finish);
  const total = durations.reduce((a, b) => a + b, 0);
  const perDevice = new Map<number, number>();
  device.forEach((d, i) => {
    if (d >= 0) perDevice.set(d, (perDevice.get(d) ?? 0) + durations[i]!);
  });
  return Math.max(criticalPath, total / concurrency, ...perDevice.values());
}

export async function makespan(
  instance: Instance,
  scheduling: 'planned' | 'priority' | 'fifo',
): Promise<number> {
  const g = new TaskGraph();
  instance.durations.forEach((ms, i) => {
    const d = instance.device[i]!;
    g.add({
      id: `t${i}`,
      estimate: ms,
      ...(d >= 0 ? { uses: [`device${d}`] } : {}),
      run: (ctx) => ctx.sleep(ms),
    });
  });
  for (const [a, b] of instance.edges) g.edge(`t${a}`, `t${b}`);
  const clock = new SimulatedClock();
  const result = await clock.run(runGraph(g, { clock, concurrency: instance.concurrency, scheduling }));
  if (result.status !== 'succeeded') throw new Error(`${instance.name}: run ${result.status}`);
  return result.endedAt - result.startedAt;
}

export async function makespanSuite(count = 60, firstSeed = 1) {
  const rows: {
    name: string;
    tasks: number;
    bound: number;
    hoard: number;
    criticalPath: number;
    fifo: number;
  }[] = [];
  for (let seed = firstSeed; seed < firstSeed + count; seed++) {
    const instance = randomInstance(seed);
    const bound = lowerBound(instance);
    const hoard = await makespan(instance, 'planned');
    const criticalPath = await makespan(instance, 'priority');
    const fifo = await makespan(instance, 'fifo');
    rows.push({ name: instance.name, tasks: instance.durations.length, bound, hoard, criticalPath, fifo });
  }
  const mean = (xs: number[]) => xs.reduce((a, b) => a + b, 0) / xs.length;
  const summary = (key: 'hoard' | 'criticalPath' | 'fifo') => {
    const ratios = rows.map((r) => r[key] / r.bound);
    return { meanRatio: round(mean(ratios), 4), maxRatio: round(Math.max(...ratios), 4) };
  };
  return {
    instances: rows.length,
    method:
      'makespan ÷ max(critical path, total work ÷ concurrency, busiest device); hoard = default "planned" scheduling, criticalPath = "priority" alone',
    hoard: summary('hoard'),
    criticalPath: summary('criticalPath'),
    fifo: summary('fifo'),
    hoardWorseThanFifo: rows.filter((r) => r.hoard > r.fifo).map((r) => ({ ...r })),
    criticalPathWorseThanFifo: rows.filter((r) => r.criticalPath > r.fifo).length,
    worst: rows
      .map((r) => ({ ...r, ratio: round(r.hoard / r.bound, 4) }))
      .sort((a, b) => b.ratio - a.ratio)
      .slice(0, 5),
  };
}

if (process.argv[1]?.endsWith('engine-makespan.js')) {
  console.log(JSON.stringify(await makespanSuite(Number(process.argv[2] ?? 60)), null, 2));
}
