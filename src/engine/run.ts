import { HoardError } from '../errors.js';
import { type Clock, SimulatedClock, sleep, systemClock } from './clock.js';

/** Largest graph that `planned` scheduling dry-runs before starting (two runs on virtual time). */
const PLAN_LIMIT = 20_000;

import type { CompiledGraph, TaskGraph } from './graph.js';
import type { Journal, JournalRecord } from './journal.js';
import { FifoReadyQueue, PriorityReadyQueue, type ReadyQueue } from './ready-queue.js';
import {
  type EngineEvent,
  type RunOptions,
  type RunResult,
  type RunStatus,
  Skip,
  type TaskContext,
  type TaskFailure,
  type TaskRecord,
  type TaskState,
} from './types.js';

interface EndDetail {
  /** The failure, or the cancellation reason. */
  error?: unknown;
  /** When it ended, if not now (a state restored from the journal). */
  at?: number;
  skipReason?: string;
  previous?: TaskState;
}

const NO_DETAIL: EndDetail = Object.freeze({});
const RAN: EndDetail = Object.freeze({ previous: 'running' });

/** Per-task run state. It is also the task's public record (a {@link TaskRecord}). */
class Node<D> implements TaskRecord<D> {
  state: TaskState = 'pending';
  attempts = 0;
  startedAt: number | undefined = undefined;
  endedAt: number | undefined = undefined;
  error: unknown = undefined;
  cause: string | undefined = undefined;
  skipReason: string | undefined = undefined;
  progress = 0;
  /** Predecessors that have not ended yet; the task is resolved when this reaches 0. */
  waiting: number;
  /** Earliest failed task that reached this one through a `success` edge, or -1. */
  failedBy = -1;
  /** The journal shows it running when the last process died: it may have done its work. */
  interrupted = false;
  /** A `success` predecessor was cancelled / skipped. */
  cancelledIn = false;
  skippedIn = false;
  /** Changes with every attempt, so a late answer from a timed-out attempt is ignored. */
  token = 0;
  controller: AbortController | undefined = undefined;
  timer: unknown = undefined;

  constructor(
    readonly index: number,
    readonly id: string,
    readonly data: D | undefined,
    waiting: number,
  ) {
    this.waiting = waiting;
  }
}

class Context<D> implements TaskContext<D> {
  constructor(
    private readonly run: Run<D>,
    private readonly node: Node<D>,
    private readonly token: number,
    readonly attempt: number,
  ) {}

  get id(): string {
    return this.node.id;
  }

  get data(): D | undefined {
    return this.node.data;
  }

  get signal(): AbortSignal {
    return this.run.signalFor(this.node, this.token);
  }

  get failures(): readonly TaskFailure[] {
    return this.run.failuresOf(this.node);
  }

  progress(fraction: number, detail?: string): void {
    if (this.node.token === this.token) this.run.reportProgress(this.node, fraction, detail);
  }

  skip(reason = 'skipped'): Skip {
    return new Skip(reason);
  }

  now(): number {
    return this.run.clock.now();
  }

  sleep(ms: number): Promise<void> {
    return sleep(this.run.clock, ms, this.signal);
  }
}

/** Shared counters: exclusive resources (limit 1) and counted semaphores. */
interface Limits {
  available: Int32Array;
  /** Resource ids each task needs, or undefined. */
  needs: readonly (Int32Array | undefined)[];
  /** Tasks waiting for a resource, created on first use. */
  waiters: (ReadyQueue | undefined)[];
}

/**
 * One execution of a {@link TaskGraph}. Scheduling is event-driven: each task ending
 * touches only its own successors (O(tasks + edges) over the run); ready tasks wait in a
 * priority queue; a task blocked on a resource waits in that resource's queue and is woken
 * when a unit is released, so nothing rescans the graph.
 */
export class Run<D = unknown> {
  readonly clock: Clock;
  /** Settles when every task has ended and the journal is flushed. */
  readonly result: Promise<RunResult<D>>;

