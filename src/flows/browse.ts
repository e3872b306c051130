/**
 * Looking inside checkpoints without restoring them (SPEC §13): a checkpoint's resources,
 * a resource's entries or saved info (`hoard ls`), and what changed between two checkpoints
 * (`hoard diff`). Each resource type answers through its plugin's optional `browse`
 * capability (plugins/sdk.ts); nothing here reads file contents.
 */
import { createHash } from 'node:crypto';
import type { Bank } from '../bank/index.js';
import { checkpointPrefix, encodeSegment } from '../checkpoints/keys.js';
import { type CheckpointMeta, CheckpointStore } from '../checkpoints/store.js';
import { type ErrorInfo, HoardError } from '../errors.js';
import { threw } from '../plugins/contract.js';
import { parametersFor } from '../plugins/params.js';
import type { BrowseContext, BrowseEntry, ResourceBrowser, ResourceStats } from '../plugins/sdk.js';
import type { Provider } from '../providers/provider.js';
import { resourceKey } from '../resources/resource.js';
import type { ContentStore } from '../store/index.js';
import { operationStore, requireReadable } from './operation-store.js';

/** One resource of a checkpoint as `hoard ls CHECKPOINT` shows it. */
export interface ResourceListing {
  /** `type#id`. */
  resource: string;
  type: string;
  id: string;
  status: string;
  error?: ErrorInfo;
  /** The statistics the checkpoint record carries for it, when it does (recorded at protect time). */
  stats?: ResourceStats;
  /** What `ls CHECKPOINT RESOURCE` can show of it: `entries` (files), `info` (saved info), or nothing. */
  browse: 'entries' | 'info' | null;
}

export interface CheckpointListing {
  checkpoint: { id: string; plan: string; status: string; createdAt: string; stats?: ResourceStats };
  resources: ResourceListing[];
}

/** `ls CHECKPOINT RESOURCE [PATH]`: a file resource's entries, or another's saved info. */
export type ResourceContents =
  | { resource: string; path: string; entries: Omit<BrowseEntry, 'digest'>[] }
  | { resource: string; info: Record<string, unknown> | null };

/** The resources of checkpoint `id` (any status), with their statistics when the record has them. */
export async function listResources(provider: Provider, id: string): Promise<CheckpointListing> {
  await requireReadable(provider, 'ls');
  const meta = await new CheckpointStore(provider.bank).get(id);
  const checkpoint: CheckpointListing['checkpoint'] = {
    id: meta.id,
    plan: meta.plan,
    status: meta.status,
    createdAt: meta.createdAt,
  };
  if (meta.stats !== undefined) checkpoint.stats = meta.stats;
  const resources = meta.resources.map((r): ResourceListing => {
    const browser = browserOf(provider, r.type);
    const out: ResourceListing = {
      resource: resourceKey(r),
      type: r.type,
      id: r.id,
      status: r.status,
      browse: browser?.entries ? 'entries' : browser?.info ? 'info' : null,
    };
    if (r.error) out.error = r.error;
    if (r.stats !== undefined) out.stats = r.stats;
    return out;
  });
  return { checkpoint, resources };
}

/**
 * What checkpoint `id` holds of one resource: the entries at `path` ('' = the root;
 * `recursive` for everything below it) of a type that has entries, else its saved info.
 * RESOURCE_NOT_FOUND naming the resources it has; PATH_NOT_FOUND naming a path it lacks.
 */
