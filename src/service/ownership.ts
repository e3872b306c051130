/**
 * Which project a checkpoint in a bank belongs to (docs/api.md, "Whose checkpoints"). A
 * checkpoint names its plan by a key (`meta.plan`, also in its index entries):
 *
 * - the service files a plan's checkpoints under the plan's catalog id, which is unique
 *   across projects: the plan's project owns them (a deleted plan's too);
 * - `hoard protect PLAN-FILE` files them under the plan file's `name`: the project owning a
 *   plan of that name (not deleted) whose provider is this provider (by id or name) owns
 *   them — when exactly one project has such a plan. When two projects do, neither sees them
 *   (a name cannot say which one is meant); admins always do.
 *
 * The bank stays the truth about which checkpoints exist; the catalog only says whose they are.
 */
import type { FastifyRequest } from 'fastify';
import { isId, type PlanRecord } from '../catalog/index.js';
import { HoardError } from '../errors.js';
import { type CheckpointMeta, getCheckpoint, indexedCheckpoint } from '../flows/checkpoints.js';
import type { Provider } from '../providers/provider.js';
import { projectOf, type ServiceContext } from './context.js';
import { notFound } from './http-errors.js';

/** Who owns the checkpoints filed under one plan key. */
export interface PlanOwner {
  project: string;
  plan: PlanRecord;
  /** `service`: the key is the plan's id; `cli`: it is the name of a plan file's plan. */
  origin: 'service' | 'cli';
}

/**
 * How long the plans read for ownership answer requests before they are read again. This
 * process's own plan writes drop them at once (`Ownership.forget`); a plan another server
 * sharing the catalog made is found at once too (a plan or checkpoint not found reads them
 * again); what another server renamed or deleted is seen at most this late.
 */
const PLANS_KEPT_MS = 1000;

interface Kept {
  at: number;
  plans: Promise<PlanRecord[]>;
  /** Per provider id: the maps built from `plans`. */
  byProvider: Map<string, Ownership>;
}

/** Per catalog: the plans last read, and a count of this process's plan writes. */
const kept = new WeakMap<object, Kept>();
const writes = new WeakMap<object, number>();

export class Ownership {
  private constructor(
    private readonly byId: Map<string, PlanRecord>,
    /** Plan names of this provider's live plans → the plans of that name, one per project. */
    private readonly byName: Map<string, PlanRecord[]>,
  ) {}

  /**
   * Every plan of every project (deleted ones too), as read at most `PLANS_KEPT_MS` ago and
   * after this process's last plan write; `fresh`: read now.
   */
  static async load(
    ctx: ServiceContext,
    provider: Provider,
    options: { fresh?: boolean } = {},
  ): Promise<Ownership> {
    const catalog = ctx.catalog;
    let entry = kept.get(catalog);
    if (!entry || options.fresh || Date.now() - entry.at > PLANS_KEPT_MS) {
      const generation = writes.get(catalog) ?? 0;
      const plans = readPlans(ctx);
      entry = { at: Date.now(), plans, byProvider: new Map() };
      const mine = entry;
      // Kept only if no plan write of this process began meanwhile (it may not be in them).
      kept.set(catalog, mine);
      plans.then(
        () => {
          if ((writes.get(catalog) ?? 0) !== generation && kept.get(catalog) === mine) kept.delete(catalog);
        },
        () => {
          if (kept.get(catalog) === mine) kept.delete(catalog);
        },
      );
    }
    const plans = await entry.plans;
    const known = entry.byProvider.get(provider.id);
    if (known) return known;
    const made = Ownership.of(plans, provider);
    entry.byProvider.set(provider.id, made);
    return made;
  }

  /** Called around each plan write of this process: the next `load` reads the plans again. */
  static forget(ctx: ServiceContext): void {
    writes.set(ctx.catalog, (writes.get(ctx.catalog) ?? 0) + 1);
    kept.delete(ctx.catalog);
  }

  private static of(plans: PlanRecord[], provider: Provider): Ownership {
    const byId = new Map(plans.map((p) => [p.id, p]));
    const byName = new Map<string, PlanRecord[]>();
    for (const plan of plans) {
      if (plan.deletedAt || (plan.provider !== provider.id && plan.provider !== provider.name)) continue;
      byName.set(plan.name, [...(byName.get(plan.name) ?? []), plan]);
    }
    return new Ownership(byId, byName);
  }

