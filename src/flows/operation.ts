/**
 * Runs one operation kind over a resource graph: builds the hook graph, gives every hook
 * its context, runs it on the engine and turns the result into an operation log.
 */
import { randomUUID } from 'node:crypto';
import type { Bank } from '../bank/index.js';
import { checkpointPrefix, encodeSegment, resourcePrefix } from '../checkpoints/keys.js';
import type { EngineEvent, Journal, RunResult, TaskContext } from '../engine/index.js';
import { startRun } from '../engine/index.js';
import { type ErrorInfo, errorInfo, HoardError } from '../errors.js';
import { describeValue, hookProblem, operationProblem, threw } from '../plugins/contract.js';
import type { PluginRegistry } from '../plugins/registry.js';
import type {
  Hook,
  HookContext,
  HookFailure,
  HookName,
  Operation,
  OperationKind,
  OperationParameters,
  PollOptions,
  ResourceStats,
} from '../plugins/sdk.js';
import type { Provider } from '../providers/provider.js';
import { ResourceGraph } from '../resources/graph.js';
import type { Resource } from '../resources/resource.js';
import type { ContentStore } from '../store/index.js';
import { CountingBank } from './counting-bank.js';
import { operationStore, requireReadable, waitListeners } from './operation-store.js';

export { withoutResource } from './vocabulary.js';

import { type BankIdentity, bankIdentity, bankLocation } from './bank-identity.js';
import { buildHookGraph, type HookGraph, type HookTask, hookTaskId, toTaskGraph } from './hook-graph.js';
import type { HookRequest, HookTransport } from './transport.js';

export { operationStore, requireReadable };

export type OperationStatus = 'running' | 'succeeded' | 'failed' | 'cancelled';

export interface TaskLog {
  resource: string;
  hook: HookName;
  status: string;
  startedAt: string | null;
  endedAt: string | null;
  attempts: number;
  /** For `upstream_failed`: the task that failed first (`type#id:hook`). */
  cause?: string;
  error?: ErrorInfo;
  /** The end (last 64 KiB) of the output of the command the hook ran (exec.task), if it wrote any. */
  stdout?: string;
  stderr?: string;
  /** The resource's host, when an agent of it was to run the hook (SPEC §12). */
  host?: string;
  /** The agent that ran the hook (its member id), once one took it. */
  agent?: string;
}

export interface ResourceLog {
  type: string;
  id: string;
  status: 'succeeded' | 'failed' | 'skipped' | 'cancelled';
  error?: ErrorInfo;
  /** Protect: what the plugin reported, what its section took, and how long its hooks ran. */
  stats?: ResourceStats;
}

/** The record of one run (SPEC §1 "operation log"). */
export interface OperationLog {
  id: string;
  kind: OperationKind;
  status: OperationStatus;
  checkpoint: string;
  plan: string;
  startedAt: string;
  endedAt: string | null;
  /** The first failed task (`type#id:hook`), if any. */
  firstFailure?: string;
  error?: ErrorInfo;
  resources: ResourceLog[];
  tasks: TaskLog[];
  /** Lines hooks wrote with `ctx.log`. */
  log: string[];
}

