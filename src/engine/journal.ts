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
 * buffer and write in order, and `flush` waits until everything appended is stored.
 */
export interface Journal {
  load(): Promise<JournalRecord[]>;
  append(record: JournalRecord): void;
  flush(): Promise<void>;
  close(): Promise<void>;
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
 * Appends are batched: records appended while a write is in flight go out in the next
 * write, in order, so a record is never stored without the ones appended before it.
 */
export class FileJournal implements Journal {
  private stream: WriteStream | undefined;
  private pending: string[] = [];
  private writing: Promise<void> | undefined;
  private failure: unknown;

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
    this.pending.push(`${JSON.stringify(record)}\n`);
    if (!this.writing) this.writing = this.drain();
  }

  async flush(): Promise<void> {
    while (this.writing) await this.writing;
    if (this.failure) throw this.failure;
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

  private async drain(): Promise<void> {
    try {
      if (!this.stream) {
        await mkdir(dirname(this.path), { recursive: true });
        this.stream = createWriteStream(this.path, { flags: 'a' });
        await once(this.stream, 'open');
      }
      while (this.pending.length > 0) {
        const batch = this.pending.join('');
        this.pending = [];
        await new Promise<void>((resolve, reject) =>
          this.stream!.write(batch, (error) => (error ? reject(error) : resolve())),
        );
        if (this.options.sync !== false) await fsync(this.stream!);
      }
    } catch (error) {
      this.failure ??= error;
    } finally {
      this.writing = undefined;
    }
  }
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
