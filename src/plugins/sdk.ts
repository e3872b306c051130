/**
 * The plugin SDK: what a protection plugin implements and what its hooks receive. Third
 * parties import these types from `hoard` and ship plugins as npm packages.
 */
import type { Static, TSchema } from '@sinclair/typebox';
import type { Bank } from '../bank/index.js';
import { HoardError } from '../errors.js';
import type { Protectable } from '../resources/protectable.js';
import type { Resource } from '../resources/resource.js';
import type { ContentStore } from '../store/index.js';

/**
 * The version of the plugin contract this Hoard implements (semver). Its major changes when a
 * plugin written for the previous one may no longer work; a plugin declares the version it was
 * built for in `sdkVersion`, and Hoard refuses to load one of another major (PLUGIN_SDK_MISMATCH).
 */
export const SDK_VERSION = '1.0.0';

/** The operations a plugin takes part in; a checkpoint is made by `protect`, the others work on one. */
export type OperationKind = 'protect' | 'restore' | 'verify' | 'copy' | 'delete';
/** Every {@link OperationKind}, in the order the CLI lists them. */
export const OPERATION_KINDS: readonly OperationKind[] = ['protect', 'restore', 'verify', 'copy', 'delete'];

/**
 * The four hooks of an operation, per resource, in their order: prepareBegin (parents before
 * children), prepareFinish (children before parents; runs whenever prepareBegin succeeded),
 * main, complete (children before parents).
 */
export type HookName = 'prepareBegin' | 'prepareFinish' | 'main' | 'complete';
/** Every {@link HookName}, in hook order. */
export const HOOK_NAMES: readonly HookName[] = ['prepareBegin', 'prepareFinish', 'main', 'complete'];

/**
 * A JSON Schema (draft 2020-12 / 07 subset that Ajv understands). A TypeBox schema
 * (`Type.Object(…)`, re-exported from `hoard`) is one too, and gives its parameters a type.
 */
export type JsonSchema = Record<string, unknown>;

/** Parameters whose schema gives no type (a plain JSON Schema object, or none). */
export type UntypedParameters = Record<string, unknown>;

/**
 * The TypeScript type of the values `schema` accepts: `Static<schema>` for a TypeBox schema,
 * `Record<string, unknown>` for a plain JSON Schema object or none.
 */
export type FromSchema<S> = S extends TSchema ? Static<S> : UntypedParameters;

/** A type's schemas (SPEC §5); each optional, each a JSON Schema or a TypeBox schema. */
export interface TypeSchemas {
  /** The plan entry's extra fields (`path`, `url` …): a resource's `extra`. */
  resource?: JsonSchema;
  /** Protect parameters (the plan's `parameters`, saved in the checkpoint). */
  options?: JsonSchema;
  /** Restore parameters (`target`, `overwrite` …). */
  restore?: JsonSchema;
  /** Verify parameters. */
  verify?: JsonSchema;
  /** What protect records about the resource in its own bank section (Hoard only publishes it). */
  savedInfo?: JsonSchema;
}

/**
 * The parameters operation `K` gets for a type with schemas `S`, validated by the matching
 * schema: `options` for protect, `restore`, `verify`; copy and delete get the operation's
 * parameters unvalidated.
 */
export type ParametersOf<S extends TypeSchemas, K extends OperationKind> = K extends 'protect'
  ? FromSchema<S['options']>
  : K extends 'restore'
    ? FromSchema<S['restore']>
    : K extends 'verify'
      ? FromSchema<S['verify']>
      : UntypedParameters;

/** A resource of a type with schemas `S`: its `extra` fields typed by the `resource` schema. */
export type TypedResource<S extends TypeSchemas = TypeSchemas> = Omit<Resource, 'extra'> & {
  /** The plan entry's other fields, validated by `schemas.resource` (absent when it has none). */
  extra?: FromSchema<S['resource']>;
};

/** A hook that failed in this operation, as `HookContext.failures` lists them. */
export interface HookFailure {
  /** `type#id` of the resource whose hook failed. */
  resource: string;
  hook: HookName;
  message: string;
}

/** How `HookContext.poll` waits for something outside Hoard (a snapshot, a job) to be ready. */
export interface PollOptions {
  /**
   * Milliseconds between checks.
   * @default 1000
   */
  intervalMs?: number;
  /** Give up after this many milliseconds with HOOK_TIMEOUT. Required: polling never waits forever. */
  timeoutMs: number;
  /** What is being waited for, for the timeout message (e.g. "snapshot snap-1 to complete"). */
  what: string;
}

/**
 * What a hook is given: where it runs, its parameters and bank, and how to report back.
 * `P` is this operation's parameters, `PP` the protect-time ones (typed by the type's schemas
 * when the Operation comes from a type's `operations`, see {@link TypeOperations}).
 */
