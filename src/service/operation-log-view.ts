/**
 * The operation log as the API shows it, and the 202 that announces a new one. Shared by the
 * routes that start operations (routes/checkpoints.ts, routes/operation-logs.ts); it lives
 * here, not in either, so those two do not import each other.
 */
import type { FastifyReply } from 'fastify';
import type { OperationLogRecord } from '../catalog/index.js';

/** The log without its heartbeat; `live` (the running tasks) when given. */
export function operationLogView(log: OperationLogRecord, live?: unknown) {
  const { heartbeatAt: _heartbeat, ...rest } = log;
  return live === undefined ? rest : { ...rest, live };
}

/** `202 Accepted` with the log and where to poll it. */
export function operationAccepted(reply: FastifyReply, log: OperationLogRecord) {
  reply.code(202).header('location', `/v1/${log.project}/operation_logs/${log.id}`);
  return { operationLog: operationLogView(log) };
}