export async function browseResource(
  provider: Provider,
  id: string,
  resource: string,
  options: { path?: string; recursive?: boolean; signal?: AbortSignal } = {},
): Promise<ResourceContents> {
  await requireReadable(provider, 'ls');
  const meta = await availableCheckpoint(provider, id, 'looked into');
  const key = findResource(meta, resource);
  const browser = browserOf(provider, typeOf(key));
  return withBrowseContext(provider, meta, key, options.signal, async (ctx) => {
    if (browser?.entries) {
      const path = options.path ?? '';
      const entries = await call(provider, key, 'entries', () =>
        browser.entries!(ctx, { path, recursive: options.recursive === true }),
      );
      return { resource: key, path, entries: entries.map(({ digest: _, ...shown }) => shown) };
    }
    if (options.path !== undefined && options.path !== '') {
      throw new HoardError(
        'USAGE',
        `${key} has no entries to list (its plugin gives ${browser?.info ? 'saved info only' : 'nothing to browse'}): leave out the path`,
        { details: { resource: key } },
      );
    }
    const info = browser?.info ? await call(provider, key, 'info', () => browser.info!(ctx)) : null;
    return { resource: key, info };
  });
}

/**
 * Checks, before a restore runs, that every path of each resource's `include` parameter is in
 * the checkpoint: PATH_NOT_FOUND naming the first that is not. A type without entries cannot
 * take `include` (its restore schema refuses it first).
 */
export async function checkIncludes(
  provider: Provider,
  meta: CheckpointMeta,
  include: ReadonlyMap<string, readonly string[]>,
): Promise<void> {
  for (const [key, paths] of include) {
    const browser = browserOf(provider, typeOf(key));
    if (!browser?.entries) {
      throw new HoardError('USAGE', `${key} cannot restore a part (its plugin lists no entries)`, {
        details: { resource: key },
      });
    }
    await withBrowseContext(provider, meta, key, undefined, async (ctx) => {
      for (const path of paths)
        await call(provider, key, 'entries', () => browser.entries!(ctx, { path, recursive: false }));
    });
  }
}

/** One resource in `hoard diff A B`. */
export interface ResourceDiff {
  resource: string;
  /**
   * `added` / `removed`: the resource is only in B / only in A. `changed` / `unchanged`: its
   * data differs or not. `unknown`: its plugin cannot tell without restoring both.
   */
  status: 'added' | 'removed' | 'changed' | 'unchanged' | 'unknown';
  /**
   * How it was compared: `entries` path by path (files), `fingerprint` by its plugin's,
   * `objects` by its stored objects' bytes; null for a resource in one checkpoint only.
   */
  compared: 'entries' | 'fingerprint' | 'objects' | null;
  /** Paths only in B, only in A, and in both but different; always empty unless `compared` is `entries`. */
  added: string[];
  removed: string[];
  modified: string[];
}

export interface CheckpointDiff {
  from: { id: string; plan: string; provider: string };
  to: { id: string; plan: string; provider: string };
  resources: ResourceDiff[];
  stats: { added: number; removed: number; modified: number };
}

/**
 * What changed from checkpoint `a` to `b`. Resources with entries are compared entry by
 * entry from their manifests (a file is modified when its type, content digest — a hash of
 * its chunk ids —, link target or mode differ; a new mtime alone is not a change); other
 * resources by their plugin's fingerprint, or, for a plugin without the browse capability,
 * by their stored objects' bytes.
 */
