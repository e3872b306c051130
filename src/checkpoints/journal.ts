import type { Bank } from '../bank/index.js';
import {
  GroupCommit,
  type Journal,
  type JournalRecord,
  journalLines,
  parseJournalLine,
} from '../engine/index.js';
import { HoardError } from '../errors.js';

const OBJECT_NAME = /^(\d{8,})\.jsonl$/;

/**
 * The engine journal of a checkpoint's run, kept in the bank itself so that any process
 * that can read the bank can recover the run. Each batch of records is one object
 * (`<prefix>/<seq>.jsonl`, written atomically), so a crash loses at most the batch in
 * flight and never leaves half a record. An object that is not a batch of records (a bad
 * name, a line that is not a record) means the journal was damaged: `load` fails with
 * JOURNAL_CORRUPT naming the object's key and line, and never guesses.
 *
 * Appends are group-committed ({@link GroupCommit}): the records of every task that changes
 * state while a put is in flight go out together in the next object.
 */
export class BankJournal implements Journal {
  private seq = 0;
  private readonly commit = new GroupCommit<JournalRecord>((batch) =>
    this.bank.put(`${this.prefix}/${String(this.seq++).padStart(8, '0')}.jsonl`, journalLines(batch)),
  );

  constructor(
    private readonly bank: Bank,
    private readonly prefix: string,
  ) {}

  async load(): Promise<JournalRecord[]> {
    const keys = await this.bank.list(`${this.prefix}/`);
    const records: JournalRecord[] = [];
    for (const key of keys) {
      const name = OBJECT_NAME.exec(key.slice(this.prefix.length + 1));
      if (!name) throw damaged(key, undefined, 'not a journal object (they are named <seq>.jsonl)');
      const lines = (await this.bank.get(key)).toString('utf8').split('\n');
      if (lines.pop() !== '') throw damaged(key, lines.length + 1, 'the last record has no newline');
      for (const [i, line] of lines.entries()) {
        const record = parseJournalLine(line);
        if (!record) throw damaged(key, i + 1, 'not a journal record');
        records.push(record);
      }
      this.seq = Math.max(this.seq, Number(name[1]) + 1);
    }
    return records;
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
}

function damaged(key: string, line: number | undefined, problem: string): HoardError {
  const at = line === undefined ? key : `${key}:${line}`;
  return new HoardError('JOURNAL_CORRUPT', `${at}: ${problem}; the journal is damaged`, {
    details: { key, ...(line === undefined ? {} : { line }) },
  });
}
