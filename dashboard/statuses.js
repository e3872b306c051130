// @ts-check
/**
 * Every status and kind the dashboard offers or tests for, in one place: the filters, the
 * buttons that depend on a status and the views that follow a run until it ends all import
 * these lists. test/dashboard/statuses.test.ts keeps the lists equal to the server's.
 */

/** A checkpoint's statuses (src/checkpoints/status.ts), as the list's filter offers them. */
export const CHECKPOINT_STATUSES = [
  'protecting',
  'available',
  'error',
  'copying',
  'deleting',
  'deleted',
  'error_deleting',
];

/** Statuses a checkpoint may be deleted from (restore and verify need `available`). */
export const DELETABLE = new Set(['available', 'error', 'error_deleting']);

/** Operation log kinds (the API's `kind` filter). */
export const OPERATION_KINDS = ['protect', 'restore', 'verify', 'copy', 'delete', 'retention_protect'];

/** Kinds that make a checkpoint of a plan. */
export const PROTECT_KINDS = new Set(['protect', 'retention_protect']);

/** Operation log statuses (the API's `status` filter). */
export const OPERATION_STATUSES = ['queued', 'running', 'succeeded', 'failed', 'skipped', 'cancelled'];

/** An operation in one of these statuses has ended (`cancelled`: stopped on request). */
export const OPERATION_DONE = new Set(['succeeded', 'failed', 'skipped', 'cancelled']);

/** Statuses in which an operation may be cancelled. */
export const CANCELLABLE = new Set(['queued', 'running']);

/** A hook task's states (src/engine/types.ts TaskState), in the order the legend shows them. */
export const TASK_STATUSES = [
  'pending',
  'running',
  'succeeded',
  'failed',
  'upstream_failed',
  'skipped',
  'cancelled',
];

/** A task in one of these states has ended. */
export const TASK_DONE = new Set(['succeeded', 'failed', 'skipped', 'upstream_failed', 'cancelled']);
