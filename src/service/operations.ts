/**
 * The work behind each long API operation and scheduled run: the same flows the CLI calls
 * (protect, restore, verify, copy, delete, prune), wrapped for the runner.
 */
import type { Catalog, OperationLogRecord, PlanRecord } from '../catalog/index.js';
import { type ErrorCode, HoardError } from '../errors.js';
import { copyCheckpoint, deleteCheckpoint, restore, verify } from '../flows/checkpoint-ops.js';
import { type OperationResult, operationSucceeded } from '../flows/checkpoint-view.js';
import { protect } from '../flows/protect.js';
import { prunePlan, pruneShortfall } from '../flows/prune.js';
import { type Policy, validatePolicy } from '../flows/retention.js';
import type { OperationKind } from '../plugins/sdk.js';
import { findProvider, type Provider, type ProviderProblem } from '../providers/provider.js';
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

/**
 * What a restore, verification or copy request asks beyond its checkpoint (the API's body),
 * kept as its operation log's `parameters`, from which a worker rebuilds the work.
 */
export interface OperationRequest {
  target?: string;
  parameters?: Record<string, never>;
  overwrite?: boolean;
  toProviderId?: string;
  resources?: string[];
}

export const restoreOptions = (b: OperationRequest) => ({
  ...(b.target !== undefined ? { target: b.target } : {}),
  ...(b.parameters ? { parameters: b.parameters } : {}),
  ...(b.overwrite ? { overwrite: true } : {}),
  ...(b.resources ? { resources: b.resources } : {}),
});

export const verifyOptions = (b: OperationRequest) => ({
  ...(b.parameters ? { parameters: b.parameters } : {}),
  ...(b.resources ? { resources: b.resources } : {}),
});

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

/** What rebuilding an operation's work from its log needs: the shared catalog and the providers. */
export interface WorkSources {
  catalog: Catalog;
  providers: Provider[];
  problems?: ProviderProblem[];
}

/**
 * The work of a queued operation log, rebuilt where it runs (`hoard worker`): the same work the
 * API would have run in its own process, from what the log records — its kind, plan, provider,
 * checkpoint and the request's parameters; a scheduled run's retention policy from its
 * scheduled operation. What can no longer be found (a deleted plan or scheduled operation, a
 * provider this process lacks) fails the operation, saying which.
 */
export function workFromLog(log: OperationLogRecord, sources: WorkSources): Work {
  return async (ctx) => (await rebuild(log, sources))(ctx);
}

async function rebuild(
  log: OperationLogRecord,
  { catalog, providers, problems }: WorkSources,
): Promise<Work> {
  const p = log.parameters as OperationRequest;
  const cannot = (why: string) =>
    new HoardError('USAGE', `operation ${log.id} (${log.kind}) cannot run: ${why}`, {
      details: { operationLog: log.id },
    });
  const provider = (id: string) => findProvider(providers, id, problems ?? []);
  const checkpoint = () => {
    if (!log.checkpointId) throw cannot('its log names no checkpoint');
    return log.checkpointId;
  };
  const plan = async () => {
    if (!log.planId) throw cannot('its log names no plan');
    const found = await catalog.getPlan(log.project, log.planId, { includeDeleted: true });
    if (!found || (found.deletedAt && log.scheduledOperationId))
      throw cannot(`plan ${log.planId} was deleted`);
    return found;
  };
  switch (log.kind) {
    case 'protect':
    case 'retention_protect': {
      const planRecord = await plan();
      const by = log.providerId ?? planRecord.provider;
      let chosen: Provider;
      try {
        chosen = provider(by);
      } catch (error) {
        throw cannot((error as Error).message);
      }
      if (log.kind === 'protect') return protectWork(planRecord, chosen);
      const scheduled = log.scheduledOperationId
        ? await catalog.getScheduledOperation(log.project, log.scheduledOperationId)
        : undefined;
      if (!scheduled) throw cannot('its scheduled operation was deleted before it ran');
      return retentionProtectWork(
        planRecord,
        chosen,
        validatePolicy(scheduled.definition.retention, `scheduled operation "${scheduled.name}" retention`),
      );
    }
    case 'restore':
      return restoreWork(checkpoint(), provider(log.providerId ?? 'local'), restoreOptions(p));
    case 'verify':
      return verifyWork(checkpoint(), provider(log.providerId ?? 'local'), verifyOptions(p));
    case 'copy':
      if (!p.toProviderId) throw cannot('its log names no provider to copy to');
      return copyWork(checkpoint(), provider(log.providerId ?? 'local'), provider(p.toProviderId));
    case 'delete':
      return deleteWork(checkpoint(), provider(log.providerId ?? 'local'));
  }
}
