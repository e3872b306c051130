/**
 * `npm run bench:startup`: wall-clock time of a `hoard` process for the read-only commands
 * (`--version`, `--help`, `providers list`, `checkpoints list`, `checkpoints show`, `ls`,
 * `stats`) against a bare `node -e 0`, on an fs bank of 50 checkpoints made once in a
 * temporary home. The commands run round-robin, each spawned afresh, so that a load that
 * comes and goes on the machine spreads over all of them alike. JSON on stdout: median and
 * p90 in milliseconds, and the median's ratio to `node -e 0`'s. Each process's CPU time (user +
 * system) is reported too, measured by `perf stat -e task-clock` where perf works (to the
 * microsecond) or else `/usr/bin/time` (to 10 ms): on a machine that others load, CPU time
 * moves far less than wall-clock time (the measuring tool's own cost is in `node -e 0`'s
 * figures as in every other).
 *
 *   HOARD_BENCH_RUNS (default 40) runs of each command
 *   HOARD_BENCH_COMPARE: another build's build/src/cli/main.js (an older commit's), whose
 *     commands then run in the same rounds, as "before …" rows: a before/after comparison
 *     under the same load
 */
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { cpus, loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { PassThrough } from 'node:stream';
import { fileURLToPath } from 'node:url';
import { main } from '../src/cli/main.js';
import { median, round } from './lib.js';

const MAIN = fileURLToPath(new URL('../src/cli/main.js', import.meta.url));
const RUNS = Number(process.env.HOARD_BENCH_RUNS ?? 40);
const COMPARE = process.env.HOARD_BENCH_COMPARE;
interface CpuTool {
  tool: string;
  args: string[];
  /** Milliseconds of CPU in the tool's report on stderr. */
  read: (stderr: string) => number | undefined;
}

/** How each process's CPU time is measured: perf's task-clock (to the µs), else GNU time (10 ms), else not. */
const CPU: CpuTool | undefined = (() => {
  const perf: CpuTool = {
    tool: '/usr/bin/perf',
    args: ['stat', '-x,', '-e', 'task-clock'],
    read: (text) => {
      const found = /^([\d.]+),msec,task-clock/m.exec(text);
      return found ? Number(found[1]) : undefined;
    },
  };
  const time: CpuTool = {
    tool: '/usr/bin/time',
    args: ['-f', 'cpu %U %S'],
    read: (text) => {
      const found = /^cpu ([\d.]+) ([\d.]+)$/m.exec(text);
      return found ? (Number(found[1]) + Number(found[2])) * 1000 : undefined;
    },
  };
  for (const tool of [perf, time]) {
    if (!existsSync(tool.tool)) continue;
    const tried = spawnSync(tool.tool, [...tool.args, process.execPath, '-e', '0'], { encoding: 'utf8' });
    if (tried.status === 0 && tool.read(tried.stderr) !== undefined) return tool;
  }
  return undefined;
})();
const CHECKPOINTS = 50;

const log = (message: string) => process.stderr.write(`bench:startup: ${message}\n`);

/** `hoard ARGS…` in this process (the bank is made once; its own start-up is not measured). */
async function hoard(args: string[]): Promise<string> {
  let stdout = '';
  let stderr = '';
  const stdin = new PassThrough();
  stdin.end();
  const code = await main(args, {
    stdout: { write: (text: string) => (stdout += text) },
    stderr: { write: (text: string) => (stderr += text) },
    env: { ...process.env },
    cwd: process.cwd(),
    stdin,
    exit: (code) => {
      throw new Error(`hoard ${args.join(' ')} asked to exit (${code})`);
    },
  });
  if (code !== 0) throw new Error(`hoard ${args.join(' ')} exited ${code}: ${stderr}`);
  return stdout;
}

/** A home whose local provider holds `CHECKPOINTS` checkpoints of a small fs.directory. */
async function makeHome(): Promise<{ home: string; id: string }> {
  const root = await mkdtemp(join(tmpdir(), 'hoard-bench-startup-'));
  const data = join(root, 'data');
  await mkdir(join(data, 'docs'), { recursive: true });
  for (let i = 0; i < 20; i++) await writeFile(join(data, 'docs', `note-${i}.txt`), `note ${i}\n`.repeat(50));
  await writeFile(join(data, 'readme.txt'), 'a small tree\n');
  const plan = join(root, 'plan.yaml');
  await writeFile(plan, `name: bench\nresources:\n  - { type: fs.directory, id: files, path: ${data} }\n`);
  const home = join(root, 'home');
  for (let i = 0; i < CHECKPOINTS; i++) {
    await writeFile(join(data, 'counter.txt'), `${i}\n`);
    await hoard(['--home', home, 'protect', plan, '--json']);
  }
  const listed = JSON.parse(await hoard(['--home', home, 'checkpoints', 'list', '--json']));
  if (listed.checkpoints.length !== CHECKPOINTS) throw new Error('the bank does not hold every checkpoint');
  return { home, id: listed.checkpoints[0].id };
}

function p90(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.ceil(sorted.length * 0.9) - 1)]!;
}

