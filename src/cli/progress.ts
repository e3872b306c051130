/**
 * Live progress on stderr when it is a terminal: hooks done of all, what is running with
 * its own progress (bytes, for the data plugins), elapsed time and an estimate of what is
 * left. Redrawn at most ten times a second.
 */
import type { EngineEvent } from '../engine/index.js';
import type { HookTask } from '../flows/hook-graph.js';
import type { CliContext, Output } from './context.js';

interface Running {
  label: string;
  startedAt: number;
  fraction: number;
  detail: string | undefined;
}

export class Progress {
  private total = 0;
  private done = 0;
  private readonly running = new Map<string, Running>();
  private readonly started = Date.now();
  private lastDraw = 0;
  private readonly enabled: boolean;
  private readonly out: Output;

  constructor(
    ctx: CliContext,
    private readonly label: string,
  ) {
    this.enabled = ctx.drawsProgress;
    this.out = ctx.io.stderr;
  }

  setTotal(total: number): void {
    this.total = total;
  }

  onEvent = (event: EngineEvent, task: HookTask | undefined): void => {
    if (!this.enabled || !task) return;
    if (event.type === 'progress') {
      const r = this.running.get(event.task);
      if (r) {
        r.fraction = event.fraction;
        r.detail = event.detail;
      }
    } else if (event.type === 'state') {
      if (event.state === 'running') {
        this.running.set(event.task, {
          label: `${task.resource} ${task.hook}`,
          startedAt: Date.now(),
          fraction: 0,
          detail: undefined,
        });
      } else {
        this.running.delete(event.task);
        if (event.state !== 'pending') this.done++;
      }
    }
    this.draw();
  };

  finish(): void {
    if (this.enabled && this.lastDraw) this.out.write('\r\x1b[2K');
  }

  private draw(): void {
    const now = Date.now();
    if (now - this.lastDraw < 100) return;
    this.lastDraw = now;
    const running = [...this.running.values()].slice(0, 2);
    let eta = 0;
    for (const r of running) {
      if (r.fraction > 0.01) eta = Math.max(eta, ((now - r.startedAt) / r.fraction) * (1 - r.fraction));
    }
    const line = progressLine({
      label: this.label,
      done: this.done,
      total: Math.max(this.total, this.done),
      elapsedMs: now - this.started,
      etaMs: eta,
      running: running.map((r) => {
        const pct = r.fraction > 0 ? ` ${Math.round(r.fraction * 100)}%` : '';
        return `${r.label}${pct}${r.detail ? ` (${r.detail})` : ''}`;
      }),
      columns: this.out.columns ?? 100,
    });
    this.out.write(`\r\x1b[2K${line}`);
  }
}

/**
 * One progress line, at most `columns - 1` characters: the counts, the elapsed time and the
 * ETA first, so that a narrow terminal cuts what is running, never the estimate.
 */
export function progressLine(p: {
  label: string;
  done: number;
  total: number;
  elapsedMs: number;
  etaMs: number;
  running: string[];
  columns: number;
}): string {
  const head = `${p.label}: ${p.done}/${p.total} hooks, ${(p.elapsedMs / 1000).toFixed(1)}s${
    p.etaMs > 0 ? `, ETA ${Math.ceil(p.etaMs / 1000)}s` : ''
  }`;
  return [head, ...p.running].join(' — ').slice(0, Math.max(p.columns - 1, head.length));
}

/** Bytes done of a known total on stderr (a terminal only): rate and ETA, redrawn at most ten times a second. */
export class ByteProgress {
  private readonly started = Date.now();
  private lastDraw = 0;
  private readonly enabled: boolean;
  private readonly out: Output;

  constructor(
    ctx: CliContext,
    private readonly label: string,
  ) {
    this.enabled = ctx.drawsProgress;
    this.out = ctx.io.stderr;
  }

  update = (done: number, total: number): void => {
    if (!this.enabled) return;
    const now = Date.now();
    if (now - this.lastDraw < 100 && done < total) return;
    this.lastDraw = now;
    const seconds = (now - this.started) / 1000;
    const rate = seconds > 0 ? done / seconds : 0;
    const eta = rate > 0 && total > done ? ` — ETA ${Math.ceil((total - done) / rate)}s` : '';
    const mb = (n: number) => (n / 1e6).toFixed(n < 1e7 ? 1 : 0);
    this.out.write(
      `\r\x1b[2K${this.label}: ${mb(done)} of ${mb(total)} MB, ${mb(rate)} MB/s, ${seconds.toFixed(1)}s${eta}`,
    );
  };

  finish(): void {
    if (this.enabled && this.lastDraw) this.out.write('\r\x1b[2K');
  }
}
