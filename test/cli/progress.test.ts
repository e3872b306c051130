import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { progressLine } from '../../src/cli/progress.js';

describe('the progress line', () => {
  const running = [
    'fs.directory#uploads main 42% (420 of 1000 MB at 95 MB/s, 1200 of 20000 files)',
    'postgres.database#orders main',
  ];

  it('keeps the ETA at 80 columns, cutting what is running instead', () => {
    const line = progressLine({
      label: 'protect',
      done: 3,
      total: 8,
      elapsedMs: 12_345,
      etaMs: 4_200,
      running,
      columns: 80,
    });
    assert.ok(line.length <= 79, `${line.length} characters`);
    assert.match(line, /^protect: 3\/8 hooks, 12\.3s, ETA 5s — fs\.directory#uploads main 42%/);
  });

  it('shows everything on a wide terminal, and no ETA before one is known', () => {
    const line = progressLine({
      label: 'restore',
      done: 0,
      total: 4,
      elapsedMs: 500,
      etaMs: 0,
      running,
      columns: 300,
    });
    assert.equal(line, `restore: 0/4 hooks, 0.5s — ${running.join(' — ')}`);
  });
});