log(`making ${CHECKPOINTS} checkpoints`);
const { home, id } = await makeHome();
const hoardCommands: Record<string, string[]> = {
  '--version': ['--version'],
  '--help': ['--help'],
  'providers list': ['providers', 'list'],
  'checkpoints list': ['checkpoints', 'list'],
  'checkpoints show': ['checkpoints', 'show', id],
  ls: ['ls', id, 'fs.directory#files'],
  stats: ['stats'],
};
const commands: Record<string, string[]> = { 'node -e 0': ['-e', '0'] };
for (const [name, args] of Object.entries(hoardCommands)) {
  commands[`hoard ${name}`] = [MAIN, '--home', home, ...args];
  if (COMPARE) commands[`before: hoard ${name}`] = [COMPARE, '--home', home, ...args];
}
const times: Record<string, number[]> = Object.fromEntries(Object.keys(commands).map((name) => [name, []]));
const cpu: Record<string, number[]> = Object.fromEntries(Object.keys(commands).map((name) => [name, []]));
log(`${RUNS} runs of each of ${Object.keys(commands).length} commands, round-robin`);
for (let run = 0; run < RUNS; run++) {
  for (const [name, args] of Object.entries(commands)) {
    const start = performance.now();
    const child = CPU
      ? spawnSync(CPU.tool, [...CPU.args, process.execPath, ...args], { encoding: 'utf8' })
      : spawnSync(process.execPath, args, { encoding: 'utf8' });
    const ms = performance.now() - start;
    if (child.status !== 0) throw new Error(`${name} exited ${child.status}: ${child.stderr}`);
    times[name]!.push(ms);
    const used = CPU?.read(child.stderr);
    if (used !== undefined) cpu[name]!.push(used);
  }
}
await rm(join(home, '..'), { recursive: true, force: true });

const base = median(times['node -e 0']!);
const cpuBase = CPU ? median(cpu['node -e 0']!) : 0;
const rows = Object.entries(times).map(([command, ms]) => ({
  command,
  medianMs: round(median(ms), 1),
  p90Ms: round(p90(ms), 1),
  ratio: round(median(ms) / base, 2),
  ...(CPU
    ? { cpuMedianMs: round(median(cpu[command]!), 1), cpuRatio: round(median(cpu[command]!) / cpuBase, 2) }
    : {}),
}));
console.log(
  JSON.stringify(
    {
      node: process.version,
      cpus: cpus().length,
      loadAverageAtEnd: loadavg().map((l) => round(l, 2)),
      runs: RUNS,
      cpuMeasuredBy: CPU ? `${CPU.tool} ${CPU.args.join(' ')}` : null,
      ...(COMPARE ? { compare: COMPARE } : {}),
      checkpoints: CHECKPOINTS,
      bank: 'fs (local provider), one fs.directory of 22 small files',
      rows,
    },
    null,
    2,
  ),
);
