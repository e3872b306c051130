/** Human-readable renderings of results. */
import type { ErrorInfo } from '../errors.js';
import type { CheckpointView, OperationResult } from '../flows/checkpoint-view.js';
import { withoutResource } from '../flows/operation.js';

export function formatCheckpoint(c: CheckpointView): string {
  const lines = [
    `checkpoint ${c.id}  ${c.status}  (plan ${c.plan}, provider ${c.provider.name}, created ${c.createdAt})`,
  ];
  const width = Math.max(...c.resources.map((r) => `${r.type}#${r.id}`.length), 8);
  for (const r of c.resources) {
    const key = `${r.type}#${r.id}`;
    lines.push(
      `  ${key.padEnd(width)}  ${r.status}${r.error ? `  ${r.error.message.startsWith(`${key} `) ? r.error.message.slice(key.length + 1) : r.error.message}` : ''}`,
    );
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
        lines.push(
          `  ${t.status}: ${t.resource} ${t.hook}: ${withoutResource(chain(t.error), t.resource, t.hook)}`,
        );
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