export interface HookContext<P = UntypedParameters, PP = UntypedParameters> {
  operation: OperationKind;
  hook: HookName;
  checkpoint: { id: string; plan: string; provider: string };
  resource: Resource;
  /** This operation's parameters for the resource: `type`, then `type#id` merged over it, validated. */
  parameters: P;
  /** The protect-time parameters saved in the checkpoint (for restore, verify, copy, delete). */
  protectParameters: PP;
  /** This resource's own section of the checkpoint in the bank; read-only outside protect and delete. */
  bank: Bank;
  /**
   * Copy only, between banks that name blobs differently (one encrypted, or two encrypted
   * repositories): each blob id of the source checkpoint to its id in the target's store. The
   * data is in the target's store already and Hoard has rewritten the section's `blobs`
   * object; a plugin that keeps blob ids in its own objects rewrites them in its copy `main`
   * hook (the section is writable then). A plugin without such a hook cannot be copied so.
   */
  blobIds?: ReadonlyMap<string, string>;
  /**
   * For protect: this resource's section in the plan's previous available checkpoint
   * (read-only), to find what did not change; undefined if there is none.
   */
  previous: Bank | undefined;
  /**
   * The provider's deduplicating content store (docs/store-format.md). A plugin that keeps
   * blobs in it lists the blob ids its checkpoint uses in its section's `blobs` object (one
   * id per line), which garbage collection and copy read.
   */
  store: ContentStore;
  /** Aborts on cancellation, deadline or the hook's timeout. */
  signal: AbortSignal;
  /** Failures upstream of this hook (a prepareFinish sees its children's). */
  failures: readonly HookFailure[];
  /** Reports this hook's progress, 0..1. */
  progress(fraction: number, detail?: string): void;
  /** Calls `check` every interval until it returns a value; HOOK_TIMEOUT after `timeoutMs`. */
  poll<T>(check: (signal: AbortSignal) => Promise<T | undefined>, options: PollOptions): Promise<T>;
  /** A line for the operation log (never put secrets in it). */
  log(message: string): void;
  /**
   * Protect: adds to this resource's statistics (`checkpoints show`, `list`, SPEC §13). Each
   * call adds its numbers to what earlier calls, from any hook of the resource, reported.
   * Hoard measures `durationMs` itself, and adds to `storedBytes` the bytes written into the
   * resource's bank section; a plugin reports what it added to the content store
   * (`StoreWriter.close().bytesWritten`). Ignored outside protect.
   */
  reportStats(stats: Partial<Omit<ResourceStats, 'durationMs'>>): void;
  /**
   * Keeps a command's output with this hook's record in the operation log (`stdout`,
   * `stderr`), the last 64 KiB of each; a later call replaces an earlier one. Like `log`,
   * never pass secrets.
   */
  keepOutput(output: { stdout?: string; stderr?: string }): void;
}

/** What one protect did for one resource, or (summed) for the whole checkpoint (SPEC §13). */
export interface ResourceStats {
  /** Files (or databases, dumps …) the resource's content is: the logical content. */
  files: number;
  /** Bytes of that logical content. */
  bytes: number;
  /** Bytes this protect added to the bank before compression: not deduplicated against what was there. */
  newBytes: number;
  /** Bytes this protect added to the bank as stored (compressed; encryption's few bytes per object aside). */
  storedBytes: number;
  /** Milliseconds the resource's hooks ran, added up (a checkpoint's total: the protect's wall time). */
  durationMs: number;
}

/** One hook: it succeeds by returning, and fails by throwing (a HoardError keeps its code). */
export type Hook<P = UntypedParameters, PP = UntypedParameters> = (
  ctx: HookContext<P, PP>,
) => Promise<void> | void;

/**
 * What a plugin returns for one resource and one operation kind. Every hook is optional.
 * The keys typed `never` are the usual misspellings: an Operation with one does not compile.
 */
export interface Operation<P = UntypedParameters, PP = UntypedParameters> {
  onPrepareBegin?(ctx: HookContext<P, PP>): Promise<void> | void;
  onPrepareFinish?(ctx: HookContext<P, PP>): Promise<void> | void;
  onMain?(ctx: HookContext<P, PP>): Promise<void> | void;
  onComplete?(ctx: HookContext<P, PP>): Promise<void> | void;
  /**
   * Hooks that, like prepareFinish, run whenever this resource's prepareBegin succeeded,
   * even after a failure below them (e.g. a cleanup in complete).
   */
  alwaysRun?: readonly ('main' | 'complete')[];
  /**
   * Hooks that may run again after an agent running them died (SPEC §12): running one twice
   * leaves the same result as once (content-addressed data, say). Such a hook is delivered
   * again to another agent of the host; any other one fails AGENT_LOST. `true`: every hook.
   * Default none. Hooks that run in the coordinating process never run twice.
   */
  idempotent?: boolean | readonly HookName[];
  /** Per-hook timeout in milliseconds; past it the hook's signal aborts and it fails with HOOK_TIMEOUT. */
  timeoutMs?: number;
  /** Misspelling of `timeoutMs` (milliseconds). */
  timeout?: never;
  /** Misspelling of `onPrepareBegin`. */
  prepareBegin?: never;
  /** Misspelling of `onPrepareFinish`. */
  prepareFinish?: never;
  /** Misspelling of `onMain`. */
  main?: never;
  /** Misspelling of `onComplete`. */
  complete?: never;
}