  private readonly g: CompiledGraph<D>;
  private readonly nodes: Node<D>[];
  private ready: ReadyQueue;
  private readonly priority: Float64Array;
  private fifo: boolean;
  private readonly limits: Limits | undefined;
  private readonly concurrency: number;
  private readonly journal: Journal | undefined;
  private readonly listeners: ((event: EngineEvent) => void)[] = [];
  private readonly resolveStack: number[] = [];
  private readonly retrying = new Set<Node<D>>();
  /** Tasks begun whose `running` record is not yet known stored, with their attempt's token. */
  private unsynced: Node<D>[] = [];
  private unsyncedTokens: number[] = [];
  private syncQueued = false;
  private readonly counts: Record<TaskState, number> = {
    pending: 0,
    running: 0,
    succeeded: 0,
    failed: 0,
    skipped: 0,
    upstream_failed: 0,
    cancelled: 0,
  };
  private running = 0;
  private ended = 0;
  private looping = false;
  private finished = false;
  private cancelled = false;
  private reason: unknown = undefined;
  private firstFailure: Node<D> | undefined;
  private startedAt = 0;
  private deadlineTimer: unknown;
  private detachSignal: (() => void) | undefined;
  private settle!: (result: RunResult<D>) => void;
  private fail!: (error: unknown) => void;

  constructor(
    private readonly graph: TaskGraph<D>,
    private readonly options: RunOptions = {},
    /** A planning run: each task sleeps for its estimate instead of running. */
    private readonly dryRun = false,
  ) {
    this.g = graph.compile();
    this.clock = options.clock ?? systemClock;
    const concurrency = options.concurrency ?? Number.POSITIVE_INFINITY;
    if (!(concurrency >= 1)) {
      throw new HoardError('GRAPH_INVALID', `concurrency must be at least 1, got ${concurrency}`);
    }
    this.concurrency = concurrency;
    this.journal = options.journal;
    if (options.onEvent) this.listeners.push(options.onEvent);

    const { specs, indegree } = this.g;
    const n = specs.length;
    this.nodes = new Array(n);
    this.priority = new Float64Array(n);
    for (let i = 0; i < n; i++) {
      const spec = specs[i]!;
      this.nodes[i] = new Node(i, spec.id, spec.data, indegree[i]!);
      if (spec.priority) this.priority[i] = spec.priority;
    }
    this.counts.pending = n;
    this.fifo = options.scheduling === 'fifo';
    this.ready = this.newQueue();
    const resources = this.g.resources;
    this.limits = resources && {
      available: resources.limits.slice(),
      needs: resources.needs,
      waiters: new Array(resources.limits.length).fill(undefined),
    };

    this.result = new Promise<RunResult<D>>((resolve, reject) => {
      this.settle = resolve;
      this.fail = reject;
    });
    // Start on a later tick so that the caller can subscribe to every event first.
    if (!dryRun) {
      queueMicrotask(() => {
        this.start().catch((error) => this.fail(error));
      });
    }
  }

  /** Subscribes to every event; returns the unsubscribe function. */
  on(listener: (event: EngineEvent) => void): () => void {
    this.listeners.push(listener);
    return () => {
      const i = this.listeners.indexOf(listener);
      if (i >= 0) this.listeners.splice(i, 1);
    };
  }

  /** The live record of every task, in graph order. */
  get tasks(): readonly TaskRecord<D>[] {
    return this.nodes;
  }

