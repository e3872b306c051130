/**
 * The plugin SDK: what a protection plugin implements and what its hooks receive. Third
 * parties import these types from `hoard` and ship plugins as npm packages.
 */
import type { Bank } from '../bank/index.js';
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

/** A JSON Schema (draft 2020-12 / 07 subset that Ajv understands). */
export type JsonSchema = Record<string, unknown>;

/** A hook that failed in this operation, as `HookContext.failures` lists them. */
export interface HookFailure {
  /** `type#id` of the resource whose hook failed. */
  resource: string;
  hook: HookName;
  message: string;
}

/** How `HookContext.poll` waits for something outside Hoard (a snapshot, a job) to be ready. */
export interface PollOptions {
  /** Milliseconds between checks. Default 1000. */
  intervalMs?: number;
  /** Give up after this many milliseconds with HOOK_TIMEOUT. Required: polling never waits forever. */
  timeoutMs: number;
  /** What is being waited for, for the timeout message (e.g. "snapshot snap-1 to complete"). */
  what: string;
}

/** What a hook is given: where it runs, its parameters and bank, and how to report back. */
export interface HookContext {
  operation: OperationKind;
  hook: HookName;
  checkpoint: { id: string; plan: string; provider: string };
  resource: Resource;
  /** This operation's parameters for the resource: `type`, then `type#id` merged over it, validated. */
  parameters: Record<string, unknown>;
  /** The protect-time parameters saved in the checkpoint (for restore, verify, copy, delete). */
  protectParameters: Record<string, unknown>;
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
export type Hook = (ctx: HookContext) => Promise<void> | void;

/** What a plugin returns for one resource and one operation kind. Every hook is optional. */
export interface Operation {
  onPrepareBegin?: Hook;
  onPrepareFinish?: Hook;
  onMain?: Hook;
  onComplete?: Hook;
  /**
   * Hooks that, like prepareFinish, run whenever this resource's prepareBegin succeeded,
   * even after a failure below them (e.g. a cleanup in complete).
   */
  alwaysRun?: readonly ('main' | 'complete')[];
  /** Per-hook timeout in milliseconds; past it the hook's signal aborts and it fails with HOOK_TIMEOUT. */
  timeoutMs?: number;
}

/** One resource type a plugin handles: its schemas, and optionally discovery and browsing. */
export interface ResourceTypeSpec {
  type: string;
  /** Schemas for this type: `resource` validates the plan entry's extra fields (e.g. `path`). */
  schemas?: {
    resource?: JsonSchema;
    options?: JsonSchema;
    restore?: JsonSchema;
    verify?: JsonSchema;
    savedInfo?: JsonSchema;
  };
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
   * Hooks it leaves out cost nothing at run time.
   */
  operation(kind: OperationKind, resource: Resource, parameters: OperationParameters): Operation | undefined;
}

/** The parameters `ProtectionPlugin.operation` gets for one resource. */
export interface OperationParameters {
  /** This operation's parameters for the resource (validated). */
  parameters: Record<string, unknown>;
  /** The protect-time parameters (for protect, the same object). */
  protectParameters: Record<string, unknown>;
}

/**
 * Settings from the provider file's section named after the plugin's `name` (`[exec.task]`).
 * To learn that name, Hoard may call a package's factory once without settings first: a
 * factory should give its plugin without settings (check them in `operation()` or a hook)
 * and do nothing else.
 */
export type PluginSettings = Record<string, string | string[]>;

/** What an npm package or module path named in `plugin =` exports (default export or `plugin`). */
export type PluginFactory = (settings: PluginSettings) => ProtectionPlugin | Promise<ProtectionPlugin>;

/** Identity helper that gives a plugin object its type. */
export function definePlugin(factory: PluginFactory): PluginFactory {
  return factory;
}