export interface OperationInput {
  kind: OperationKind;
  checkpoint: { id: string; plan: string; provider: string };
  graph: ResourceGraph;
  registry: PluginRegistry;
  /** Parameters per `type#id` (already validated). */
  parameters: ReadonlyMap<string, OperationParameters>;
  /**
   * Resources that cannot run, by `type#id`, with why (recovery: a type the provider no
   * longer handles, saved parameters its schema now refuses): each of their hooks fails
   * with HOOK_FAILED giving that reason, and the usual failure semantics follow.
   */
  unavailable?: ReadonlyMap<string, unknown>;
  /**
   * Milliseconds a hook may run when its Operation sets no `timeoutMs`; default none.
   * Recovery sets it, so that a hung teardown cannot hold the protect that recovers it.
   */
  defaultTimeoutMs?: number;
  /** The checkpoint's section of the bank (`checkpoints/<id>/`). */
  bank: Bank;
  /** The provider's id, by which an agent finds the same provider (default: `checkpoint.provider`). */
  providerId?: string;
  /** The provider's whole bank (where the content store lives). */
  rootBank: Bank;
  /** What kind of bank `rootBank` is ('fs', 's3'): how the default content store reads it. */
  bankType?: string;
  /** Where `rootBank` is, for an agent's message when its own bank is another (bank-identity.ts). */
  bankLocation?: string;
  /** Protect: the plan's previous available checkpoint, for `ctx.previous`. */
  previousCheckpoint?: string;
  /**
   * The content store hooks get. Default: one that takes a shared lease at its first use and
   * gives it up when the run ends. A protect passes its own, to keep the lease until its
   * checkpoint's final status is written.
   */
  store?: ContentStore;
  journal?: Journal;
  /** Copy between stores that name blobs differently: `ctx.blobIds`, and sections writable. */
  blobIds?: ReadonlyMap<string, string>;
  recover?: 'resume' | 'teardowns';
  signal?: AbortSignal;
  concurrency?: number;
  onEvent?: (event: EngineEvent, task: HookTask | undefined) => void;
  /**
   * Carries the hooks of resources with a `host` to that host's agents (SPEC §12). Without
   * it such a hook fails AGENT_UNAVAILABLE: it is never run here instead of on its host.
   */
  transport?: HookTransport;
}

/** The hook graph of an operation (also what `hoard graph` draws). */
export function operationHookGraph(
  input: Pick<
    OperationInput,
    'kind' | 'graph' | 'registry' | 'parameters' | 'unavailable' | 'defaultTimeoutMs'
  >,
): HookGraph {
  return buildHookGraph(input.graph, (key) => operationOf(input, key));
}

const METHODS = [
  ['onPrepareBegin', 'prepareBegin'],
  ['onPrepareFinish', 'prepareFinish'],
  ['onMain', 'main'],
  ['onComplete', 'complete'],
] as const satisfies readonly (readonly [keyof Operation, HookName])[];

/**
 * The plugin's Operation for one resource, copied field by field after checking it against
 * the SDK. Nothing a plugin does here may stop the run or other resources: if `operation()`
 * throws or returns something that is not an Operation, every hook of the resource fails
 * with HOOK_FAILED naming the plugin, resource, operation and hook — in a run its
 * prepareBegin fails first, so nothing else of it runs and the usual failure semantics
 * (teardowns above it, `upstream_failed`) follow; in a recovery its owed teardowns fail and
 * say why. A single hook that is not a function fails only that hook.
 */
function operationOf(
  input: Pick<
    OperationInput,
    'kind' | 'graph' | 'registry' | 'parameters' | 'unavailable' | 'defaultTimeoutMs'
  >,
  key: string,
): Operation | undefined {
  const node = input.graph.get(key)!;
  const call = `operation("${input.kind}", ${key})`;
  let plugin: string | undefined;
  let value: unknown;
  try {
    if (input.unavailable?.has(key)) throw input.unavailable.get(key);
    const handler = input.registry.handler(node.resource.type);
    plugin = handler.plugin.name;
    const parameters = input.parameters.get(key) ?? { parameters: {}, protectParameters: {} };
    value = handler.plugin.operation(input.kind, node.resource, parameters);
  } catch (error) {
    const why =
      plugin === undefined
        ? `cannot be run: ${error instanceof Error ? error.message : describeValue(error)}`
        : `plugin "${plugin}": ${call} ${threw(error)}`;
    return failingOperation(input.kind, key, plugin, why, error);
  }
  try {
    const problem = operationProblem(value);
    if (problem) return failingOperation(input.kind, key, plugin, `plugin "${plugin}": ${call} ${problem}`);
    if (value === undefined || value === null) return undefined;
    const given = value as Operation;
    const op: Operation = {};
    const timeoutMs = given.timeoutMs ?? input.defaultTimeoutMs;
    if (timeoutMs !== undefined) op.timeoutMs = timeoutMs;
    if (given.alwaysRun !== undefined) op.alwaysRun = [...given.alwaysRun];
    if (given.idempotent !== undefined)
      op.idempotent = typeof given.idempotent === 'boolean' ? given.idempotent : [...given.idempotent];
    for (const [method, hook] of METHODS) {
      const impl: unknown = given[method];
      const bad = hookProblem(method, impl);
      if (bad) op[method] = failingHook(input.kind, key, hook, plugin, `plugin "${plugin}": ${call} ${bad}`);
      else if (impl) op[method] = impl as Hook;
    }
    return op;
  } catch (error) {
    // A getter on the returned object that throws.
    return failingOperation(
      input.kind,
      key,
      plugin,
      `plugin "${plugin}": reading what ${call} returned ${threw(error)}`,
      error,
    );
  }
}

