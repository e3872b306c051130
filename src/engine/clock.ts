/**
 * The engine's only source of time. Injecting a {@link SimulatedClock} makes schedules,
 * timeouts, retries and deadlines deterministic in tests and in the makespan benchmark.
 */
export interface Clock {
  /** Milliseconds on this clock's time line. */
  now(): number;
  /** Calls `fn` once, `ms` from now; returns a handle for {@link Clock.clearTimer}. */
  setTimer(fn: () => void, ms: number): unknown;
  clearTimer(handle: unknown): void;
}

export const systemClock: Clock = {
  now: () => performance.timeOrigin + performance.now(),
  setTimer: (fn, ms) => setTimeout(fn, ms),
  clearTimer: (handle) => clearTimeout(handle as NodeJS.Timeout),
};

/** Resolves after `ms` on `clock`, or rejects with the signal's reason when it aborts first. */
export function sleep(clock: Clock, ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    if (signal?.aborted) return reject(signal.reason);
    const onAbort = () => {
      clock.clearTimer(handle);
      reject(signal?.reason);
    };
    const handle = clock.setTimer(() => {
      signal?.removeEventListener('abort', onAbort);
      resolve();
    }, ms);
    signal?.addEventListener('abort', onAbort, { once: true });
  });
}

interface Timer {
  at: number;
  seq: number;
  fn: () => void;
  cancelled: boolean;
}

/**
 * Virtual time. Nothing advances it but {@link SimulatedClock.run}, which lets every pending
 * promise settle, then jumps to the next timer, so a run of simulated hours takes milliseconds
 * and always produces the same schedule.
 */
export class SimulatedClock implements Clock {
  private time: number;
  private seq = 0;
  private timers: Timer[] = [];

  constructor(start = 0) {
    this.time = start;
  }

  now(): number {
    return this.time;
  }

  setTimer(fn: () => void, ms: number): unknown {
    const timer: Timer = { at: this.time + Math.max(0, ms), seq: this.seq++, fn, cancelled: false };
    // Timers are few relative to tasks; an ordered insert keeps firing order (time, then creation) stable.
    let i = this.timers.length;
    while (i > 0 && this.later(this.timers[i - 1]!, timer)) i--;
    this.timers.splice(i, 0, timer);
    return timer;
  }

  clearTimer(handle: unknown): void {
    if (handle) (handle as Timer).cancelled = true;
  }

  /** Fires every timer in order, including those set while firing, without yielding. */
  fireAll(): void {
    for (let timer = this.timers.shift(); timer; timer = this.timers.shift()) {
      if (timer.cancelled) continue;
      this.time = Math.max(this.time, timer.at);
      timer.fn();
    }
  }

  /** Advances time, timer by timer, until `work` settles; returns its result. */
  async run<T>(work: Promise<T>): Promise<T> {
    let settled = false;
    const done = work.finally(() => {
      settled = true;
    });
    for (;;) {
      await new Promise<void>((resolve) => setImmediate(resolve));
      if (settled) return done;
      const timer = this.timers.shift();
      if (!timer) {
        await new Promise<void>((resolve) => setImmediate(resolve));
        if (settled) return done;
        throw new Error('SimulatedClock.run: the work is waiting on something other than this clock');
      }
      if (timer.cancelled) continue;
      this.time = Math.max(this.time, timer.at);
      timer.fn();
    }
  }

  private later(a: Timer, b: Timer): boolean {
    return a.at > b.at || (a.at === b.at && a.seq > b.seq);
  }
}
