import { once } from 'node:events';
import { createWriteStream, fsync as fsyncFd, type WriteStream } from 'node:fs';
import { mkdir, readFile, truncate } from 'node:fs/promises';
import { dirname } from 'node:path';
import { HoardError } from '../errors.js';
import type { TaskState } from './types.js';

/** One state change of one task. */
export interface JournalRecord {
  task: string;
  state: TaskState;
  at: number;
  attempt: number;
  /** Message of the error for `failed`, the first failed task for `upstream_failed`. */
  error?: string;
  cause?: string;
}

/**
 * Where a run persists its state changes so that a crashed run can be resumed, or its owed
 * teardowns run, by a later process. `append` must not block the scheduler: implementations
 * buffer and write in order. `flush` resolves once every record appended before the call is
 * stored (it need not wait for records appended after it), and rejects for good once a
 * write has failed.
 */
export interface Journal {
  load(): Promise<JournalRecord[]>;
  append(record: JournalRecord): void;
  flush(): Promise<void>;
  close(): Promise<void>;
}

/**
 * Group commit for a journal whose every write is durable (an fsync, an atomic object): records
 * appended while a write is in flight go out together in the next write, in order, so a steady
 * stream of state changes costs one write per write's latency, not one per record. `flush`
 * waits for the write that holds the last record appended before it, not for the queue to run
 * dry. After a failed write nothing more is written (a record is never stored without every
 * record appended before it) and every flush rejects with that failure.
 */
export class GroupCommit<T> {
  private pending: T[] = [];
  private appended = 0;
  private stored = 0;
  private writing = false;
  private failed = false;
  private failure: unknown;
  /** Flushes in the order they were asked for, so also in the order of `upTo`. */
  private waiters: { upTo: number; resolve: () => void; reject: (error: unknown) => void }[] = [];

  /** `write` stores one batch durably; it is never called again before the previous call settles. */
  constructor(private readonly write: (batch: T[]) => Promise<void>) {}

  /** Records appended and not yet covered by a finished write. */
  get unstored(): number {
    return this.appended - this.stored;
  }

  append(record: T): void {
    this.pending.push(record);
    this.appended++;
    if (!this.writing && !this.failed) {
      this.writing = true;
      // Started on a microtask: the records a scheduler appends in one synchronous pass share it.
      queueMicrotask(() => void this.drain());
    }
  }

  flush(): Promise<void> {
    if (this.failed) return Promise.reject(this.failure);
    if (this.stored === this.appended) return Promise.resolve();
    const upTo = this.appended;
    return new Promise((resolve, reject) => this.waiters.push({ upTo, resolve, reject }));
  }

  private async drain(): Promise<void> {
    try {
      while (this.pending.length > 0) {
        const batch = this.pending;
        this.pending = [];
        await this.write(batch);
        this.stored += batch.length;
        let done = 0;
        while (done < this.waiters.length && this.waiters[done]!.upTo <= this.stored) {
          this.waiters[done++]!.resolve();
        }
        if (done > 0) this.waiters.splice(0, done);
      }
    } catch (error) {
      this.failed = true;
      this.failure = error;
      this.pending = [];
      const waiters = this.waiters;
      this.waiters = [];
      for (const waiter of waiters) waiter.reject(error);
    } finally {
      this.writing = false;
    }
  }
}

export class MemoryJournal implements Journal {
  readonly records: JournalRecord[] = [];

  async load(): Promise<JournalRecord[]> {
    return this.records.slice();
  }

  append(record: JournalRecord): void {
    this.records.push(record);
  }

  async flush(): Promise<void> {}
  async close(): Promise<void> {}
}

export interface FileJournalOptions {
  /** fsync after each batch of records, so a power loss keeps what `flush` reported stored. Default true. */
  sync?: boolean;
}

/**
 * An append-only file of JSON lines, one record per line. A record counts only once its
 * newline is written, so a process killed in the middle of a write leaves a torn last line
 * that `load` drops (and cuts off, so later appends start on a clean line). A bad line
 * anywhere else means the file was damaged and is reported, never skipped.
 *
 * Appends are group-committed ({@link GroupCommit}): one write and one fsync per batch.
 */
export class FileJournal implements Journal {
  private stream: WriteStream | undefined;
  private readonly commit = new GroupCommit<JournalRecord>((batch) => this.write(batch));

  constructor(
    readonly path: string,
    private readonly options: FileJournalOptions = {},
  ) {}

  async load(): Promise<JournalRecord[]> {
    let text: string;
    try {
      text = await readFile(this.path, 'utf8');
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === 'ENOENT') return [];
      throw error;
    }
    const records: JournalRecord[] = [];
    let lineStart = 0;
    let line = 1;
    while (lineStart < text.length) {
      const end = text.indexOf('\n', lineStart);
      if (end === -1) {
        // Torn tail: the writer died mid-record. Drop it from the file too.
        await truncate(this.path, Buffer.byteLength(text.slice(0, lineStart)));
        break;
      }
      const raw = text.slice(lineStart, end);
      records.push(parseRecord(raw, this.path, line));
      lineStart = end + 1;
      line++;
    }
    return records;
  }

  append(record: JournalRecord): void {
    this.commit.append(record);
  }

  flush(): Promise<void> {
    return this.commit.flush();
  }

  async close(): Promise<void> {
    try {
      await this.flush();
    } finally {
      // The file is closed even when the last flush failed.
      const stream = this.stream;
      this.stream = undefined;
      if (stream) {
        stream.end();
        await once(stream, 'close');
      }
    }
  }

  private async write(batch: JournalRecord[]): Promise<void> {
    if (!this.stream) {
      await mkdir(dirname(this.path), { recursive: true });
      this.stream = createWriteStream(this.path, { flags: 'a' });
      await once(this.stream, 'open');
    }
    const text = journalLines(batch);
    await new Promise<void>((resolve, reject) =>
      this.stream!.write(text, (error) => (error ? reject(error) : resolve())),
    );
    if (this.options.sync !== false) await fsync(this.stream);
  }
}

/** Records as journal lines, each ended by a newline. */
export function journalLines(records: readonly JournalRecord[]): string {
  let text = '';
  for (const record of records) text += `${JSON.stringify(record)}\n`;
  return text;
}

async function fsync(stream: WriteStream): Promise<void> {
  const fd = (stream as unknown as { fd: number | null }).fd;
  if (typeof fd !== 'number') return;
  await new Promise<void>((resolve, reject) => fsyncFd(fd, (error) => (error ? reject(error) : resolve())));
}

const STATES = new Set([
  'pending',
  'running',
  'succeeded',
  'failed',
  'skipped',
  'upstream_failed',
  'cancelled',
]);

function parseRecord(raw: string, path: string, line: number): JournalRecord {
  const record = parseJournalLine(raw);
  if (!record) {
    throw new HoardError('JOURNAL_CORRUPT', `${path}:${line}: not a journal record; the file is damaged`, {
      details: { path, line },
    });
  }
  return record;
}

/** One line of a journal as a record, or undefined when it is not one (the journal is damaged). */
export function parseJournalLine(raw: string): JournalRecord | undefined {
  let value: unknown;
  try {
    value = JSON.parse(raw);
  } catch {
    return undefined;
  }
  const r = value as Partial<JournalRecord> | null;
  if (
    typeof r !== 'object' ||
    r === null ||
    typeof r.task !== 'string' ||
    typeof r.state !== 'string' ||
    !STATES.has(r.state) ||
    typeof r.at !== 'number' ||
    typeof r.attempt !== 'number'
  )
    return undefined;
  return r as JournalRecord;
}
