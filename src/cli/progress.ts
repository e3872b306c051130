/** Live progress on stderr for runs that take a while: hooks done, what runs, elapsed, ETA. */
import type { EngineEvent } from '../engine/index.js';
import type { HookTask } from '../flows/hook-graph.js';

export class Progress {
  private total = 0;
  private done = 0;
  private readonly running = new Map<string, string>();
  private readonly started = Date.now();
  private lastDraw = 0;
  private readonly enabled: boolean;

  constructor(private readonly label: string) {
    this.enabled = process.stderr.isTTY === true && process.env.CI !== 'true';
  }

  setTotal(total: number): void {
    this.total = total;
  }

  onEvent = (event: EngineEvent, task: HookTask | undefined): void => {
    if (!this.enabled || event.type !== 'state' || !task) return;
    if (event.state === 'running') this.running.set(event.task, `${task.resource} ${task.hook}`);
    else {
      this.running.delete(event.task);
      if (event.state !== 'pending') this.done++;
    }
    this.draw();
  };

  finish(): void {
    if (this.enabled && this.lastDraw) process.stderr.write('\r\x1b[2K');
  }

  private draw(): void {
    const now = Date.now();
    if (now - this.lastDraw < 100) return;
    this.lastDraw = now;
    const elapsed = (now - this.started) / 1000;
    const eta =
      this.done > 0 && this.total > this.done
        ? ` ETA ${Math.ceil((elapsed / this.done) * (this.total - this.done))}s`
        : '';
    const what = [...this.running.values()].slice(0, 2).join(', ');
    const line = `${this.label}: ${this.done}/${this.total} hooks, ${elapsed.toFixed(1)}s${eta}${what ? ` — ${what}` : ''}`;
    process.stderr.write(`\r\x1b[2K${line.slice(0, (process.stderr.columns ?? 100) - 1)}`);
  }
}