  /**
   * Stops scheduling new work, aborts running tasks through their signal, marks waiting
   * tasks `cancelled`, and still runs every teardown whose setup succeeded.
   */
  cancel(reason: unknown = new HoardError('TASK_CANCELLED', 'the run was cancelled')): void {
    if (this.cancelled || this.finished) return;
    this.cancelled = true;
    this.reason = reason;
    this.emit({ type: 'run', phase: 'cancelling', at: this.clock.now(), reason });
    for (const node of this.nodes) {
      if (node.state === 'running' && !this.owed(node)) node.controller?.abort(reason);
    }
    for (const node of this.retrying) {
      this.clock.clearTimer(node.timer);
      node.timer = undefined;
      this.end(node, 'cancelled', { error: reason });
    }
    this.retrying.clear();
    this.dropNotOwed(this.ready);
    // Owed teardowns parked on a resource go back to the ready queue: the tasks that would
    // have handed them a free unit may just have been cancelled.
    for (const queue of this.limits?.waiters ?? []) {
      if (!queue) continue;
      this.dropNotOwed(queue);
      while (queue.size > 0) this.ready.push(queue.pop());
    }
    this.loop();
  }

  // ---- called by Context ----

  signalFor(node: Node<D>, token: number): AbortSignal {
    if (node.token !== token || node.state !== 'running') return AbortSignal.abort();
    if (!node.controller) {
      node.controller = new AbortController();
      if (this.cancelled && !this.owed(node)) node.controller.abort(this.reason);
    }
    return node.controller.signal;
  }

  failuresOf(node: Node<D>): TaskFailure[] {
    const { start, pred } = this.g.predecessors();
    const seen = new Uint8Array(this.nodes.length);
    const stack = [node.index];
    const failed: Node<D>[] = [];
    while (stack.length > 0) {
      const v = stack.pop()!;
      for (let k = start[v]!; k < start[v + 1]!; k++) {
        const p = pred[k]!;
        if (seen[p]) continue;
        seen[p] = 1;
        stack.push(p);
        if (this.nodes[p]!.state === 'failed') failed.push(this.nodes[p]!);
      }
    }
    failed.sort((a, b) => this.compareEnd(a, b));
    return failed.map((f) => ({ task: f.id, error: f.error }));
  }

  reportProgress(node: Node<D>, fraction: number, detail: string | undefined): void {
    node.progress = Math.min(1, Math.max(0, Number.isFinite(fraction) ? fraction : 0));
    if (this.listeners.length > 0) {
      const event: EngineEvent = {
        type: 'progress',
        task: node.id,
        fraction: node.progress,
        at: this.clock.now(),
      };
      if (detail !== undefined) event.detail = detail;
      this.emit(event);
    }
  }

  // ---- the scheduler ----

  private async start(): Promise<void> {
    this.choosePolicy();
    const records = this.journal ? await this.journal.load() : [];
    this.kickoff(records);
  }

  /** Applies journal records, arms the deadline and the signal, and schedules the roots. */
  private kickoff(records: JournalRecord[] = []): void {
    this.startedAt = this.clock.now();
    this.emit({ type: 'run', phase: 'started', at: this.startedAt });
    this.restore(records);

    const { signal, deadline } = this.options;
    if (deadline !== undefined) {
      this.deadlineTimer = this.clock.setTimer(
        () =>
          this.cancel(
            new HoardError('DEADLINE_EXCEEDED', `the run's deadline of ${deadline} ms passed`, {
              details: { deadline },
            }),
          ),
        deadline,
      );
    }
    if (signal) {
      const onAbort = () => this.cancel(signal.reason);
      signal.addEventListener('abort', onAbort, { once: true });
      this.detachSignal = () => signal.removeEventListener('abort', onAbort);
    }

    // Roots by their compiled in-degree: a task restored above may already have pushed others.
    for (let i = this.nodes.length - 1; i >= 0; i--) {
      if (this.g.indegree[i] === 0) this.resolveStack.push(i);
    }
    if (signal?.aborted) this.cancel(signal.reason);
    else if (this.options.recover === 'teardowns') {
      this.cancel(new HoardError('TASK_CANCELLED', 'recovery runs only the teardowns still owed'));
    }
    this.loop();
  }