/**
 * The plugin's `hook` for one resource, checked as an operation checks it (a hook that cannot
 * be had fails with HOOK_FAILED saying why): what an agent runs for a host (SPEC §12).
 * Undefined when the plugin does not implement it.
 */
export function resourceHook(
  registry: PluginRegistry,
  kind: OperationKind,
  resource: Resource,
  key: string,
  parameters: OperationParameters,
  hook: HookName,
): Hook | undefined {
  const graph = new ResourceGraph([{ key, resource, children: [], parents: [] }]);
  const op = operationOf({ kind, graph, registry, parameters: new Map([[key, parameters]]) }, key);
  const method = METHODS.find(([, name]) => name === hook)![0];
  return op?.[method] as Hook | undefined;
}

function failingOperation(
  kind: OperationKind,
  key: string,
  plugin: string | undefined,
  why: string,
  cause?: unknown,
): Operation {
  const op: Operation = {};
  for (const [method, hook] of METHODS) op[method] = failingHook(kind, key, hook, plugin, why, cause);
  return op;
}

function failingHook(
  kind: OperationKind,
  key: string,
  hook: HookName,
  plugin: string | undefined,
  why: string,
  cause?: unknown,
): Hook {
  return () => {
    throw new HoardError('HOOK_FAILED', `${key} ${hook}: ${why}`, {
      details: { resource: key, hook, operation: kind, ...(plugin === undefined ? {} : { plugin }) },
      cause,
    });
  };
}

/** `runOperation` on checkpoint `id` (of `plan`) in `provider`'s bank, with its plugins. */
export function runInProvider(
  provider: Provider,
  id: string,
  plan: string,
  input: Omit<OperationInput, 'checkpoint' | 'registry' | 'bank' | 'rootBank'>,
): Promise<OperationLog> {
  return runOperation({
    ...input,
    checkpoint: { id, plan, provider: provider.name },
    providerId: provider.id,
    bankLocation: bankLocation(provider),
    registry: provider.registry,
    bank: provider.bank.section(checkpointPrefix(id)),
    rootBank: provider.bank,
    bankType: provider.bankType,
  });
}

