/** Human-readable renderings of results. */
import type { ErrorInfo } from '../errors.js';
import type { CheckpointView, OperationResult } from '../flows/checkpoint-view.js';
import type { OperationLog } from '../flows/operation.js';
import { withoutResource } from '../flows/vocabulary.js';
import type { ResourceStats } from '../plugins/sdk.js';

/** Lines of a hook's output shown in human output; `--json` has the whole kept end (64 KiB). */
const OUTPUT_LINES = 20;

export function formatCheckpoint(c: CheckpointView): string {
  const lines = [
    `checkpoint ${c.id}  ${c.status}  (plan ${c.planName ? `${c.planName} [id ${c.plan}]` : c.plan}, provider ${c.provider.name}, created ${c.createdAt})`,
  ];
  const width = Math.max(...c.resources.map((r) => `${r.type}#${r.id}`.length), 8);
  // A resource's status is what its protect got; once the checkpoint is deleted, so is its data.
  const statusOf = (r: CheckpointView['resources'][number]) =>
    c.status === 'deleted' ? 'deleted' : r.status;
  const statusWidth = Math.max(...c.resources.map((r) => statusOf(r).length), 0);
  for (const r of c.resources) {
    const key = `${r.type}#${r.id}`;
    lines.push(
      `  ${key.padEnd(width)}  ${statusOf(r).padEnd(statusWidth)}  ${formatStats(r.stats)}${r.error ? `  ${r.error.message.startsWith(`${key} `) ? r.error.message.slice(key.length + 1) : r.error.message}` : ''}`,
    );
  }
  lines.push(`  ${'total'.padEnd(width)}  ${''.padEnd(statusWidth)}  ${formatStats(c.stats)}`);
  if (c.error) lines.push(`  error: ${c.error.message}`);
  return lines.join('\n');
}

/**
 * `3 files, 1.2 MiB (400 KiB new, 120 KiB stored) in 2.1 s`; only the time for a resource that
 * holds no data (an exec.task), `-` for a checkpoint protected before statistics were kept.
 */
export function formatStats(stats: ResourceStats | undefined): string {
  if (!stats) return '-';
  const time = `in ${formatDuration(stats.durationMs)}`;
  if (stats.files === 0 && stats.bytes === 0 && stats.newBytes === 0 && stats.storedBytes === 0) return time;
  const files = `${stats.files} file${stats.files === 1 ? '' : 's'}`;
  return `${files}, ${formatBytes(stats.bytes)} (${formatBytes(stats.newBytes)} new, ${formatBytes(stats.storedBytes)} stored) ${time}`;
}

/** Bytes in binary units, three significant digits: `512 B`, `1.21 MiB`, `932 GiB`. */
export function formatBytes(bytes: number): string {
  const units = ['B', 'KiB', 'MiB', 'GiB', 'TiB', 'PiB'];
  let value = bytes;
  let unit = 0;
  while (value >= 1024 && unit < units.length - 1) {
    value /= 1024;
    unit++;
  }
  if (unit === 0) return `${bytes} B`;
  const shown = value >= 100 ? value.toFixed(0) : value >= 10 ? value.toFixed(1) : value.toFixed(2);
  return `${shown} ${units[unit]}`;
}

export function formatDuration(ms: number): string {
  if (ms < 1000) return `${ms} ms`;
  if (ms < 60_000) return `${(ms / 1000).toFixed(1)} s`;
  const minutes = Math.floor(ms / 60_000);
  return `${minutes} min ${Math.round((ms % 60_000) / 1000)} s`;
}

/** Where hooks of resources with a host ran (SPEC §12): one line per such resource. */
export function formatHosts(op: OperationLog): string[] {
  const byResource = new Map<string, { host: string; agents: Set<string> }>();
  for (const t of op.tasks) {
    if (t.host === undefined) continue;
    let entry = byResource.get(t.resource);
    if (!entry) {
      entry = { host: t.host, agents: new Set() };
      byResource.set(t.resource, entry);
    }
    if (t.agent) entry.agents.add(t.agent);
  }
  return [...byResource].map(
    ([resource, { host, agents }]) =>
      `  ${resource} on host ${host} (${agents.size ? `agent ${[...agents].join(', ')}` : 'no agent ran its hooks'})`,
  );
}

/** The output hooks' commands wrote (exec.task), the last lines of each stream. */
export function formatOutputs(op: OperationLog): string[] {
  const lines: string[] = [];
  for (const t of op.tasks) {
    for (const stream of ['stdout', 'stderr'] as const) {
      const text = t[stream];
      if (!text) continue;
      const all = text.replace(/\n$/, '').split('\n');
      const shown = all.slice(-OUTPUT_LINES);
      const cut = all.length > shown.length ? ` (last ${shown.length} lines; --json has up to 64 KiB)` : '';
      lines.push(`  ${stream} of ${t.resource} ${t.hook}${cut}:`);
      for (const line of shown) lines.push(`    ${line}`);
    }
  }
  return lines;
}

export function formatResult(result: OperationResult): string {
  const lines = [formatCheckpoint(result.checkpoint)];
  const op = result.operation;
  if (op) {
    const ms = op.endedAt ? Date.parse(op.endedAt) - Date.parse(op.startedAt) : 0;
    lines.push(
      `${op.kind} ${op.status} in ${formatDuration(ms)} (${op.tasks.length} hooks, operation ${op.id})`,
    );
    for (const t of op.tasks) {
      if (t.status === 'failed' || t.status === 'cancelled')
        lines.push(
          `  ${t.status}: ${t.resource} ${t.hook}: ${withoutResource(chain(t.error), t.resource, t.hook)}`,
        );
    }
    const upstream = op.tasks.filter((t) => t.status === 'upstream_failed');
    if (upstream.length) {
      lines.push(`  not run (upstream failed): ${upstream.map((t) => `${t.resource} ${t.hook}`).join(', ')}`);
    }
    lines.push(...formatHosts(op));
    for (const line of op.log) lines.push(`  log: ${line}`);
    lines.push(...formatOutputs(op));
  }
  const gc = result.gc;
  if (gc) {
    lines.push(
      'skipped' in gc
        ? `garbage collection skipped: ${gc.skipped} (run "hoard gc" later)`
        : `garbage collection: ${gc.packsRemoved} packs removed, ${gc.packsRewritten} rewritten, ${gc.bytesFreed} bytes freed`,
    );
  }
  return lines.join('\n');
}

function chain(error: ErrorInfo | undefined): string {
  if (!error) return 'unknown error';
  return error.cause && !error.message.includes(error.cause.message)
    ? `${error.message} (caused by: ${chain(error.cause)})`
    : error.message;
}

/**
 * Rows under a header, each column as wide as its widest cell; the columns in `right` are
 * aligned right (numbers), the last one is not padded.
 */
export function columns(header: string[], rows: string[][], options: { right?: number[] } = {}): string[] {
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? '').length)));
  const line = (cells: string[]) =>
    cells
      .map((cell, i) =>
        options.right?.includes(i)
          ? cell.padStart(widths[i]!)
          : i === cells.length - 1
            ? cell
            : cell.padEnd(widths[i]!),
      )
      .join('  ');
  return [line(header), ...rows.map(line)];
}
