/**
 * Hoard's error classes. Every error a user can meet carries a stable `code` (for scripts, the
 * CLI's exit status and the API's error body), a message that names the file, field, task or
 * resource at fault, optional structured `details`, and the original `cause`.
 *
 * This module is a leaf: every layer may import it, including `engine/` and `bank/`.
 */

/** What a code means to the CLI and to the API; every code has one. */
export interface ErrorSpec {
  /** The CLI's exit status: EXIT.FAILED, USAGE, DAMAGED or BUSY (INTERRUPTED comes from the signal). */
  exit: 1 | 2 | 3 | 4;
  /** The API's HTTP status. */
  http: number;
  /** One sentence: what happened, for docs/errors.md. */
  meaning: string;
}

/** The CLI's exit statuses (docs/errors.md). */
export const EXIT = {
  OK: 0,
  /** The operation ran and failed (a hook, a timeout, a lost lease, a bug). */
  FAILED: 1,
  /** Bad usage or bad input: nothing was run, nothing written. */
  USAGE: 2,
  /** The repository (bank, content store, a checkpoint's record, a journal) is damaged or unreadable. */
  DAMAGED: 3,
  /** The repository is busy: another process holds the lease or store this needs. */
  BUSY: 4,
  /** Interrupted (Ctrl-C / SIGINT): the run was cancelled and its owed teardowns ran. */
  INTERRUPTED: 130,
} as const;

/*
 * HTTP statuses: a caller's mistake is 400 (404 for an unknown id); a state that forbids the
 * request, or another process holding what it needs, is 409 (try again later or change the
 * state). Damaged stored data is 422: the request was understood and is well formed, but
 * what it names cannot be processed; it is neither the caller's mistake (400) nor a fault
 * in Hoard's code (500, kept for those), and retrying does not help, which a 5xx would
 * invite. A plugin's command or resource failing is 502 and timing out 504 (Hoard acts as a
 * gateway to them); an unavailable catalog database 503. A bank's server that refuses for good
 * (credentials, bucket) or lacks a feature Hoard needs is 502 too: the API caller's request was
 * fine (400 would blame it), and Hoard is the server's gateway; one that cannot be reached is 503.
 */