export async function runOperation(input: OperationInput): Promise<OperationLog> {
  const hooks = operationHookGraph(input);
  const byTask = new Map(hooks.tasks.map((t) => [t.id, t.data!]));
  const writable = input.kind === 'protect' || input.kind === 'delete' || input.blobIds !== undefined;
  const lines: string[] = [];
  const startedAt = new Date().toISOString();
  const stats = new Map<string, ResourceStats>();
  const outputs = new Map<string, { stdout?: string; stderr?: string }>();
  const statsOf = (resource: string): ResourceStats => {
    let own = stats.get(resource);
    if (own === undefined) {
      own = { files: 0, bytes: 0, newBytes: 0, storedBytes: 0, durationMs: 0 };
      stats.set(resource, own);
    }
    return own;
  };
  // Who is told when the store must wait for a garbage collection: the hook that last asked for it.
  let waiting: ((message: string) => void) | undefined;
  const store =
    input.store ?? operationStore(input.rootBank, `${input.kind} ${input.checkpoint.id}`, input.bankType);
  waitListeners.set(store, (message) => {
    lines.push(`content store: ${message}`);
    waiting?.(message);
  });

  const runId = randomUUID();
  // Read once, at the first remote hook: which bank the agents must write into.
  let identity: Promise<BankIdentity> | undefined;
  // Which agent ran each remote hook (task id → member id), for the task records.
  const agents = new Map<string, string>();
  const failuresOf = (ectx: TaskContext<HookTask>): HookFailure[] =>
    ectx.failures.map((f) => {
      const t = byTask.get(f.task);
      return { resource: t?.resource ?? f.task, hook: t?.hook ?? 'main', message: messageOf(f.error) };
    });

  const remote = async (task: HookTask, ectx: TaskContext<HookTask>): Promise<void> => {
    const node = input.graph.get(task.resource)!;
    const host = task.host!;
    if (!input.transport) {
      throw new HoardError(
        'AGENT_UNAVAILABLE',
        `${task.resource} ${task.hook}: the resource runs on host "${host}", but HOARD_QUEUE_URL is not set, so no agent of it can be reached`,
        { details: { resource: task.resource, hook: task.hook, host } },
      );
    }
    // An agent writes blobs under its own lease, which ends with its hook; this operation holds
    // the store from before its first dispatch to its end, so no collection runs in between
    // (docs/store-format.md, "What garbage collection may delete").
    await store.hold();
    if (identity === undefined) {
      identity = bankIdentity(input.rootBank, input.bankLocation ?? "the coordinator's bank");
      identity.catch(() => {
        identity = undefined; // the next remote hook reads it again
      });
    }
    const bank = await identity;
    const params = input.parameters.get(task.resource) ?? { parameters: {}, protectParameters: {} };
    const id = hookTaskId(task.resource, task.hook);
    const request: HookRequest = {
      kind: input.kind,
      checkpoint: input.checkpoint,
      providerId: input.providerId ?? input.checkpoint.provider,
      bank,
      key: task.resource,
      resource: node.resource,
      hook: task.hook,
      host,
      parameters: params,
      ...(input.previousCheckpoint ? { previousCheckpoint: input.previousCheckpoint } : {}),
      ...(input.blobIds ? { blobIds: [...input.blobIds] } : {}),
      failures: failuresOf(ectx),
      task: id,
      attempt: ectx.attempt,
      run: input.kind === 'protect' ? 'protect' : `${input.kind}-${runId.slice(0, 8)}`,
      idempotent: task.idempotent === true,
      teardown: task.teardown === true,
    };
    const outcome = await input.transport.run(request, {
      signal: ectx.signal,
      progress: (fraction, detail) => ectx.progress(fraction, detail),
      taken: (agent) => agents.set(id, agent),
    });
    if (outcome.agent) agents.set(id, outcome.agent);
    for (const line of outcome.log) lines.push(`${task.resource} ${task.hook}: ${line}`);
    if (outcome.output) outputs.set(id, outcome.output);
    if (input.kind === 'protect' && outcome.stats) {
      const own = statsOf(task.resource);
      for (const field of ['files', 'bytes', 'newBytes', 'storedBytes'] as const) {
        const value = outcome.stats[field];
        if (typeof value === 'number' && Number.isSafeInteger(value) && value >= 0) own[field] += value;
      }
    }
  };

  const shared: OperationShared = {
    input,
    writable,
    lines,
    outputs,
    statsOf,
    failuresOf,
    store: (ectx) => {
      waiting = (message) => ectx.progress(0, message);
      return store;
    },
  };
  const graph = toTaskGraph(hooks, (task) => (ectx: TaskContext<HookTask>) => {
    if (task.host !== undefined) return remote(task, ectx);
    const local = new LocalHook(shared, task, ectx);
    return callHook(local, local);
  });

  const run = startRun(graph, {
    ...(input.journal ? { journal: input.journal } : {}),
    ...(input.recover ? { recover: input.recover } : {}),
    ...(input.signal ? { signal: input.signal } : {}),
    ...(input.concurrency ? { concurrency: input.concurrency } : {}),
  });
  if (input.onEvent) {
    const onEvent = input.onEvent;
    run.on((e) => onEvent(e, 'task' in e ? byTask.get(e.task) : undefined));
  }
  try {
    const result = await run.result;
    return operationLog(input, result, byTask, startedAt, lines, { stats, outputs, agents }, runId);
  } finally {
    if (input.store === undefined) await store.release().catch(() => {});
  }
}

