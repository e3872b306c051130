/** The tasks that may start now, in the order the scheduling policy wants them. */
export interface ReadyQueue {
  readonly size: number;
  push(task: number): void;
  /** Removes and returns the next task; only call when `size > 0`. */
  pop(): number;
}

/**
 * Binary heap of task indices: higher priority first, then longer remaining path (the
 * critical path), then the order tasks were added, so equal inputs always schedule alike.
 */
export class PriorityReadyQueue implements ReadyQueue {
  private heap = new Int32Array(64);
  size = 0;

  constructor(
    private readonly priority: Float64Array,
    private readonly rank: Float64Array,
  ) {}

  push(task: number): void {
    if (this.size === this.heap.length) {
      const grown = new Int32Array(this.heap.length * 2);
      grown.set(this.heap);
      this.heap = grown;
    }
    const heap = this.heap;
    let i = this.size++;
    while (i > 0) {
      const parent = (i - 1) >> 1;
      const p = heap[parent]!;
      if (!this.before(task, p)) break;
      heap[i] = p;
      i = parent;
    }
    heap[i] = task;
  }

  pop(): number {
    const heap = this.heap;
    const top = heap[0]!;
    const last = heap[--this.size]!;
    const n = this.size;
    let i = 0;
    for (;;) {
      let child = 2 * i + 1;
      if (child >= n) break;
      if (child + 1 < n && this.before(heap[child + 1]!, heap[child]!)) child++;
      const c = heap[child]!;
      if (!this.before(c, last)) break;
      heap[i] = c;
      i = child;
    }
    heap[i] = last;
    return top;
  }

  private before(a: number, b: number): boolean {
    const pa = this.priority[a]!;
    const pb = this.priority[b]!;
    if (pa !== pb) return pa > pb;
    const ra = this.rank[a]!;
    const rb = this.rank[b]!;
    if (ra !== rb) return ra > rb;
    return a < b;
  }
}

/** First ready, first started: the baseline the makespan benchmark compares with. */
export class FifoReadyQueue implements ReadyQueue {
  private items = new Int32Array(64);
  private head = 0;
  private tail = 0;

  get size(): number {
    return this.tail - this.head;
  }

  push(task: number): void {
    if (this.tail === this.items.length) {
      const live = this.items.subarray(this.head, this.tail);
      const next = live.length * 2 > this.items.length ? new Int32Array(this.items.length * 2) : this.items;
      next.set(live);
      this.tail -= this.head;
      this.head = 0;
      this.items = next;
    }
    this.items[this.tail++] = task;
  }

  pop(): number {
    return this.items[this.head++]!;
  }
}