export const ERRORS = {
  // Engine
  GRAPH_CYCLE: {
    exit: 2,
    http: 400,
    meaning: 'The task or resource graph has a cycle; details.cycle is its path.',
  },
  GRAPH_INVALID: {
    exit: 2,
    http: 400,
    meaning: 'A task graph is malformed (a duplicate task, an edge to an unknown task, a bad limit).',
  },
  TASK_TIMEOUT: { exit: 1, http: 504, meaning: 'A task ran past its timeout and was aborted.' },
  TASK_CANCELLED: {
    exit: 1,
    http: 503,
    meaning: 'The run was cancelled (Ctrl-C, a stopping server); owed teardowns still ran.',
  },
  DEADLINE_EXCEEDED: {
    exit: 1,
    http: 504,
    meaning: "The run's overall deadline passed; what was running was cancelled.",
  },
  JOURNAL_CORRUPT: {
    exit: 3,
    http: 422,
    meaning: 'A run journal holds a record that is not one; the file is damaged.',
  },
  ACTIONS_INVALID: { exit: 2, http: 400, meaning: 'An action list or relation is malformed.' },
  // Input: plans, parameters, providers, plugins
  PLAN_INVALID: {
    exit: 2,
    http: 400,
    meaning: 'A plan is not valid: syntax, unknown fields, duplicate or dangling resources, cycles.',
  },
  PARAMS_INVALID: {
    exit: 2,
    http: 400,
    meaning: "Parameters do not fit the plugin's schema, or name no resource.",
  },
  PROVIDER_INVALID: {
    exit: 2,
    http: 400,
    meaning: 'A provider file is broken; the message names file and line.',
  },
  PROVIDER_UNKNOWN: { exit: 2, http: 404, meaning: 'No provider has that name or id.' },
  PLUGIN_UNKNOWN: {
    exit: 2,
    http: 400,
    meaning:
      "No plugin of the provider handles the resource's type, or a provider names a plugin that is neither built in nor installed (hoard plugins install).",
  },
  PLUGIN_INVALID: {
    exit: 2,
    http: 400,
    meaning:
      'A plugin package or module exports no plugin factory (a default or "plugin" export that is a function), or a module that fails to import.',
  },
  PLUGIN_SDK_MISMATCH: {
    exit: 2,
    http: 400,
    meaning:
      'A plugin was built for another major version of the plugin SDK (its sdkVersion); the message names the package, the version it wants and the one it got.',
  },
  PLUGIN_NOT_INSTALLED: {
    exit: 2,
    http: 404,
    meaning: 'No plugin package of that name is installed in HOME/plugins (see hoard plugins list).',
  },
  PLUGIN_INSTALL_FAILED: {
    exit: 1,
    http: 502,
    meaning:
      "npm failed to install or remove a plugin package (not found, no network, a broken package); the message ends with the end of npm's stderr.",
  },
  USAGE: { exit: 2, http: 400, meaning: 'Bad usage: a missing, extra or malformed argument or option.' },
  // Banks and leases
  BANK_KEY_INVALID: { exit: 2, http: 400, meaning: 'A bank key, prefix or lease name is not valid.' },
  BANK_READ_ONLY: { exit: 2, http: 409, meaning: 'A write to a read-only bank or section.' },
  BANK_NOT_FOUND: {
    exit: 3,
    http: 422,
    meaning: 'An object the repository should hold is missing (where it escapes, the repository is damaged).',
  },
  BANK_KEY_CONFLICT: {
    exit: 1,
    http: 500,
    meaning: 'A key would be both an object and a prefix of other keys; a fault in the code choosing keys.',
  },
  BANK_ARGUMENT_INVALID: {
    exit: 1,
    http: 500,
    meaning: 'A bank was called with an invalid argument; a fault in Hoard.',
  },
  BANK_UNSUPPORTED: {
    exit: 2,
    http: 502,
    meaning:
      "The bank's server lacks what Hoard relies on (it ignores conditional writes); nothing is written to it. The message names the endpoint.",
  },
  BANK_REFUSED: {
    exit: 2,
    http: 502,
    meaning:
      "The bank's server refused for good: wrong credentials, no such bucket, no access, or an endpoint that is no S3 server; the message names endpoint, bucket and key.",
  },
  BANK_UNAVAILABLE: {
    exit: 1,
    http: 503,
    meaning:
      "The bank's server could not be reached, or kept failing (5xx, throttling, resets, timeouts), through every retry.",
  },
  LEASE_LOST: {
    exit: 1,
    http: 409,
    meaning: 'A lease expired or was taken over while its holder worked; the work stopped.',
  },
  LEASE_HELD: {
    exit: 4,
    http: 409,
    meaning: 'Another process holds the lease: the checkpoint or bank is busy.',
  },
  // Checkpoints
  BANK_OBJECT_CORRUPT: {
    exit: 3,
    http: 422,
    meaning:
      'A stored object fails authentication or is not a valid encrypted object: damaged or tampered with; the message names it.',
  },
  ENCRYPTION_KEY_WRONG: {
    exit: 2,
    http: 403,
    meaning:
      "The password or identity opens none of the bank's keys (or a writer lacks its writer key); nothing was read or written.",
  },
  ENCRYPTION_MISMATCH: {
    exit: 2,
    http: 409,
    meaning:
      "The provider's encryption setting does not match the bank (an encrypted bank read as plain, or the reverse).",
  },
  ENCRYPTION_WRITE_ONLY: {
    exit: 2,
    http: 403,
    meaning:
      'A public-key bank opened with only its recipient: it can protect, not read (restore, verify, gc need the identity).',
  },
  KEY_NOT_FOUND: { exit: 2, http: 404, meaning: 'The bank has no key with that id (see hoard key list).' },
  CHECKPOINT_NOT_FOUND: { exit: 2, http: 404, meaning: 'No checkpoint has that id (or it is not an id).' },
  PATH_NOT_FOUND: {
    exit: 2,
    http: 404,
    meaning: 'A path given to ls or restore --include is not in the checkpoint (the path is named).',
  },
  RESOURCE_NOT_FOUND: {
    exit: 2,
    http: 404,
    meaning: 'The checkpoint has no resource of that type#id (the message names those it has).',
  },
  CHECKPOINT_STATE: {
    exit: 2,
    http: 409,
    meaning: "The checkpoint's status forbids the operation (restore an error, copy where it exists …).",
  },
  CHECKPOINT_CORRUPT: {
    exit: 3,
    http: 422,
    meaning: "A checkpoint's record (meta.json) is not valid JSON or lacks required fields.",
  },
  // Operations
  DISCOVERY_FAILED: {
    exit: 1,
    http: 502,
    meaning:
      "A protectable could not list a resource's dependents (a server down, a plugin that threw or answered nonsense): the protect's checkpoint is error.",
  },
  HOOK_FAILED: { exit: 1, http: 502, meaning: "A plugin's hook failed; the operation failed." },
  HOOK_TIMEOUT: { exit: 1, http: 504, meaning: "A plugin's hook ran past its timeout." },
  RETENTION_INCOMPLETE: {
    exit: 1,
    http: 502,
    meaning: 'Retention after a protect could not delete every checkpoint it chose (operation logs).',
  },
  RUN_SKIPPED: {
    exit: 1,
    http: 409,
    meaning:
      'A scheduled run did not start: no server ran at its time, or it was missed beyond its window (operation logs).',
  },
  OPERATION_ABANDONED: {
    exit: 1,
    http: 503,
    meaning: 'The server running an operation stopped before it finished (operation logs).',
  },
  OPERATION_CANCELLED: {
    exit: 1,
    http: 409,
    meaning:
      'An operation was cancelled on request (POST …/operation_logs/{id}/cancel, hoard operations cancel); owed teardowns still ran (operation logs).',
  },
  OPERATION_NOT_RUNNING: {
    exit: 2,
    http: 409,
    meaning:
      'A cancel of an operation that has already ended, or whose cancellation was already asked; details.status says which.',
  },
  // Content store
  STORE_CORRUPT: {
    exit: 3,
    http: 422,
    meaning: 'Stored data (a pack, index, manifest) is damaged; the message names the object.',
  },
  STORE_BUSY: {
    exit: 4,
    http: 409,
    meaning: 'The content store is busy: a prune excludes writers, writers exclude a prune.',
  },
  STORE_ARGUMENT_INVALID: { exit: 2, http: 400, meaning: 'A content-store setting or argument is invalid.' },
  STORE_WRITER_CLOSED: {
    exit: 1,
    http: 500,
    meaning: 'A closed content-store writer was used; a fault in Hoard.',
  },
  // Service
  RETENTION_INVALID: { exit: 2, http: 400, meaning: 'A retention policy is not valid.' },
  CATALOG_CONFLICT: {
    exit: 2,
    http: 409,
    meaning: 'The catalog already holds what would be created (a plan name).',
  },
  CATALOG_IN_USE: {
    exit: 2,
    http: 409,
    meaning: 'A plan or trigger to delete is still used by a scheduled operation.',
  },
  CATALOG_INVALID: {
    exit: 2,
    http: 400,
    meaning: 'The catalog setting (HOARD_CATALOG_URL, schema) or its version is not usable.',
  },
  CATALOG_UNAVAILABLE: { exit: 1, http: 503, meaning: 'The catalog database cannot be reached or opened.' },
  TRIGGER_INVALID: {
    exit: 2,
    http: 400,
    meaning: "A trigger's properties are not valid (pattern, zone, times, window).",
  },
  QUEUE_INVALID: {
    exit: 2,
    http: 400,
    meaning: 'HOARD_QUEUE_URL or HOARD_QUEUE_PREFIX is not usable (expected redis://HOST:PORT[/DB]).',
  },
  QUEUE_UNAVAILABLE: {
    exit: 1,
    http: 503,
    meaning: 'The queue (Redis at HOARD_QUEUE_URL) cannot be reached.',
  },
  AGENT_UNAVAILABLE: {
    exit: 1,
    http: 503,
    meaning:
      "No agent of the resource's host took its hook within agent_wait (default 60 s, HOARD_AGENT_WAIT).",
  },
  AGENT_BANK_MISMATCH: {
    exit: 2,
    http: 409,
    meaning:
      "An agent's provider opens another bank than the coordinator's: it refused the hook rather than store data the checkpoint would lack.",
  },
  AGENT_LOST: {
    exit: 1,
    http: 502,
    meaning:
      'The agent running a hook died mid-hook, and the hook is not idempotent, so it was not run again.',
  },
  INTERNAL: { exit: 1, http: 500, meaning: 'A fault in Hoard; the stack goes to stderr or the server log.' },
} as const satisfies Record<string, ErrorSpec>;

/** Every error code a HoardError may carry; each has its entry in ERRORS. */
export type ErrorCode = keyof typeof ERRORS;

/** The entry of `code`, or INTERNAL's for a code that is not Hoard's. */
export function errorSpec(code: string): ErrorSpec {
  return Object.hasOwn(ERRORS, code) ? ERRORS[code as ErrorCode] : ERRORS.INTERNAL;
}

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
