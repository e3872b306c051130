/**
 * `npm run bench:engine`: engine overhead against p-graph, async.auto and a bare Kahn loop,
 * then makespan against FIFO. Progress goes to stderr, one JSON document to stdout.
 */
import { execFileSync } from 'node:child_process';
import { cpus, totalmem } from 'node:os';
import { fileURLToPath } from 'node:url';
import { makespanSuite } from './engine-makespan.js';
import { round } from './lib.js';

const sizes = (process.env.BENCH_SIZES ?? '1000,10000,50000').split(',').map(Number);
const concurrencies = [0, 16];
const overheadScript = fileURLToPath(new URL('./engine-overhead.js', import.meta.url));

interface Cell {
  impl: string;
  resources: number;
  tasks: number;
  concurrency: number | 'unlimited';
  ms: number;
  usPerTask: number;
  peakRssMiB: number;
}

function measure(impl: string, resources: number, concurrency: number): Cell {
  process.stderr.write(
    `engine overhead: ${impl}, ${resources} resources, concurrency ${concurrency || 'unlimited'}\n`,
  );
  const out = execFileSync(
    process.execPath,
    ['--expose-gc', overheadScript, impl, String(resources), String(concurrency)],
    {
      encoding: 'utf8',
      maxBuffer: 1 << 20,
    },
  );
  return JSON.parse(out.trim()) as Cell;
}

const overhead: Cell[] = [];
const ratios = [];
for (const resources of sizes) {
  for (const concurrency of concurrencies) {
    const cell = (impl: string) => {
      const c = measure(impl, resources, concurrency);
      overhead.push(c);
      return c;
    };
    const hoard = cell('hoard');
    const pGraph = cell('p-graph');
    const bare = cell('bare-kahn');
    // async.auto rescans every task on each completion: quadratic, so small graphs only.
    const auto = resources <= 1000 ? cell('async.auto') : undefined;
    ratios.push({
      resources,
      tasks: hoard.tasks,
      concurrency: hoard.concurrency,
      pGraphOverHoard: round(pGraph.ms / hoard.ms, 2),
      hoardOverBareLoop: round(hoard.ms / bare.ms, 2),
      ...(auto ? { asyncAutoOverHoard: round(auto.ms / hoard.ms, 2) } : {}),
    });
  }
}

process.stderr.write('makespan: 200 seeded random DAGs on the simulated clock\n');
const makespan = await makespanSuite(200);

console.log(
  JSON.stringify(
    {
      machine: {
        cpus: cpus().length,
        cpu: cpus()[0]?.model,
        memoryGiB: round(totalmem() / 2 ** 30, 1),
        node: process.version,
      },
      overhead: {
        graph: 'hook graph of a fan-out-5 resource tree, 4 no-op async tasks per resource',
        cells: overhead,
        ratios,
      },
      makespan,
    },
    null,
    2,
  ),
);
