/** Human-readable renderings of results. */
import type { ErrorInfo } from '../errors.js';
import type { CheckpointView, OperationResult } from '../flows/checkpoint-view.js';

export function formatCheckpoint(c: CheckpointView): string {
  const lines = [
    `checkpoint ${c.id}  ${c.status}  (plan ${c.plan}, provider ${c.provider.name}, created ${c.createdAt})`,
  ];
  const width = Math.max(...c.resources.map((r) => `${r.type}#${r.id}`.length), 8);
  for (const r of c.resources) {
    lines.push(`  ${`${r.type}#${r.id}`.padEnd(width)}  ${r.status}${r.error ? `  ${r.error.message}` : ''}`);
  }
  if (c.error) lines.push(`  error: ${c.error.message}`);
  return lines.join('\n');
}

export function formatResult(result: OperationResult): string {
  const lines = [formatCheckpoint(result.checkpoint)];
  const op = result.operation;
  if (op) {
    const seconds = op.endedAt ? (Date.parse(op.endedAt) - Date.parse(op.startedAt)) / 1000 : 0;
    lines.push(
      `${op.kind} ${op.status} in ${seconds.toFixed(2)}s (${op.tasks.length} hooks, operation ${op.id})`,
    );
    for (const t of op.tasks) {
      if (t.status === 'failed' || t.status === 'cancelled')
        lines.push(`  ${t.status}: ${t.resource} ${t.hook}: ${chain(t.error)}`);
    }
    const upstream = op.tasks.filter((t) => t.status === 'upstream_failed');
    if (upstream.length) {
      lines.push(`  not run (upstream failed): ${upstream.map((t) => `${t.resource} ${t.hook}`).join(', ')}`);
    }
    for (const line of op.log) lines.push(`  log: ${line}`);
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

/** 1536 → "1.5 KiB". */
export function formatBytes(bytes: number): string {
  const units = ['B', 'KiB', 'MiB', 'GiB', 'TiB'];
  let value = bytes;
  let unit = 0;
  while (value >= 1024 && unit < units.length - 1) {
    value /= 1024;
    unit++;
  }
  return unit === 0 ? `${bytes} B` : `${value.toFixed(1)} ${units[unit]}`;
}

/** 1234 → "1.2s". */
export function formatDuration(ms: number): string {
  return ms < 60_000
    ? `${(ms / 1000).toFixed(1)}s`
    : `${Math.floor(ms / 60_000)}m${Math.round((ms % 60_000) / 1000)}s`;
}