/**
 * A type's operations, one method per operation kind, each typed by the type's schemas: its
 * `resource.extra`, `parameters` and the hooks' `ctx.parameters` are what the schemas say
 * (with TypeBox schemas). Leave a kind out when the type has nothing to do for it (delete
 * and copy: Hoard removes or copies the section itself).
 */
export type TypeOperations<S extends TypeSchemas = TypeSchemas> = {
  [K in OperationKind]?: (
    resource: TypedResource<S>,
    parameters: OperationParameters<ParametersOf<S, K>, FromSchema<S['options']>>,
  ) => Operation<ParametersOf<S, K>, FromSchema<S['options']>> | undefined;
};

/**
 * One resource type a plugin handles: its schemas, and optionally its operations, discovery
 * and browsing. Make one with {@link defineType} to have its operations typed by its schemas.
 */
export interface ResourceTypeSpec<S extends TypeSchemas = TypeSchemas> {
  type: string;
  /** Schemas for this type: `resource` validates the plan entry's extra fields (e.g. `path`). */
  schemas?: S;
  /** Misspelling of `schemas`. */
  schema?: never;
  /**
   * This type's operations, typed by `schemas` (with {@link definePlugin}, which turns them
   * into the plugin's `operation()`). A plugin gives either these or its own `operation()`.
   */
  operations?: TypeOperations<S>;
  /** How resources of this type are found and what they depend on. */
  protectable?: Omit<Protectable, 'type'>;
  /** This type has a restore `target` (so `hoard restore --target` may set it). */
  restoreTarget?: boolean;
  /**
   * Optional: how `hoard ls`, `hoard diff`, `restore --include` and the API look inside a
   * checkpoint of this type without restoring it. Without it, `ls` shows the resource's status
   * only and `diff` compares its stored objects byte for byte.
   */
  browse?: ResourceBrowser;
}

/** What a browse call gets: one resource of one checkpoint, read-only. */
export interface BrowseContext {
  checkpoint: { id: string; plan: string; provider: string };
  resource: Resource;
  /** The protect-time parameters saved in the checkpoint. */
  protectParameters: Record<string, unknown>;
  /** This resource's own section of the checkpoint, read-only. */
  bank: Bank;
  /** The provider's content store; a shared lease is taken at its first use and given up after the call. */
  readonly store: ContentStore;
  signal: AbortSignal;
}

/** One entry of a file-like resource, as `hoard ls CHECKPOINT RESOURCE` shows it (SPEC §13). */
export interface BrowseEntry {
  /** Relative to the resource's root, `/`-separated. */
  path: string;
  type: 'file' | 'dir' | 'symlink';
  /** Bytes: a file's size, a link's target length, 0 for a directory. */
  size: number;
  /** Permission bits, `mode & 0o7777`. */
  mode: number;
  /** ISO 8601 modification time. */
  mtime: string;
  /** Symbolic links: the link's text. */
  target?: string;
  /**
   * Opaque, never shown: equal for two entries exactly when their contents are (a hash of the
   * chunk ids, say). `hoard diff` compares it instead of reading contents.
   */
  digest?: string;
}

/** The browse capability of a resource type; every method is optional. */
export interface ResourceBrowser {
  /**
   * The entries at `path` ('' = the root): a directory's children (with `recursive`, every
   * entry below it), or the one entry a file or link path names; sorted by path. A path the
   * checkpoint does not hold is PATH_NOT_FOUND naming it. `restore --include` checks its paths
   * with this too, before anything runs.
   */
  entries?(ctx: BrowseContext, request: { path: string; recursive: boolean }): Promise<BrowseEntry[]>;
  /** What the checkpoint says of the resource (its saved info: tables and row counts, sizes …). */
  info?(ctx: BrowseContext): Promise<Record<string, unknown>>;
  /**
   * A string equal in two checkpoints exactly when the resource's data is the same (a dump's
   * checksum, say), for `hoard diff` of a resource without entries; undefined if it cannot tell.
   */
  fingerprint?(ctx: BrowseContext): Promise<string | undefined>;
}