  /** Applies journal records: tasks that succeeded or were skipped keep that state. */
  private restore(records: JournalRecord[]): void {
    const last = new Map<string, JournalRecord>();
    for (const record of records) last.set(record.task, record);
    if (last.size === 0) return;
    for (const v of this.g.topo) {
      const node = this.nodes[v]!;
      const record = last.get(node.id);
      if (record?.state === 'running') node.interrupted = true;
      if (!record || (record.state !== 'succeeded' && record.state !== 'skipped')) continue;
      node.attempts = record.attempt;
      node.startedAt = record.at;
      if (record.state === 'skipped') node.skipReason = record.error ?? 'skipped';
      this.end(node, record.state, { at: record.at });
    }
  }

  private loop(): void {
    if (this.looping) return;
    this.looping = true;
    try {
      const { nodes, resolveStack, ready } = this;
      for (;;) {
        if (resolveStack.length > 0) {
          this.resolve(nodes[resolveStack.pop()!]!);
        } else if (ready.size > 0 && this.running < this.concurrency) {
          const node = nodes[ready.pop()]!;
          if (this.limits?.needs[node.index] && !this.acquire(node.index)) continue;
          this.begin(node);
        } else {
          break;
        }
      }
    } finally {
      this.looping = false;
    }
    if (this.unsynced.length > 0 && !this.syncQueued) {
      this.syncQueued = true;
      // On a microtask: tasks begun by other completions already queued share this flush.
      queueMicrotask(() => this.sync());
    }
    if (this.ended === this.nodes.length && !this.finished) this.finish();
  }

  /**
   * Write-ahead with group commit: the tasks begun since the last flush start (or fail with
   * the journal's error) together, once the journal has stored every record appended so far,
   * their `running` records and the ends of the tasks before them.
   */
  private sync(): void {
    this.syncQueued = false;
    const nodes = this.unsynced;
    const tokens = this.unsyncedTokens;
    this.unsynced = [];
    this.unsyncedTokens = [];
    const start = (error: unknown, failed: boolean) => {
      // One scheduling pass for the whole group, not one per task.
      this.looping = true;
      try {
        for (let i = 0; i < nodes.length; i++) {
          if (failed) this.settleAttempt(nodes[i]!, tokens[i]!, error, true);
          else this.invoke(nodes[i]!, tokens[i]!);
        }
      } finally {
        this.looping = false;
      }
      this.loop();
    };
    this.journal!.flush().then(
      () => start(undefined, false),
      (error) => start(error, true),
    );
  }

  /** All predecessors have ended: decide whether the task runs, and if not, how it ends. */
  private resolve(node: Node<D>): void {
    if (node.state !== 'pending') return; // restored from the journal
    const setup = this.g.setupOf[node.index]!;
    if (setup >= 0) {
      const s = this.nodes[setup]!;
      if (this.owed(node)) this.makeReady(node);
      else if (s.state === 'skipped') this.end(node, 'skipped', { skipReason: `setup ${s.id} was skipped` });
      else if (s.state === 'cancelled') this.end(node, 'cancelled', { error: this.reason });
      else {
        this.taint(node, s.state === 'failed' ? s.index : s.failedBy);
        this.end(node, 'upstream_failed');
      }
    } else if (node.failedBy >= 0) {
      this.end(node, 'upstream_failed');
    } else if (node.cancelledIn || this.cancelled) {
      this.end(node, 'cancelled', { error: this.reason });
    } else if (node.skippedIn) {
      this.end(node, 'skipped', { skipReason: 'an upstream task was skipped' });
    } else {
      this.makeReady(node);
    }
  }

  private makeReady(node: Node<D>): void {
    if (this.g.specs[node.index]!.run) {
      this.ready.push(node.index);
    } else {
      node.startedAt = this.clock.now();
      this.end(node, 'succeeded');
    }
  }

