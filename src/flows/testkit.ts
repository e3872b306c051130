/**
 * The plugin author's test kit: runs a plugin's operations over a small resource graph in
 * hook order, against an in-memory bank, without the CLI, providers or files. It runs the
 * same code a protect does, so a plugin's mistake is met here as an operator would meet it:
 * a plugin that is not one is refused when the harness is made (PROVIDER_INVALID naming the
 * mistake), and an `operation()` or hook that throws or returns garbage fails its resource's
 * hooks with HOOK_FAILED naming plugin, resource, operation and hook.
 *
 * It lives in flows/, not plugins/, because it runs a flow (`runOperation`) and plugins sit
 * below flows; plugin authors import it from `hoard` (src/index.ts), as before.
 */
import { MemoryBank } from '../bank/index.js';
import { encodeSegment } from '../checkpoints/keys.js';
import { HoardError } from '../errors.js';
import type { Parameters } from '../plugins/params.js';
import { parametersFor } from '../plugins/params.js';
import { PluginRegistry } from '../plugins/registry.js';
import type { BrowseContext, OperationKind, ProtectionPlugin } from '../plugins/sdk.js';
import { buildGraph, discoverGraph, type GraphInput } from '../resources/graph.js';
import { resourceKey } from '../resources/resource.js';
import { ContentStore } from '../store/index.js';
import { operationParameters } from './checkpoint-view.js';
import { type OperationInput, type OperationLog, runOperation, withoutResource } from './operation.js';

export interface HarnessOptions {
  plugins: ProtectionPlugin[];
  resources: GraphInput[];
  /**
   * Plan parameters (protect) — saved and passed to later operations as protect-time parameters.
   * @default {}
   */
  parameters?: Parameters;
  /**
   * The bank the checkpoint lives in, reused across `run` calls.
   * @default a fresh MemoryBank
   */
  bank?: MemoryBank;
  /** The checkpoint's id. @default '20260101T000000000Z-00000000' */
  checkpointId?: string;
  /**
   * Ask the plugins' protectables for the dependents of `resources` (recursively) before
   * each run, as a protect does; false: the graph is `resources` as given.
   * @default false
   */
  discover?: boolean;
}

/** How one `PluginHarness.run` runs. */
export interface RunOptions {
  /** Cancels the run as `hoard` does on SIGINT: running hooks' signals abort, teardowns still run. */
  signal?: AbortSignal;
  /** Every engine event of the run (a hook's state, its progress), with the hook task it is about. */
  onEvent?: OperationInput['onEvent'];
}

export class PluginHarness {
  readonly bank: MemoryBank;
  private readonly registry = new PluginRegistry('test');
  private readonly options: HarnessOptions;

  constructor(options: HarnessOptions) {
    this.options = options;
    this.bank = options.bank ?? new MemoryBank();
    for (const plugin of options.plugins) this.registry.add(plugin);
  }

  /**
   * Runs one operation; `parameters` are that operation's (restore, verify …) parameters. The
   * log's lines are what hooks wrote with `ctx.log`, then one line per failed hook with its
   * error: `type#id hook failed: CODE message`.
   */
  async run(
    kind: OperationKind,
    parameters: Parameters = {},
    options: RunOptions = {},
  ): Promise<OperationLog> {
    const graph = this.options.discover
      ? await discoverGraph(this.options.resources, this.registry.protectables(), { source: 'harness' })
      : buildGraph(this.options.resources, 'harness');
    const saved = this.options.parameters ?? {};
    const given = kind === 'protect' ? saved : parameters;
    const id = this.options.checkpointId ?? '20260101T000000000Z-00000000';
    const log = await runOperation({
      kind,
      checkpoint: { id, plan: 'harness', provider: 'test' },
      graph,
      registry: this.registry,
      parameters: operationParameters(kind, graph, this.registry, given, saved, 'harness'),
      bank: this.bank.section(`checkpoints/${id}/`),
      rootBank: this.bank,
      ...(options.signal ? { signal: options.signal } : {}),
      ...(options.onEvent ? { onEvent: options.onEvent } : {}),
    });
    // The log records each failed hook's error after the lines hooks wrote, in the order they ended.
    const failed = log.tasks
      .filter((t) => t.status === 'failed' && t.error)
      .sort((a, b) => (a.endedAt ?? '').localeCompare(b.endedAt ?? ''));
    for (const t of failed)
      log.log.push(
        `${t.resource} ${t.hook} failed: ${t.error!.code ? `${t.error!.code} ` : ''}${withoutResource(t.error!.message, t.resource, t.hook)}`,
      );
    return log;
  }

  /**
   * The read-only context `hoard ls` and `hoard diff` give a type's `browse` methods, for
   * `resource` (`type#id`) in the checkpoint the runs wrote: to test them after `run('protect')`.
   */
  browseContext(resource: string): BrowseContext {
    const input = this.options.resources.find((r) => resourceKey(r.resource) === resource);
    if (!input) {
      throw new HoardError('RESOURCE_NOT_FOUND', `harness: no resource ${resource}`, {
        details: { resource },
      });
    }
    const id = this.options.checkpointId ?? '20260101T000000000Z-00000000';
    const bank = this.bank;
    let store: ContentStore | undefined;
    // No lease: a test's in-memory bank has no collector to keep away.
    return {
      checkpoint: { id, plan: 'harness', provider: 'test' },
      resource: input.resource,
      protectParameters: parametersFor(this.options.parameters ?? {}, input.resource),
      bank: bank.section(`checkpoints/${id}/resources/${encodeSegment(resource)}`, { readOnly: true }),
      get store() {
        store ??= new ContentStore(bank);
        return store;
      },
      signal: new AbortController().signal,
    };
  }
}
