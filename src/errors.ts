/**
 * Hoard's error classes. Every error a user can meet carries a stable `code` (for scripts, the
 * CLI's exit status and the API's error body), a message that names the file, field, task or
 * resource at fault, optional structured `details`, and the original `cause`.
 *
 * This module is a leaf: every layer may import it, including `engine/` and `bank/`.
 */

export type ErrorCode =
  | 'GRAPH_CYCLE'
  | 'GRAPH_INVALID'
  | 'TASK_TIMEOUT'
  | 'TASK_CANCELLED'
  | 'DEADLINE_EXCEEDED'
  | 'JOURNAL_CORRUPT'
  | 'ACTIONS_INVALID'
  | 'PLAN_INVALID'
  | 'PARAMS_INVALID'
  | 'PROVIDER_INVALID'
  | 'PROVIDER_UNKNOWN'
  | 'PLUGIN_UNKNOWN'
  | 'BANK_KEY_INVALID'
  | 'BANK_READ_ONLY'
  | 'BANK_NOT_FOUND'
  | 'BANK_KEY_CONFLICT'
  | 'BANK_ARGUMENT_INVALID'
  | 'LEASE_LOST'
  | 'LEASE_HELD'
  | 'CHECKPOINT_NOT_FOUND'
  | 'CHECKPOINT_STATE'
  | 'HOOK_FAILED'
  | 'HOOK_TIMEOUT'
  | 'STORE_CORRUPT'
  | 'STORE_BUSY'
  | 'STORE_ARGUMENT_INVALID'
  | 'STORE_WRITER_CLOSED'
  | 'RETENTION_INVALID'
  | 'CATALOG_CONFLICT'
  | 'CATALOG_IN_USE'
  | 'CATALOG_INVALID'
  | 'CATALOG_UNAVAILABLE'
  | 'TRIGGER_INVALID'
  | 'USAGE'
  | 'INTERNAL';

export class HoardError extends Error {
  readonly code: ErrorCode;
  readonly details: Record<string, unknown> | undefined;

  constructor(
    code: ErrorCode,
    message: string,
    options?: { details?: Record<string, unknown>; cause?: unknown },
  ) {
    super(message, options?.cause === undefined ? undefined : { cause: options.cause });
    this.name = 'HoardError';
    this.code = code;
    this.details = options?.details;
  }

  /** The body used by `--json` and the API: `{error: {code, message, details}}`. */
  toJSON(): { error: { code: ErrorCode; message: string; details?: Record<string, unknown> } } {
    return {
      error: { code: this.code, message: this.message, ...(this.details ? { details: this.details } : {}) },
    };
  }
}

/** A plain, serialisable view of any thrown value, keeping the cause chain (message, code, stack). */
export interface ErrorInfo {
  name: string;
  message: string;
  code?: string;
  details?: Record<string, unknown>;
  stack?: string;
  cause?: ErrorInfo;
}

export function errorInfo(error: unknown, depth = 0): ErrorInfo {
  if (!(error instanceof Error)) return { name: 'Error', message: String(error) };
  const info: ErrorInfo = { name: error.name, message: error.message };
  const code = (error as { code?: unknown }).code;
  if (typeof code === 'string') info.code = code;
  if (error instanceof HoardError && error.details) info.details = error.details;
  if (error.stack) info.stack = error.stack;
  if (error.cause !== undefined && depth < 8) info.cause = errorInfo(error.cause, depth + 1);
  return info;
}
