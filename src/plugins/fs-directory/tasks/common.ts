/** What the worker tasks share: how a problem travels back to the main thread. */
import { type ErrorCode, HoardError } from '../../../errors.js';

/** A problem a task reports instead of throwing (an error's code would not survive the thread boundary). */
export interface Problem {
  code: ErrorCode;
  message: string;
  details?: Record<string, unknown>;
}

/** A blob that could not be read as stored; `problem` is the store's message naming it (and its pack). */
export interface DamagedBlob {
  id: string;
  /** The pack the index puts it in; absent when no index has it. */
  pack?: string;
  problem: string;
}

export function code(error: unknown): string | undefined {
  return (error as NodeJS.ErrnoException | undefined)?.code;
}

/** `what` failed with a system error: HOOK_FAILED, with the errno code. */
export function ioProblem(what: string, error: unknown): Problem {
  return { code: 'HOOK_FAILED', message: `${what}: ${code(error) ?? (error as Error).message}` };
}

/** Any error as a problem: a HoardError keeps its code; a system error says what it was doing on. */
export function asProblem(error: unknown, what?: string): Problem {
  if (error instanceof HoardError) {
    return { code: error.code, message: error.message, ...(error.details ? { details: error.details } : {}) };
  }
  if (what !== undefined) return ioProblem(what, error);
  const path = (error as NodeJS.ErrnoException | undefined)?.path;
  return {
    code: 'HOOK_FAILED',
    message: `${path ? `${path}: ` : ''}${code(error) ?? (error as Error).message}`,
  };
}
