/**
 * The work behind each long API operation and scheduled run: the same flows the CLI calls
 * (protect, restore, verify, copy, delete, prune), wrapped for the runner.
 */
import type { PlanRecord } from '../catalog/index.js';
import type { ErrorCode } from '../errors.js';
import { copyCheckpoint, deleteCheckpoint, restore, verify } from '../flows/checkpoint-ops.js';
import { type OperationResult, operationSucceeded } from '../flows/checkpoint-view.js';
import { protect } from '../flows/protect.js';
import { prunePlan, pruneShortfall } from '../flows/prune.js';
import type { Policy } from '../flows/retention.js';
import type { OperationKind } from '../plugins/sdk.js';
import type { Provider } from '../providers/provider.js';
import { toPlan } from './plans.js';
import type { RunContext, Work, WorkOutcome } from './runner.js';

function outcome(kind: OperationKind, result: OperationResult): WorkOutcome {
  const ok = operationSucceeded(kind, result);
  const failed = result.operation?.tasks.find(
    (t) => t.error && `${t.resource}:${t.hook}` === result.operation?.firstFailure,
  );
  const error =
    result.operation?.error ??
    result.checkpoint.error ??
    (failed?.error
      ? { ...failed.error, message: `${failed.resource} ${failed.hook}: ${failed.error.message}` }
      : undefined) ??
    result.checkpoint.resources.find((r) => r.error)?.error;
  return {
    ok,
    result,
    checkpointId: result.checkpoint.id,
    ...(!ok && error ? { error } : {}),
  };
}

function runOptions(ctx: RunContext) {
  return { signal: ctx.signal, onEvent: ctx.onEvent };
}

export function protectWork(plan: PlanRecord, provider: Provider): Work {
  return async (ctx) => {
    const result = await protect(toPlan(plan), provider, {
      ...runOptions(ctx),
      onCheckpoint: ctx.onCheckpoint,
    });
    return outcome('protect', result);
  };
}

export function restoreWork(
  id: string,
  provider: Provider,
  options: {
    target?: string;
    parameters?: Record<string, never>;
    overwrite?: boolean;
    resources?: string[];
  },
): Work {
  return async (ctx) => {
    ctx.onCheckpoint(id);
    const result = await restore(id, provider, { ...runOptions(ctx), ...options });
    return outcome('restore', result);
  };
}

export function verifyWork(
  id: string,
  provider: Provider,
  options: { parameters?: Record<string, never>; resources?: string[] },
): Work {
  return async (ctx) => {
    ctx.onCheckpoint(id);
    const result = await verify(id, provider, { ...runOptions(ctx), ...options });
    return outcome('verify', result);
  };
}

export function copyWork(id: string, from: Provider, to: Provider): Work {
  return async (ctx) => {
    ctx.onCheckpoint(id);
    const result = await copyCheckpoint(id, from, to, runOptions(ctx));
    return outcome('copy', result);
  };
}

export function deleteWork(id: string, provider: Provider): Work {
  return async (ctx) => {
    ctx.onCheckpoint(id);
    const result = await deleteCheckpoint(id, provider, runOptions(ctx));
    return outcome('delete', result);
  };
}

/**
 * `retention_protect`: protect, then apply the retention policy to the plan's checkpoints.
 * A failed protect stops here (the policy itself also refuses to run after one).
 */
export function retentionProtectWork(plan: PlanRecord, provider: Provider, policy: Policy): Work {
  return async (ctx) => {
    const protected_ = await protect(toPlan(plan), provider, {
      ...runOptions(ctx),
      onCheckpoint: ctx.onCheckpoint,
    });
    if (!operationSucceeded('protect', protected_)) {
      return {
        ...outcome('protect', protected_),
        result: { ...protected_, retention: { skipped: 'the protect failed; retention does not run' } },
      };
    }
    const retention = await prunePlan(plan.id, provider, policy, { signal: ctx.signal });
    const failures = pruneShortfall(retention);
    return {
      ok: failures.length === 0,
      result: { ...protected_, retention },
      checkpointId: protected_.checkpoint.id,
      ...(failures.length
        ? {
            error: {
              name: 'HoardError',
              code: 'RETENTION_INCOMPLETE' satisfies ErrorCode,
              message: `retention could not delete ${failures.join(', ')}`,
            },
          }
        : {}),
    };
  };
}
