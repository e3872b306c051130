import type { Bank } from '../bank/index.js';
import type { Journal, JournalRecord } from '../engine/index.js';

/**
 * The engine journal of a checkpoint's run, kept in the bank itself so that any process
 * that can read the bank can recover the run. Each batch of records is one object
 * (`<prefix>/<seq>.jsonl`, written atomically), so a crash loses at most the batch in
 * flight and never leaves half a record.
 */
export class BankJournal implements Journal {
  private pending: JournalRecord[] = [];
  private writing: Promise<void> | undefined;
  private seq = 0;
  private failure: unknown;

  constructor(
    private readonly bank: Bank,
    private readonly prefix: string,
  ) {}

  async load(): Promise<JournalRecord[]> {
    const keys = await this.bank.list(`${this.prefix}/`);
    const records: JournalRecord[] = [];
    for (const key of keys) {
      const text = (await this.bank.get(key)).toString('utf8');
      for (const line of text.split('\n')) if (line) records.push(JSON.parse(line) as JournalRecord);
      this.seq = Math.max(this.seq, Number(key.slice(this.prefix.length + 1).split('.')[0]) + 1);
    }
    return records;
  }

  append(record: JournalRecord): void {
    this.pending.push(record);
    this.writing ??= this.drain();
  }

  async flush(): Promise<void> {
    while (this.writing) await this.writing;
    if (this.failure) throw this.failure;
  }

  close(): Promise<void> {
    return this.flush();
  }

  private async drain(): Promise<void> {
    try {
      while (this.pending.length > 0) {
        const batch = this.pending;
        this.pending = [];
        const key = `${this.prefix}/${String(this.seq++).padStart(8, '0')}.jsonl`;
        await this.bank.put(key, batch.map((r) => `${JSON.stringify(r)}\n`).join(''));
      }
    } catch (error) {
      this.failure ??= error;
    } finally {
      this.writing = undefined;
    }
  }
}
