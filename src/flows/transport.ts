/**
 * How a hook reaches the process that runs it (SPEC §12). Hooks of a resource without a
 * `host` run in the process that runs the graph, as always; a hook of a resource with a
 * `host` is handed to a {@link HookTransport} as one engine task, and the engine keeps the
 * graph, its order and its failure semantics. `queue/hooks.ts` is the BullMQ transport; another
 * engine could carry hooks by implementing this interface.
 */
import type { ErrorInfo } from '../errors.js';
import { HoardError } from '../errors.js';
import type {
  HookFailure,
  HookName,
  OperationKind,
  OperationParameters,
  ResourceStats,
} from '../plugins/sdk.js';
import type { Resource } from '../resources/resource.js';
import type { BankIdentity } from './bank-identity.js';

/** Everything an agent needs to run one hook of one resource: plain JSON. */
export interface HookRequest {
  kind: OperationKind;
  checkpoint: { id: string; plan: string; provider: string };
  /** The provider's id, which the agent finds among its own providers (by id, else by name). */
  providerId: string;
  /**
   * The coordinator's bank: the agent refuses the hook (AGENT_BANK_MISMATCH) unless its
   * provider opens the same one. Absent only from a coordinator older than the check.
   */
  bank?: BankIdentity;
  /** `type#id` */
  key: string;
  resource: Resource;
  hook: HookName;
  /** The host whose agents run it (`resource.host`). */
  host: string;
  parameters: OperationParameters;
  /** Protect: the plan's previous available checkpoint, for `ctx.previous`. */
  previousCheckpoint?: string;
  /** Copy between stores that name blobs differently: source id → target id. */
  blobIds?: [string, string][];
  failures: HookFailure[];
  /**
   * What tells this dispatch apart from any other: the engine task (`type#id:hook`), its
   * attempt, and for operations other than protect the run (a checkpoint is restored many
   * times; a protect's recovery finds its own dispatches again by id).
   */
  task: string;
  attempt: number;
  run: string;
  /** The plugin declares the hook idempotent: it may be delivered again after an agent died. */
  idempotent: boolean;
  /** A teardown (prepareFinish or an alwaysRun hook): left in the host's queue if no agent takes it in time. */
  teardown: boolean;
}

/** What a hook run elsewhere reports back with its success. */
export interface HookOutcome {
  /** Statistics the hook reported (`ctx.reportStats`) plus the bytes written into its section. */
  stats?: Partial<Omit<ResourceStats, 'durationMs'>>;
  /** What the hook kept with `ctx.keepOutput` (already cut to the last 64 KiB of each). */
  output?: { stdout?: string; stderr?: string };
  /** Lines the hook wrote with `ctx.log`, without the `type#id hook: ` prefix. */
  log: string[];
  /** The member id of the agent that ran it (`hoard agents list`). */
  agent?: string;
}

/** How the engine task follows a hook run elsewhere. */
export interface HookIo {
  /** Aborts on cancellation, deadline or the hook's timeout: the transport stops the remote hook. */
  signal: AbortSignal;
  /** The remote hook's progress, as the engine reports it for a local one. */
  progress(fraction: number, detail?: string): void;
  /** Told which agent took the hook, as soon as one does. */
  taken?(agent: string): void;
}

/**
 * Carries hooks to the processes that run them. `run` settles when the hook has ended there:
 * resolves with its outcome, rejects with its error (a HoardError whose code the hook's
 * failure had, or AGENT_UNAVAILABLE / AGENT_LOST).
 */
export interface HookTransport {
  run(request: HookRequest, io: HookIo): Promise<HookOutcome>;
  /** Gives up its connections; hooks still running are not waited for. */
  close(): Promise<void>;
}

/** A HoardError (or Error) again from its serialised form, with its cause chain. */
export function errorFromInfo(info: ErrorInfo): Error {
  const cause = info.cause ? errorFromInfo(info.cause) : undefined;
  const options = {
    ...(info.details ? { details: info.details } : {}),
    ...(cause ? { cause } : {}),
  };
  let error: Error;
  if (info.code !== undefined && info.name === 'HoardError') {
    // biome-ignore lint/suspicious/noExplicitAny: a code from another Hoard process, kept as it came
    error = new HoardError(info.code as any, info.message, options);
  } else {
    error = new Error(info.message, cause ? { cause } : undefined);
    error.name = info.name;
    if (info.code !== undefined) (error as { code?: string }).code = info.code;
  }
  if (info.stack) error.stack = info.stack;
  return error;
}