/** A protection plugin: what a plugin package exports (made with `definePlugin`). */
export interface ProtectionPlugin {
  /**
   * The plugin's name, e.g. `exec.task`: it names the plugin in messages and logs, and the
   * provider file's section that holds its settings (`[exec.task]`).
   */
  name: string;
  /**
   * The SDK version this plugin was built for, as a literal (`'1.0.0'`, not `SDK_VERSION`,
   * which is the running Hoard's). A plugin loaded from a package or module whose major
   * differs from {@link SDK_VERSION} is refused at load time; one that declares none is loaded
   * as it is.
   */
  sdkVersion?: string;
  description?: string;
  types: readonly ResourceTypeSpec[];
  /**
   * The Operation for `resource` and `kind`, or undefined when the plugin has nothing to do.
   * Hooks it leaves out cost nothing at run time. {@link definePlugin} makes it from the
   * types' `operations` when the plugin gives none.
   */
  operation(kind: OperationKind, resource: Resource, parameters: OperationParameters): Operation | undefined;
}

/** The parameters `ProtectionPlugin.operation` (or a type's `operations`) gets for one resource. */
export interface OperationParameters<P = UntypedParameters, PP = UntypedParameters> {
  /** This operation's parameters for the resource (validated). */
  parameters: P;
  /** The protect-time parameters (for protect, the same object). */
  protectParameters: PP;
}

/**
 * What a {@link definePlugin} factory returns: a {@link ProtectionPlugin} whose `operation()`
 * may be left out when every type gives its `operations`.
 */
export interface PluginDefinition extends Omit<ProtectionPlugin, 'operation'> {
  operation?: ProtectionPlugin['operation'];
  /** Misspelling of `types`. */
  type?: never;
  /** Misspelling of `operation` (or of a type's `operations`). */
  operations?: never;
}

/** `T` with every key that `Shape` does not have typed `never`: an object literal with one does not compile. */
export type Exact<T, Shape> = T & { [K in Exclude<keyof T, keyof Shape>]: never };

/**
 * Settings from the provider file's section named after the plugin's `name` (`[exec.task]`).
 * To learn that name, Hoard may call a package's factory once without settings first: a
 * factory should give its plugin without settings (check them in `operation()` or a hook)
 * and do nothing else.
 */
export type PluginSettings = Record<string, string | string[]>;

/** What an npm package or module path named in `plugin =` exports (default export or `plugin`). */
export type PluginFactory = (settings: PluginSettings) => ProtectionPlugin | Promise<ProtectionPlugin>;

/**
 * Gives a resource type its type: `schemas` (TypeBox's `Type.Object(…)`, or plain JSON Schema
 * objects, which type as `Record<string, unknown>`) type its `operations`' resource, parameters
 * and hook contexts. An unknown key (`schema`, `operation`) does not compile.
 */
export function defineType<const S extends TypeSchemas>(spec: ResourceTypeSpec<S>): ResourceTypeSpec<S> {
  return spec;
}

/**
 * Makes a plugin factory. The plugin it returns gets its `operation()` from its types'
 * `operations` when it gives none of its own (one that gives both is refused when loaded). An
 * unknown top-level key (`timeout`, `schemas`) does not compile.
 */
export function definePlugin<const D extends PluginDefinition>(
  factory: (settings: PluginSettings) => Exact<D, PluginDefinition> | Promise<Exact<D, PluginDefinition>>,
): PluginFactory {
  return (settings) => {
    const made = factory(settings);
    return made instanceof Promise ? made.then(withOperation) : withOperation(made);
  };
}

/** The plugin `definition` describes, with an `operation()` that calls its types' `operations`. */
function withOperation(definition: PluginDefinition): ProtectionPlugin {
  // Anything not an object with types is left for the loader to refuse, naming the plugin.
  if (typeof definition !== 'object' || definition === null || !Array.isArray(definition.types))
    return definition as ProtectionPlugin;
  const typed = definition.types.filter(
    (t) => typeof t === 'object' && t !== null && t.operations !== undefined,
  );
  if (definition.operation !== undefined) {
    if (typed.length > 0) {
      throw new HoardError(
        'PROVIDER_INVALID',
        `plugin "${String(definition.name)}" gives both operation() and operations on type ${typed.map((t) => `"${t.type}"`).join(', ')}: give one`,
        { details: { plugin: String(definition.name) } },
      );
    }
    return definition as ProtectionPlugin;
  }
  const byType = new Map(typed.map((t) => [t.type, t.operations as TypeOperations]));
  return {
    ...definition,
    operation(kind, resource, parameters) {
      const make = byType.get(resource.type)?.[kind];
      return make ? (make(resource, parameters) as Operation | undefined) : undefined;
    },
  };
}