  /** The owner of checkpoints filed under `planKey`, or undefined (only admins see them). */
  ownerOf(planKey: string): PlanOwner | undefined {
    const plan = this.byId.get(planKey);
    if (plan) return { project: plan.project, plan, origin: 'service' };
    const named = this.byName.get(planKey);
    if (named?.length === 1) return { project: named[0]!.project, plan: named[0]!, origin: 'cli' };
    return undefined;
  }

  /** Whether `id` is a plan of `project` (deleted ones too). */
  hasPlan(project: string, id: string): boolean {
    return this.byId.get(id.toLowerCase())?.project === project;
  }

  /** The plan keys whose checkpoints `project` sees: its plans' ids, and the names it owns. */
  keysOf(project: string, onlyPlan?: string): { key: string; owner: PlanOwner }[] {
    const out: { key: string; owner: PlanOwner }[] = [];
    for (const plan of this.byId.values()) {
      if (plan.project !== project || (onlyPlan && plan.id !== onlyPlan)) continue;
      out.push({ key: plan.id, owner: { project, plan, origin: 'service' } });
      const owner = this.ownerOf(plan.name);
      if (owner?.plan.id === plan.id) out.push({ key: plan.name, owner });
    }
    return out;
  }
}

async function readPlans(ctx: ServiceContext): Promise<PlanRecord[]> {
  const plans: PlanRecord[] = [];
  for (let marker: string | undefined; ; ) {
    const page = await ctx.catalog.listPlans(null, {
      limit: 1000,
      includeDeleted: true,
      ...(marker ? { marker } : {}),
    });
    plans.push(...page.items);
    if (!page.next) return plans;
    marker = page.next;
  }
}

/** A checkpoint the caller may see, with its owner (undefined: no project's; admins only). */
export interface OwnedCheckpoint {
  meta: CheckpointMeta;
  owner: PlanOwner | undefined;
}

/**
 * The checkpoint, if the request's project owns it or its token is an admin's; else 404
 * (never 403: a project does not learn what other projects keep).
 */
export async function ownedCheckpoint(
  ctx: ServiceContext,
  request: FastifyRequest,
  provider: Provider,
  id: string,
): Promise<OwnedCheckpoint> {
  const project = projectOf(request);
  const admin = request.token?.admin === true;
  const missing = () => notFound(`checkpoint ${id} in provider ${provider.name}`);
  let meta: CheckpointMeta;
  try {
    meta = await getCheckpoint(provider, id);
  } catch (error) {
    if (error instanceof HoardError && error.code === 'CHECKPOINT_NOT_FOUND') throw missing();
    // A damaged record names no plan; its index entries do. Only its own project learns of it.
    if (error instanceof HoardError && error.code === 'CHECKPOINT_CORRUPT') {
      if (admin) throw error;
      const ownership = await Ownership.load(ctx, provider, { fresh: true });
      for (const entry of await indexedCheckpoint(provider, id))
        if (ownership.ownerOf(entry.plan)?.project === project) throw error;
      throw missing();
    }
    throw error;
  }
  let owner = (await Ownership.load(ctx, provider)).ownerOf(meta.plan);
  // Not ours by the plans kept: perhaps by a plan another server has just made.
  if (owner?.project !== project && !admin)
    owner = (await Ownership.load(ctx, provider, { fresh: true })).ownerOf(meta.plan);
  if (owner?.project !== project && !admin) throw missing();
  return { meta, owner };
}

/** What the API adds to a checkpoint about its plan: its id, name, project and origin. */
export function ownerFields(planKey: string, owner: PlanOwner | undefined, recordedName?: string) {
  return {
    planId: owner?.plan.id ?? null,
    planName: owner?.plan.name ?? recordedName ?? (owner === undefined && !isId(planKey) ? planKey : null),
    project: owner?.project ?? null,
    origin: owner?.origin ?? (isId(planKey) ? 'service' : 'cli'),
  };
}