/** What every hook of one operation run here shares. */
interface OperationShared {
  input: OperationInput;
  writable: boolean;
  lines: string[];
  outputs: Map<string, { stdout?: string; stderr?: string }>;
  statsOf: (resource: string) => ResourceStats;
  failuresOf: (ectx: TaskContext<HookTask>) => HookFailure[];
  store: (ectx: TaskContext<HookTask>) => ContentStore;
}

/**
 * One hook of an operation run in this process: its {@link HookCall} and {@link HookSink} in
 * one object whose fields are read from the operation and the engine's task when asked for.
 * Tens of thousands are made per run (a noop protect of 10 000 resources makes 40 000), so it
 * holds three references instead of a dozen closures.
 */
class LocalHook implements HookCall, HookSink {
  constructor(
    private readonly shared: OperationShared,
    private readonly task: HookTask,
    private readonly ectx: TaskContext<HookTask>,
  ) {}

  get kind(): OperationKind {
    return this.shared.input.kind;
  }
  get checkpoint(): HookCall['checkpoint'] {
    return this.shared.input.checkpoint;
  }
  get registry(): PluginRegistry {
    return this.shared.input.registry;
  }
  get resource(): Resource {
    return this.shared.input.graph.get(this.task.resource)!.resource;
  }
  get key(): string {
    return this.task.resource;
  }
  get hook(): HookName {
    return this.task.hook;
  }
  get impl(): Hook {
    return this.task.impl!;
  }
  get parameters(): OperationParameters {
    return this.shared.input.parameters.get(this.task.resource) ?? { parameters: {}, protectParameters: {} };
  }
  get checkpointBank(): Bank {
    return this.shared.input.bank;
  }
  get rootBank(): Bank {
    return this.shared.input.rootBank;
  }
  get writable(): boolean {
    return this.shared.writable;
  }
  get previousCheckpoint(): string | undefined {
    return this.shared.input.previousCheckpoint;
  }
  get blobIds(): ReadonlyMap<string, string> | undefined {
    return this.shared.input.blobIds;
  }
  /** The engine makes a task's AbortController only when something asks for it. */
  get signal(): AbortSignal {
    return this.ectx.signal;
  }
  store(): ContentStore {
    return this.shared.store(this.ectx);
  }
  failures(): HookFailure[] {
    return this.shared.failuresOf(this.ectx);
  }
  now(): number {
    return this.ectx.now();
  }
  sleep(ms: number): Promise<void> {
    return this.ectx.sleep(ms);
  }
  progress(fraction: number, detail?: string): void {
    this.ectx.progress(fraction, detail);
  }
  log(message: string): void {
    this.shared.lines.push(`${this.task.resource} ${this.task.hook}: ${message}`);
  }
  addStats(field: 'files' | 'bytes' | 'newBytes' | 'storedBytes', value: number): void {
    this.shared.statsOf(this.task.resource)[field] += value;
  }
  keepOutput(kept: { stdout?: string; stderr?: string }): void {
    this.shared.outputs.set(hookTaskId(this.task.resource, this.task.hook), kept);
  }
}

/** One hook to run in this process: what its context is made of. */
export interface HookCall {
  kind: OperationKind;
  checkpoint: { id: string; plan: string; provider: string };
  registry: PluginRegistry;
  resource: Resource;
  /** `type#id` */
  key: string;
  hook: HookName;
  impl: Hook;
  parameters: OperationParameters;
  /** The checkpoint's section of the bank (`checkpoints/<id>/`). */
  checkpointBank: Bank;
  /** The provider's whole bank. */
  rootBank: Bank;
  /** Whether the resource's section may be written (protect, delete, copy with renamed blobs). */
  writable: boolean;
  previousCheckpoint?: string | undefined;
  blobIds?: ReadonlyMap<string, string> | undefined;
  /** The content store, called when the hook first uses it. */
  store: () => ContentStore;
  signal: AbortSignal;
  failures: () => HookFailure[];
  now(): number;
  sleep(ms: number): Promise<void>;
}