  private begin(node: Node<D>): void {
    const token = ++node.token;
    node.attempts++;
    node.controller = undefined;
    node.state = 'running';
    this.counts.pending--;
    this.counts.running++;
    const now = this.clock.now();
    if (node.startedAt === undefined) node.startedAt = now;
    this.running++;
    this.changed(node, 'pending', now);
    if (this.journal && this.options.writeAhead !== false) {
      // The `running` record must be stored before the task can change anything, or a crash
      // could leave work done that recovery does not know about (a freeze nobody thaws).
      // `loop` flushes once for every task it began (see `sync`).
      this.unsynced.push(node);
      this.unsyncedTokens.push(token);
    } else {
      this.invoke(node, token);
    }
  }

  private invoke(node: Node<D>, token: number): void {
    if (node.token !== token || node.state !== 'running') return;
    const spec = this.g.specs[node.index]!;
    if (this.cancelled && !this.owed(node)) {
      this.settleAttempt(node, token, this.reason, true);
      return;
    }
    if (spec.timeout !== undefined) {
      const ms = spec.timeout;
      node.timer = this.clock.setTimer(() => {
        if (node.token !== token || node.state !== 'running') return;
        const error = new HoardError('TASK_TIMEOUT', `task "${node.id}" timed out after ${ms} ms`, {
          details: { task: node.id, timeout: ms },
        });
        node.controller?.abort(error);
        this.settleAttempt(node, token, error, true);
      }, ms);
    }
    let value: unknown;
    try {
      if (this.dryRun) {
        this.clock.setTimer(() => this.settleAttempt(node, token, undefined, false), spec.estimate ?? 1);
        return;
      }
      value = spec.run!(new Context(this, node, token, node.attempts));
    } catch (error) {
      this.settleAttempt(node, token, error, true);
      return;
    }
    if (
      value !== null &&
      typeof value === 'object' &&
      typeof (value as PromiseLike<unknown>).then === 'function'
    ) {
      (value as PromiseLike<unknown>).then(
        (v) => this.settleAttempt(node, token, v, false),
        (e) => this.settleAttempt(node, token, e, true),
      );
    } else {
      this.settleAttempt(node, token, value, false);
    }
  }

  private settleAttempt(node: Node<D>, token: number, value: unknown, threw: boolean): void {
    if (node.token !== token || node.state !== 'running') return;
    if (node.timer !== undefined) {
      this.clock.clearTimer(node.timer);
      node.timer = undefined;
    }
    this.running--;
    this.counts.running--;
    this.counts.pending++;
    node.state = 'pending'; // transient: end() or a retry sets the real state
    if (this.limits?.needs[node.index]) this.release(node.index);
    if (!threw) {
      if (value instanceof Skip) this.end(node, 'skipped', { previous: 'running', skipReason: value.reason });
      else this.end(node, 'succeeded', RAN);
    } else if (this.cancelled && !this.owed(node)) {
      this.end(node, 'cancelled', { previous: 'running', error: value });
    } else if (node.attempts <= (this.g.specs[node.index]!.retry?.retries ?? 0)) {
      this.scheduleRetry(node, value);
    } else {
      this.end(node, 'failed', { previous: 'running', error: value });
    }
    this.loop();
  }

  private scheduleRetry(node: Node<D>, error: unknown): void {
    const policy = this.g.specs[node.index]!.retry!;
    const delay = Math.min(
      policy.maxDelay ?? 60_000,
      (policy.delay ?? 1000) * (policy.factor ?? 2) ** (node.attempts - 1),
    );
    node.error = error;
    this.changed(node, 'running', this.clock.now());
    this.retrying.add(node);
    node.timer = this.clock.setTimer(() => {
      node.timer = undefined;
      if (!this.retrying.delete(node)) return;
      this.ready.push(node.index);
      this.loop();
    }, delay);
  }