export async function diffCheckpoints(
  a: { provider: Provider; id: string },
  b: { provider: Provider; id: string },
  options: { signal?: AbortSignal } = {},
): Promise<CheckpointDiff> {
  for (const side of [a, b]) await requireReadable(side.provider, 'diff');
  const metaA = await availableCheckpoint(a.provider, a.id, 'compared');
  const metaB = await availableCheckpoint(b.provider, b.id, 'compared');
  const keysA = metaA.resources.map(resourceKey);
  const keysB = metaB.resources.map(resourceKey);
  const resources: ResourceDiff[] = [];
  const stats = { added: 0, removed: 0, modified: 0 };
  const none = () => ({ added: [], removed: [], modified: [] });
  for (const key of keysB)
    if (!keysA.includes(key)) resources.push({ resource: key, status: 'added', compared: null, ...none() });
  for (const key of keysA) {
    if (!keysB.includes(key)) {
      resources.push({ resource: key, status: 'removed', compared: null, ...none() });
      continue;
    }
    const browserA = browserOf(a.provider, typeOf(key));
    const browserB = browserOf(b.provider, typeOf(key));
    const open = <T>(side: typeof a, meta: CheckpointMeta, work: (ctx: BrowseContext) => Promise<T>) =>
      withBrowseContext(side.provider, meta, key, options.signal, work);
    if (browserA?.entries && browserB?.entries) {
      const all = { path: '', recursive: true };
      const [left, right] = await Promise.all([
        open(a, metaA, (ctx) => call(a.provider, key, 'entries', () => browserA.entries!(ctx, all))),
        open(b, metaB, (ctx) => call(b.provider, key, 'entries', () => browserB.entries!(ctx, all))),
      ]);
      const diff = diffEntries(left, right);
      stats.added += diff.added.length;
      stats.removed += diff.removed.length;
      stats.modified += diff.modified.length;
      const same = diff.added.length + diff.removed.length + diff.modified.length === 0;
      resources.push({ resource: key, status: same ? 'unchanged' : 'changed', compared: 'entries', ...diff });
      continue;
    }
    let status: ResourceDiff['status'];
    let compared: ResourceDiff['compared'] = 'fingerprint';
    if (browserA?.fingerprint && browserB?.fingerprint) {
      const [left, right] = await Promise.all([
        open(a, metaA, (ctx) => call(a.provider, key, 'fingerprint', () => browserA.fingerprint!(ctx))),
        open(b, metaB, (ctx) => call(b.provider, key, 'fingerprint', () => browserB.fingerprint!(ctx))),
      ]);
      status =
        typeof left !== 'string' || typeof right !== 'string'
          ? 'unknown'
          : left === right
            ? 'unchanged'
            : 'changed';
    } else if (browserA || browserB) {
      status = 'unknown'; // it browses, but says nothing of its data's identity
    } else {
      compared = 'objects';
      const [left, right] = await Promise.all([
        sectionDigest(resourceSection(a.provider, metaA.id, key)),
        sectionDigest(resourceSection(b.provider, metaB.id, key)),
      ]);
      status = left === right ? 'unchanged' : 'changed';
    }
    resources.push({ resource: key, status, compared, ...none() });
  }
  const side = (p: Provider, m: CheckpointMeta) => ({ id: m.id, plan: m.plan, provider: p.name });
  return { from: side(a.provider, metaA), to: side(b.provider, metaB), resources, stats };
}

/** Paths only in `b`, only in `a`, and in both but different (see diffCheckpoints), each sorted. */
export function diffEntries(
  a: readonly BrowseEntry[],
  b: readonly BrowseEntry[],
): { added: string[]; removed: string[]; modified: string[] } {
  const before = new Map(a.map((e) => [e.path, e]));
  const after = new Map(b.map((e) => [e.path, e]));
  const added: string[] = [];
  const removed: string[] = [];
  const modified: string[] = [];
  for (const [path, entry] of after) {
    const old = before.get(path);
    if (!old) added.push(path);
    else if (
      old.type !== entry.type ||
      old.mode !== entry.mode ||
      old.target !== entry.target ||
      (entry.type === 'file' && (old.digest !== entry.digest || old.size !== entry.size))
    )
      modified.push(path);
  }
  for (const path of before.keys()) if (!after.has(path)) removed.push(path);
  return { added: added.sort(), removed: removed.sort(), modified: modified.sort() };
}

async function availableCheckpoint(provider: Provider, id: string, what: string): Promise<CheckpointMeta> {
  const meta = await new CheckpointStore(provider.bank).get(id);
  if (meta.status !== 'available') {
    throw new HoardError(
      'CHECKPOINT_STATE',
      `checkpoint ${id} is ${meta.status}; only an available checkpoint can be ${what}`,
      { details: { checkpoint: id, status: meta.status } },
    );
  }
  return meta;
}

/**
 * The `type#id` of the checkpoint's resource that `given` names: a `type#id`, or an id alone
 * when one resource has it. RESOURCE_NOT_FOUND naming the resources the checkpoint has.
 */