/** Where one hook's reports go: the operation's records here, or an agent's job result. */
export interface HookSink {
  progress(fraction: number, detail?: string): void;
  /** A `ctx.log` line, without the `type#id hook: ` prefix. */
  log(message: string): void;
  /** Statistics checked to be whole numbers >= 0 (protect only). */
  addStats(field: 'files' | 'bytes' | 'newBytes' | 'storedBytes', value: number): void;
  keepOutput(kept: { stdout?: string; stderr?: string }): void;
}

/**
 * Runs one hook with its context, here: the same code whether the operation runs it in its own
 * process or an agent runs it for a host (SPEC §12). A failure is HOOK_FAILED naming the
 * resource, hook and plugin (HOOK_FAILED and HOOK_TIMEOUT thrown by the hook are kept).
 */
export async function callHook(call: HookCall, sink: HookSink): Promise<void> {
  const { kind, key, hook } = call;
  const ctx: HookContext = new Context(call, sink);
  try {
    await call.impl(ctx);
  } catch (error) {
    if (error instanceof HoardError && (error.code === 'HOOK_FAILED' || error.code === 'HOOK_TIMEOUT'))
      throw error;
    const plugin = pluginOf(call.registry, call.resource.type);
    // Anything may be thrown; what is not an Error is the plugin's mistake, named as such.
    const message =
      error instanceof Error
        ? error.message
        : `plugin "${plugin}" ${threw(error)} (in its ${kind} operation)`;
    throw new HoardError('HOOK_FAILED', `${key} ${hook}: ${message}`, {
      details: { resource: key, hook, operation: kind, plugin },
      cause: error,
    });
  }
}

/**
 * What a hook is given (`ctx`). One is made for every hook, so what a hook may not use is made
 * when it first asks: its bank sections, the engine's AbortSignal, and the functions (bound to
 * it, so that `const { log } = ctx` works as before).
 */
class Context implements HookContext {
  readonly operation: OperationKind;
  readonly hook: HookName;
  readonly checkpoint: HookContext['checkpoint'];
  readonly resource: Resource;
  readonly parameters: HookContext['parameters'];
  readonly protectParameters: HookContext['protectParameters'];
  declare readonly blobIds?: ReadonlyMap<string, string>;
  readonly #call: HookCall;
  readonly #sink: HookSink;
  #section: Bank | undefined;
  #previous: Bank | null | undefined = null;
  #progress: HookContext['progress'] | undefined;
  #poll: HookContext['poll'] | undefined;
  #log: HookContext['log'] | undefined;
  #reportStats: HookContext['reportStats'] | undefined;
  #keepOutput: HookContext['keepOutput'] | undefined;

  constructor(call: HookCall, sink: HookSink) {
    this.#call = call;
    this.#sink = sink;
    this.operation = call.kind;
    this.hook = call.hook;
    this.checkpoint = call.checkpoint;
    this.resource = call.resource;
    const { parameters, protectParameters } = call.parameters;
    this.parameters = parameters;
    this.protectParameters = protectParameters;
    if (call.blobIds) (this as { blobIds?: ReadonlyMap<string, string> }).blobIds = call.blobIds;
  }

  get bank(): Bank {
    if (this.#section === undefined) {
      const call = this.#call;
      const sink = this.#sink;
      // The hook's calls to the bank stop when the hook is cancelled or times out.
      const plain = call.checkpointBank.section(`resources/${encodeSegment(call.key)}`, {
        readOnly: !call.writable,
        signal: call.signal,
      });
      this.#section =
        call.kind === 'protect'
          ? new CountingBank(plain, (bytes) => sink.addStats('storedBytes', bytes))
          : plain;
    }
    return this.#section;
  }

  get previous(): Bank | undefined {
    if (this.#previous === null) {
      const call = this.#call;
      this.#previous = call.previousCheckpoint
        ? call.rootBank.section(resourcePrefix(call.previousCheckpoint, call.key), {
            readOnly: true,
            signal: call.signal,
          })
        : undefined;
    }
    return this.#previous;
  }

  get store(): ContentStore {
    return this.#call.store();
  }

  get signal(): AbortSignal {
    return this.#call.signal;
  }

  get failures(): HookFailure[] {
    return this.#call.failures();
  }