  /** Ends a task and passes its outcome to its successors. */
  private end(node: Node<D>, state: TaskState, detail: EndDetail = NO_DETAIL): void {
    const now = detail.at ?? this.clock.now();
    node.state = state;
    node.endedAt = now;
    if (detail.error !== undefined) node.error = detail.error;
    else if (state === 'succeeded' || state === 'skipped') node.error = undefined;
    if (detail.skipReason !== undefined) node.skipReason = detail.skipReason;
    if (state === 'upstream_failed') node.cause = this.nodes[node.failedBy]?.id;
    this.counts.pending--;
    this.counts[state]++;
    this.ended++;
    if (state === 'failed' && (!this.firstFailure || this.compareEnd(node, this.firstFailure) < 0)) {
      this.firstFailure = node;
    }
    this.changed(node, detail.previous ?? 'pending', now, detail.at !== undefined);

    const failure = state === 'failed' ? node.index : node.failedBy;
    const { succStart, succ, succDone } = this.g;
    const nodes = this.nodes;
    for (let k = succStart[node.index]!, stop = succStart[node.index + 1]!; k < stop; k++) {
      const s = nodes[succ[k]!]!;
      if (succDone[k] === 0) {
        if (failure >= 0) this.taint(s, failure);
        else if (state === 'cancelled') s.cancelledIn = true;
        else if (state === 'skipped') s.skippedIn = true;
      }
      if (--s.waiting === 0) this.resolveStack.push(s.index);
    }
  }

  private taint(node: Node<D>, failure: number): void {
    if (failure < 0) return;
    if (node.failedBy < 0 || this.compareEnd(this.nodes[failure]!, this.nodes[node.failedBy]!) < 0) {
      node.failedBy = failure;
    }
  }

  private compareEnd(a: Node<D>, b: Node<D>): number {
    return (a.endedAt ?? 0) - (b.endedAt ?? 0) || a.index - b.index;
  }

  /**
   * A teardown whose setup succeeded runs whatever else happens. So does one whose setup was
   * running when an earlier process died and was not run again: it may have done its work,
   * and an unneeded teardown (a thaw of what is not frozen) is the lesser harm.
   */
  private owed(node: Node<D>): boolean {
    const setup = this.g.setupOf[node.index]!;
    if (setup < 0) return false;
    const s = this.nodes[setup]!;
    return (
      s.state === 'succeeded' ||
      (s.interrupted && s.state === 'cancelled') ||
      (s.state === 'failed' && owesTeardown(s.error))
    );
  }

  private dropNotOwed(queue: ReadyQueue): void {
    const keep: number[] = [];
    while (queue.size > 0) {
      const v = queue.pop();
      const node = this.nodes[v]!;
      if (this.owed(node)) keep.push(v);
      else this.end(node, 'cancelled', { error: this.reason });
    }
    for (const v of keep) queue.push(v);
  }

  private changed(node: Node<D>, previous: TaskState, at: number, restored = false): void {
    if (this.journal && !restored) {
      const record: JournalRecord = { task: node.id, state: node.state, at, attempt: node.attempts };
      if (node.state === 'failed' || (node.state === 'pending' && node.error !== undefined)) {
        record.error = node.error instanceof Error ? node.error.message : String(node.error);
      }
      if (node.state === 'skipped' && node.skipReason !== undefined) record.error = node.skipReason;
      if (node.cause !== undefined) record.cause = node.cause;
      this.journal.append(record);
    }
    if (this.listeners.length > 0) {
      const event: EngineEvent = {
        type: 'state',
        task: node.id,
        state: node.state,
        previous,
        at,
        attempt: node.attempts,
      };
      if (node.error !== undefined && node.state !== 'succeeded') event.error = node.error;
      if (node.cause !== undefined) event.cause = node.cause;
      if (restored) event.restored = true;
      this.emit(event);
    }
  }

  private emit(event: EngineEvent): void {
    for (const listener of this.listeners) listener(event);
  }