export function findResource(meta: CheckpointMeta, given: string): string {
  const keys = meta.resources.map(resourceKey);
  if (keys.includes(given)) return given;
  const byId = meta.resources.filter((r) => r.id === given).map(resourceKey);
  if (byId.length === 1) return byId[0]!;
  throw new HoardError(
    'RESOURCE_NOT_FOUND',
    `checkpoint ${meta.id} has no resource ${JSON.stringify(given)}${
      byId.length > 1 ? ` alone (give one of ${byId.join(', ')})` : `; it has ${keys.join(', ') || 'none'}`
    }`,
    { details: { checkpoint: meta.id, resource: given, resources: keys } },
  );
}

function typeOf(key: string): string {
  return key.slice(0, key.indexOf('#'));
}

/** The browse capability of `type` in the provider, or undefined (no plugin, or none given). */
function browserOf(provider: Provider, type: string): ResourceBrowser | undefined {
  try {
    return provider.registry.handler(type).spec.browse;
  } catch {
    return undefined; // a type the provider no longer handles: shown, not browsed
  }
}

function resourceSection(provider: Provider, id: string, key: string): Bank {
  return provider.bank
    .section(checkpointPrefix(id))
    .section(`resources/${encodeSegment(key)}`, { readOnly: true });
}

/** Runs `work` with a browse context for `key`; the content store's lease, if taken, is given up after. */
async function withBrowseContext<T>(
  provider: Provider,
  meta: CheckpointMeta,
  key: string,
  signal: AbortSignal | undefined,
  work: (ctx: BrowseContext) => Promise<T>,
): Promise<T> {
  const node = meta.graph.resources.find((r) => resourceKey(r) === key);
  const resource = node ? { ...node } : { type: typeOf(key), id: key.slice(key.indexOf('#') + 1) };
  if ('children' in resource) delete (resource as { children?: unknown }).children;
  let store: ContentStore | undefined;
  const ctx: BrowseContext = {
    checkpoint: { id: meta.id, plan: meta.plan, provider: provider.name },
    resource,
    protectParameters: parametersFor(meta.parameters, resource),
    bank: resourceSection(provider, meta.id, key),
    get store() {
      store ??= operationStore(provider.bank, `browse ${meta.id}`);
      return store;
    },
    signal: signal ?? new AbortController().signal,
  };
  try {
    return await work(ctx);
  } finally {
    await store?.release().catch(() => {});
  }
}

/**
 * A plugin's browse method: a HoardError it throws passes as it is (PATH_NOT_FOUND …);
 * anything else is HOOK_FAILED naming the plugin, the method and the resource.
 */
async function call<T>(provider: Provider, key: string, method: string, run: () => Promise<T>): Promise<T> {
  let value: T;
  try {
    value = await run();
  } catch (error) {
    if (error instanceof HoardError) throw error;
    throw new HoardError(
      'HOOK_FAILED',
      `${key}: plugin "${pluginName(provider, key)}" browse.${method} ${threw(error)}`,
      {
        details: { resource: key, method },
        cause: error,
      },
    );
  }
  if (method === 'entries' && !Array.isArray(value)) {
    throw new HoardError(
      'HOOK_FAILED',
      `${key}: plugin "${pluginName(provider, key)}" browse.entries returned something that is not a list of entries`,
      { details: { resource: key, method } },
    );
  }
  return value;
}

function pluginName(provider: Provider, key: string): string {
  try {
    return provider.registry.handler(typeOf(key)).plugin.name;
  } catch {
    return typeOf(key);
  }
}

/** A hash of every object in a resource's section (its key and bytes): equal exactly when they all are. */
async function sectionDigest(section: Bank): Promise<string> {
  const hash = createHash('sha256');
  for (const key of await section.list('')) {
    hash.update(`${key}\n`);
    for await (const chunk of await section.getStream(key)) hash.update(chunk as Buffer);
    hash.update('\n');
  }
  return hash.digest('hex');
}