  get progress(): HookContext['progress'] {
    const sink = this.#sink;
    this.#progress ??= (fraction, detail) => sink.progress(fraction, detail);
    return this.#progress;
  }

  get poll(): HookContext['poll'] {
    const call = this.#call;
    this.#poll ??= (check, options) => poll(call, { resource: call.key, hook: call.hook }, check, options);
    return this.#poll;
  }

  get log(): HookContext['log'] {
    const sink = this.#sink;
    this.#log ??= (message) => sink.log(message);
    return this.#log;
  }

  get reportStats(): HookContext['reportStats'] {
    const call = this.#call;
    const sink = this.#sink;
    this.#reportStats ??= (reported) => {
      if (call.kind !== 'protect') return;
      for (const field of ['files', 'bytes', 'newBytes', 'storedBytes'] as const) {
        const value = (reported as Partial<ResourceStats> | undefined)?.[field];
        if (value === undefined) continue;
        if (!Number.isSafeInteger(value) || value < 0) {
          const plugin = pluginOf(call.registry, call.resource.type);
          throw new HoardError(
            'HOOK_FAILED',
            `${call.key} ${call.hook}: plugin "${plugin}" reported stats.${field} = ${describeValue(value)}; it must be a whole number >= 0`,
            { details: { resource: call.key, hook: call.hook, plugin } },
          );
        }
        sink.addStats(field, value);
      }
    };
    return this.#reportStats;
  }

  get keepOutput(): HookContext['keepOutput'] {
    const sink = this.#sink;
    this.#keepOutput ??= (output) => {
      const kept: { stdout?: string; stderr?: string } = {};
      for (const stream of ['stdout', 'stderr'] as const) {
        const text = output?.[stream];
        if (typeof text === 'string' && text !== '') kept[stream] = lastBytes(text, OUTPUT_BYTES);
      }
      sink.keepOutput(kept);
    };
    return this.#keepOutput;
  }
}

/** How much of each of a hook's output streams the operation log keeps: the end of it. */
export const OUTPUT_BYTES = 64 * 1024;

/** The last `limit` bytes of `text` in UTF-8, not starting inside a character. */
function lastBytes(text: string, limit: number): string {
  const bytes = Buffer.from(text, 'utf8');
  if (bytes.length <= limit) return text;
  let start = bytes.length - limit;
  while (start < bytes.length && ((bytes[start] ?? 0) & 0xc0) === 0x80) start++;
  return bytes.subarray(start).toString('utf8');
}

