import assert from 'node:assert/strict';
import { appendFile, mkdtemp, readFile, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import {
  FileJournal,
  GroupCommit,
  type Journal,
  type JournalRecord,
  MemoryJournal,
  runGraph,
  TaskGraph,
} from '../../src/engine/index.js';
import { HoardError } from '../../src/errors.js';

/** freeze → snapshot → thaw(teardown of freeze) → upload, counting how often each runs. */
function pipeline(runs: Record<string, number>, failing: Set<string>) {
  const task = (id: string) => async () => {
    runs[id] = (runs[id] ?? 0) + 1;
    if (failing.has(id)) throw new Error(`${id} crashed`);
  };
  return new TaskGraph()
    .add({ id: 'freeze', run: task('freeze') })
    .add({ id: 'snapshot', run: task('snapshot') })
    .add({ id: 'thaw', teardownOf: 'freeze', run: task('thaw') })
    .add({ id: 'upload', run: task('upload') })
    .edge('freeze', 'snapshot')
    .edge('snapshot', 'thaw')
    .edge('thaw', 'upload');
}

async function tempFile(name: string): Promise<string> {
  return join(await mkdtemp(join(tmpdir(), 'hoard-journal-')), name);
}

describe('journal: resume', () => {
  for (const kind of ['memory', 'file'] as const) {
    it(`(${kind}) re-running against the journal does not run succeeded tasks again`, async () => {
      const path = await tempFile('run.journal');
      const open = (): Journal => (kind === 'memory' ? memory : new FileJournal(path));
      const memory = new MemoryJournal();
      const runs: Record<string, number> = {};
      const first = open();
      const failed = await runGraph(pipeline(runs, new Set(['upload'])), { journal: first });
      await first.close();
      assert.equal(failed.status, 'failed');

      const second = open();
      const resumed = await runGraph(pipeline(runs, new Set()), { journal: second });
      await second.close();
      assert.equal(resumed.status, 'succeeded');
      assert.deepEqual(runs, { freeze: 1, snapshot: 1, thaw: 1, upload: 2 });
    });
  }

  it('loads a journal whose last record was torn by a crash, and appends after it cleanly', async () => {
    const path = await tempFile('torn.journal');
    const runs: Record<string, number> = {};
    const first = new FileJournal(path);
    await runGraph(pipeline(runs, new Set(['snapshot'])), { journal: first });
    await first.close();
    // The process died while writing the next record.
    await appendFile(path, '{"task":"snapshot","state":"succ');

    const second = new FileJournal(path);
    const records = await second.load();
    assert.ok(records.length > 0);
    assert.ok(records.every((r) => typeof r.task === 'string'));
    const result = await runGraph(pipeline(runs, new Set()), { journal: second });
    await second.close();
    assert.equal(result.status, 'succeeded');
    assert.equal(runs.freeze, 1);
    assert.equal(runs.snapshot, 2);
    // Every line of the file is a whole record again.
    const lines = (await readFile(path, 'utf8')).split('\n');
    assert.equal(lines.pop(), '');
    for (const line of lines) JSON.parse(line);
  });

  it('refuses a journal damaged in the middle, naming file and line', async () => {
    const path = await tempFile('bad.journal');
    await writeFile(
      path,
      '{"task":"a","state":"succeeded","at":1,"attempt":1}\nGARBAGE\n{"task":"b","state":"running","at":2,"attempt":1}\n',
    );
    await assert.rejects(new FileJournal(path).load(), (e: unknown) => {
      assert.ok(e instanceof HoardError && e.code === 'JOURNAL_CORRUPT');
      assert.match(e.message, /bad\.journal:2:/);
      return true;
    });
  });

  it('recovery after a crash runs only the teardowns still owed', async () => {
    // The journal a killed process left behind: freeze succeeded, snapshot was running.
    const journal = new MemoryJournal();
    journal.append({ task: 'freeze', state: 'running', at: 1, attempt: 1 });
    journal.append({ task: 'freeze', state: 'succeeded', at: 2, attempt: 1 });
    journal.append({ task: 'snapshot', state: 'running', at: 3, attempt: 1 });
    const runs: Record<string, number> = {};
    const result = await runGraph(pipeline(runs, new Set()), { journal, recover: 'teardowns' });
    assert.deepEqual(runs, { thaw: 1 });
    assert.equal(result.task('snapshot')!.state, 'cancelled');
    assert.equal(result.task('upload')!.state, 'cancelled');
    assert.equal(result.task('thaw')!.state, 'succeeded');
    assert.equal(result.status, 'cancelled');
  });

  it('journals every state change in order', async () => {
    const journal = new MemoryJournal();
    await runGraph(pipeline({}, new Set(['snapshot'])), { journal });
    assert.deepEqual(
      journal.records.map((r) => `${r.task}:${r.state}${r.cause ? `(${r.cause})` : ''}`),
      [
        'freeze:running',
        'freeze:succeeded',
        'snapshot:running',
        'snapshot:failed',
        'thaw:running',
        'thaw:succeeded',
        'upload:upstream_failed(snapshot)',
      ],
    );
    assert.equal(journal.records[3]!.error, 'snapshot crashed');
  });
});

describe('journal: a setup cut off by a crash', () => {
  it('recovery runs the teardown of a setup the journal shows running', async () => {
    const journal = new MemoryJournal();
    journal.append({ task: 'freeze', state: 'running', at: 1, attempt: 1 });
    const runs: Record<string, number> = {};
    const result = await runGraph(pipeline(runs, new Set()), { journal, recover: 'teardowns' });
    assert.deepEqual(runs, { thaw: 1 });
    assert.equal(result.task('freeze')!.state, 'cancelled');
  });

  it('resuming re-runs such a setup, and its own outcome decides', async () => {
    const journal = new MemoryJournal();
    journal.append({ task: 'freeze', state: 'running', at: 1, attempt: 1 });
    const runs: Record<string, number> = {};
    const result = await runGraph(pipeline(runs, new Set(['freeze'])), { journal });
    assert.deepEqual(runs, { freeze: 1 });
    assert.equal(result.task('thaw')!.state, 'upstream_failed');
  });
});

/** A journal whose every write (as an fsync would) takes a few milliseconds; it counts them. */
class SlowJournal implements Journal {
  readonly stored: JournalRecord[] = [];
  writes = 0;
  private readonly commit = new GroupCommit<JournalRecord>(async (batch) => {
    this.writes++;
    await new Promise((resolve) => setTimeout(resolve, 3));
    this.stored.push(...batch);
  });

  async load(): Promise<JournalRecord[]> {
    return [];
  }
  append(record: JournalRecord): void {
    this.commit.append(record);
  }
  flush(): Promise<void> {
    return this.commit.flush();
  }
  close(): Promise<void> {
    return this.flush();
  }
  has(task: string, state: string): boolean {
    return this.stored.some((r) => r.task === task && r.state === state);
  }
}

describe('journal: group commit', () => {
  it('tasks changing state during a write share the next one, and none starts before its records are stored', async () => {
    const journal = new SlowJournal();
    const early: string[] = [];
    const n = 200;
    const graph = new TaskGraph();
    for (let i = 0; i < n; i++) {
      const task = (id: string, before?: string) => async () => {
        // Write-ahead: this task's `running` record, and its predecessor's end, are stored.
        if (!journal.has(id, 'running')) early.push(`${id} started before its running record was stored`);
        if (before && !journal.has(before, 'succeeded'))
          early.push(`${id} started before ${before} was stored ended`);
        // Completions trickle in while writes are in flight.
        await new Promise((resolve) => setTimeout(resolve, i % 7));
      };
      graph.add({ id: `a${i}`, run: task(`a${i}`) }).add({ id: `b${i}`, run: task(`b${i}`, `a${i}`) });
      graph.edge(`a${i}`, `b${i}`);
    }
    const result = await runGraph(graph, { journal });
    assert.equal(result.status, 'succeeded');
    assert.deepEqual(early, []);
    // Reported only once every record is stored.
    assert.equal(journal.stored.length, 4 * n);
    // 800 records: one write per record would be 800; a group commit needs a few dozen.
    assert.ok(journal.writes <= 60, `${journal.writes} writes for ${4 * n} records`);
  });

  it('a flush waits for the write holding its records, not for records appended after it', async () => {
    const gates: (() => void)[] = [];
    const batches: number[][] = [];
    const commit = new GroupCommit<number>(async (batch) => {
      await new Promise<void>((resolve) => gates.push(resolve));
      batches.push(batch);
    });
    commit.append(1);
    commit.append(2);
    const first = commit.flush();
    await Promise.resolve();
    commit.append(3); // the first write is in flight: 3 waits for the next one
    const second = commit.flush();
    let firstDone = false;
    void first.then(() => {
      firstDone = true;
    });
    await until(() => gates.length === 1);
    gates[0]!();
    await first;
    assert.deepEqual(batches, [[1, 2]]);
    commit.append(4); // appended while 3 is being written
    await until(() => gates.length === 2);
    assert.ok(firstDone);
    gates[1]!();
    await second; // does not wait for 4
    assert.deepEqual(batches, [[1, 2], [3]]);
    await until(() => gates.length === 3);
    gates[2]!();
    await commit.flush();
    assert.deepEqual(batches, [[1, 2], [3], [4]]);
  });

  it('after a failed write nothing more is written and every flush rejects with that failure', async () => {
    let writes = 0;
    const commit = new GroupCommit<number>(async () => {
      writes++;
      if (writes === 1) throw new Error('disk full');
    });
    commit.append(1);
    await assert.rejects(commit.flush(), /disk full/);
    commit.append(2);
    await assert.rejects(commit.flush(), /disk full/);
    await new Promise((resolve) => setTimeout(resolve, 5));
    assert.equal(writes, 1);
  });
});

async function until(condition: () => boolean): Promise<void> {
  while (!condition()) await new Promise((resolve) => setImmediate(resolve));
}