  private finish(): void {
    this.finished = true;
    if (this.deadlineTimer !== undefined) this.clock.clearTimer(this.deadlineTimer);
    this.detachSignal?.();
    const endedAt = this.clock.now();
    const counts = { ...this.counts };
    const status: RunStatus = counts.failed > 0 ? 'failed' : counts.cancelled > 0 ? 'cancelled' : 'succeeded';
    const nodes = this.nodes;
    const index = this.g.index;
    const result: RunResult<D> = {
      status,
      reason: this.reason,
      startedAt: this.startedAt,
      endedAt,
      tasks: nodes,
      firstFailure: this.firstFailure?.id,
      counts,
      task: (id) => {
        const i = index.get(id);
        return i === undefined ? undefined : nodes[i];
      },
    };
    this.emit({ type: 'run', phase: 'finished', at: endedAt, reason: this.reason });
    if (this.journal) this.journal.flush().then(() => this.settle(result), this.fail);
    else this.settle(result);
  }

  // ---- resources ----

  /** Takes every resource the task needs, or none and parks it behind the first busy one. */
  private acquire(v: number): boolean {
    const { available, needs, waiters } = this.limits!;
    const need = needs[v]!;
    for (const r of need) {
      if (available[r]! > 0) continue;
      let queue = waiters[r];
      if (!queue) {
        queue = this.newQueue();
        waiters[r] = queue;
      }
      queue.push(v);
      // Units of the other resources stay free: hand them to their own waiters.
      for (const other of need) if (available[other]! > 0) this.wake(other);
      return false;
    }
    for (const r of need) available[r]!--;
    return true;
  }

  private release(v: number): void {
    const { available, needs } = this.limits!;
    for (const r of needs[v]!) {
      available[r]!++;
      this.wake(r);
    }
  }

  private wake(r: number): void {
    const queue = this.limits!.waiters[r];
    if (queue && queue.size > 0) this.ready.push(queue.pop());
  }

  private newQueue(): ReadyQueue {
    return this.fifo ? new FifoReadyQueue() : new PriorityReadyQueue(this.priority, this.g.rank);
  }

  /**
   * `planned` scheduling: when the order matters (a concurrency limit or shared resources)
   * and the graph is small enough, dry-run both policies on a simulated clock with each
   * task lasting its estimate, and keep the shorter schedule. Critical-path list scheduling
   * is usually best, but non-preemptive resources can make it lose to FIFO on some graphs;
   * with estimates from earlier runs this picks the better one before anything starts.
   */
  private choosePolicy(): void {
    const { scheduling = 'planned' } = this.options;
    if (scheduling !== 'planned' || this.dryRun) return;
    const n = this.nodes.length;
    const constrained = Number.isFinite(this.concurrency) || this.g.resources !== undefined;
    if (!constrained || n > PLAN_LIMIT || this.priority.some((p) => p !== 0)) return;
    // Without estimates every task would last 1 ms in the dry run: nothing worth planning on.
    if (!this.g.specs.some((spec) => spec.estimate !== undefined)) return;
    const span = (policy: 'priority' | 'fifo') => {
      const clock = new SimulatedClock();
      const run = new Run(this.graph, { clock, concurrency: this.concurrency, scheduling: policy }, true);
      run.kickoff();
      clock.fireAll();
      return clock.now();
    };
    if (span('fifo') < span('priority')) {
      this.fifo = true;
      this.ready = this.newQueue();
    }
  }
}

/** See {@link TaskSpec.teardownOf}: a failure marked `owesTeardown: true` may have done the setup's work. */
function owesTeardown(error: unknown): boolean {
  return (
    typeof error === 'object' && error !== null && (error as { owesTeardown?: unknown }).owesTeardown === true
  );
}

/** Starts running `graph`; subscribe with `run.on` before awaiting `run.result`. */
export function startRun<D>(graph: TaskGraph<D>, options?: RunOptions): Run<D> {
  return new Run(graph, options);
}

/** Runs `graph` to the end. Rejects only for an invalid graph or a journal that cannot be read or written. */
export async function runGraph<D>(graph: TaskGraph<D>, options?: RunOptions): Promise<RunResult<D>> {
  return new Run(graph, options).result;
}