function operationLog(
  input: OperationInput,
  result: RunResult<HookTask>,
  byTask: Map<string, HookTask>,
  startedAt: string,
  lines: string[],
  reported: {
    stats: Map<string, ResourceStats>;
    outputs: Map<string, { stdout?: string; stderr?: string }>;
    agents: Map<string, string>;
  },
  id: string,
): OperationLog {
  // Tasks start and end many to a millisecond: each millisecond's string is made once.
  const isoOf = new Map<number, string>();
  const iso = (ms: number | undefined) => {
    if (ms === undefined) return null;
    const whole = Math.trunc(ms);
    let text = isoOf.get(whole);
    if (text === undefined) {
      text = new Date(whole).toISOString();
      isoOf.set(whole, text);
    }
    return text;
  };
  const tasks: TaskLog[] = result.tasks.map((t) => {
    const data = byTask.get(t.id)!;
    const log: TaskLog = {
      resource: data.resource,
      hook: data.hook,
      status: t.state,
      startedAt: iso(t.startedAt),
      endedAt: iso(t.endedAt),
      attempts: t.attempts,
    };
    if (t.cause) log.cause = t.cause;
    if (t.state === 'failed' || t.state === 'cancelled') log.error = hookError(t.error, data);
    Object.assign(log, reported.outputs.get(t.id));
    if (data.host !== undefined && data.impl) log.host = data.host;
    const agent = reported.agents.get(t.id);
    if (agent !== undefined) log.agent = agent;
    return log;
  });
  // A hook's time as the engine saw it; a hook that did not run took none.
  const ran = new Map<string, number>();
  for (const t of result.tasks) {
    const data = byTask.get(t.id)!;
    const ms = t.startedAt !== undefined && t.endedAt !== undefined ? t.endedAt - t.startedAt : 0;
    ran.set(data.resource, (ran.get(data.resource) ?? 0) + Math.max(0, Math.round(ms)));
  }
  // Each resource's hooks, grouped in one pass (a filter per resource was quadratic: 1.1 s of
  // a 10,000-resource protect).
  const byResource = new Map<string, TaskLog[]>();
  for (const t of tasks) {
    const own = byResource.get(t.resource);
    if (own) own.push(t);
    else byResource.set(t.resource, [t]);
  }
  const resources: ResourceLog[] = input.graph.nodes.map((node) => {
    const own = byResource.get(node.key) ?? [];
    const failed = own.find((t) => t.status === 'failed') ?? own.find((t) => t.status === 'upstream_failed');
    const entry: ResourceLog = { type: node.resource.type, id: node.resource.id, status: 'succeeded' };
    if (failed) {
      entry.status = 'failed';
      entry.error =
        failed.error ??
        ({
          name: 'HoardError',
          code: 'HOOK_FAILED',
          message: `not run: ${failed.cause} failed first`,
        } satisfies ErrorInfo);
    } else if (own.some((t) => t.status === 'cancelled')) entry.status = 'cancelled';
    else if (own.every((t) => t.status === 'skipped')) entry.status = 'skipped';
    if (input.kind === 'protect' && input.recover === undefined) {
      const counted = reported.stats.get(node.key);
      entry.stats = {
        files: counted?.files ?? 0,
        bytes: counted?.bytes ?? 0,
        newBytes: counted?.newBytes ?? 0,
        storedBytes: counted?.storedBytes ?? 0,
        durationMs: ran.get(node.key) ?? 0,
      };
    }
    return entry;
  });
  const log: OperationLog = {
    id,
    kind: input.kind,
    status: result.status,
    checkpoint: input.checkpoint.id,
    plan: input.checkpoint.plan,
    startedAt,
    endedAt: new Date().toISOString(),
    resources,
    tasks,
    log: lines,
  };
  if (result.firstFailure) log.firstFailure = result.firstFailure;
  if (result.status === 'cancelled' && result.reason !== undefined) log.error = errorInfo(result.reason);
  return log;
}

/** Engine timeouts become HOOK_TIMEOUT naming the hook; everything keeps its cause chain. */
function hookError(error: unknown, task: HookTask): ErrorInfo {
  if (error instanceof HoardError && error.code === 'TASK_TIMEOUT') {
    return errorInfo(
      new HoardError(
        'HOOK_TIMEOUT',
        `${task.resource} ${task.hook}: did not finish within ${task.timeoutMs} ms`,
        {
          details: { resource: task.resource, hook: task.hook },
          cause: error,
        },
      ),
    );
  }
  return errorInfo(error);
}

function pluginOf(registry: PluginRegistry, type: string): string | undefined {
  try {
    return registry.handler(type).plugin.name;
  } catch {
    return undefined;
  }
}

function messageOf(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}

async function poll<T>(
  ectx: { signal: AbortSignal; now(): number; sleep(ms: number): Promise<void> },
  task: { resource: string; hook: HookName },
  check: (signal: AbortSignal) => Promise<T | undefined>,
  { intervalMs = 1000, timeoutMs, what }: PollOptions,
): Promise<T> {
  if (!(timeoutMs > 0)) {
    throw new HoardError(
      'HOOK_FAILED',
      `${task.resource} ${task.hook}: poll needs a timeoutMs > 0 (polling never waits forever)`,
    );
  }
  const deadline = ectx.now() + timeoutMs;
  for (;;) {
    const value = await check(ectx.signal);
    if (value !== undefined) return value;
    const left = deadline - ectx.now();
    if (left <= 0) {
      throw new HoardError(
        'HOOK_TIMEOUT',
        `${task.resource} ${task.hook}: gave up after ${timeoutMs} ms waiting for ${what}`,
        {
          details: { resource: task.resource, hook: task.hook, timeoutMs },
        },
      );
    }
    await ectx.sleep(Math.min(intervalMs, left));
  }
}
