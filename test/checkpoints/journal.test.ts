import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { MemoryBank } from '../../src/bank/index.js';
import { BankJournal } from '../../src/checkpoints/journal.js';
import { HoardError } from '../../src/errors.js';

const PREFIX = 'checkpoints/20261123T094512345Z-3fa9c1d2/journal';

const corrupt = (key: string, line?: number) => (error: unknown) => {
  assert.ok(error instanceof HoardError, `not a HoardError: ${String(error)}`);
  assert.equal(error.code, 'JOURNAL_CORRUPT');
  assert.ok(error.message.startsWith(line === undefined ? `${key}: ` : `${key}:${line}: `), error.message);
  assert.equal(error.details?.key, key);
  assert.equal(error.details?.line, line);
  return true;
};

describe('a journal in the bank', () => {
  it('reads back what it stored, batch by batch, and carries on numbering after them', async () => {
    const bank = new MemoryBank();
    const first = new BankJournal(bank, PREFIX);
    first.append({ task: 'a', state: 'running', at: 1, attempt: 1 });
    await first.flush();
    first.append({ task: 'a', state: 'succeeded', at: 2, attempt: 1 });
    await first.close();
    const again = new BankJournal(bank, PREFIX);
    assert.deepEqual(
      (await again.load()).map((r) => `${r.task} ${r.state}`),
      ['a running', 'a succeeded'],
    );
    again.append({ task: 'b', state: 'running', at: 3, attempt: 1 });
    await again.close();
    assert.deepEqual(await bank.list(`${PREFIX}/`), [
      `${PREFIX}/00000000.jsonl`,
      `${PREFIX}/00000001.jsonl`,
      `${PREFIX}/00000002.jsonl`,
    ]);
  });

  it('a damaged object is JOURNAL_CORRUPT naming its key and line, never a SyntaxError', async () => {
    const bank = new MemoryBank();
    const key = `${PREFIX}/00000001.jsonl`;
    await bank.put(`${PREFIX}/00000000.jsonl`, '{"task":"a","state":"running","at":1,"attempt":1}\n');
    await bank.put(key, '{"task":"a","state":"succeeded","at":2,"attempt":1}\n\u0000\u0000garbage\n');
    await assert.rejects(new BankJournal(bank, PREFIX).load(), corrupt(key, 2));
    await bank.put(key, '{"task":"a","state":"exploded","at":2,"attempt":1}\n');
    await assert.rejects(new BankJournal(bank, PREFIX).load(), corrupt(key, 1));
    await bank.put(key, '{"task":"a","state":"succeeded","at":2,"attempt":1}');
    await assert.rejects(new BankJournal(bank, PREFIX).load(), corrupt(key, 1));
    await bank.delete(key);
    await bank.put(`${PREFIX}/notes.txt`, 'hello\n');
    await assert.rejects(new BankJournal(bank, PREFIX).load(), corrupt(`${PREFIX}/notes.txt`));
  });

  it('records appended while a put is in flight go out together in the next object, in order', async () => {
    const bank = new MemoryBank();
    const put = bank.put.bind(bank);
    let puts = 0;
    bank.put = async (key, data) => {
      puts++;
      await new Promise((resolve) => setTimeout(resolve, 2));
      return put(key, data);
    };
    const journal = new BankJournal(bank, PREFIX);
    const flushed: Promise<void>[] = [];
    for (let i = 0; i < 100; i++) {
      journal.append({ task: `t${i}`, state: 'running', at: i, attempt: 1 });
      flushed.push(journal.flush());
      if (i % 10 === 9) await new Promise((resolve) => setTimeout(resolve, 1));
    }
    await Promise.all(flushed);
    assert.ok(puts <= 20, `${puts} puts for 100 records`);
    assert.equal((await bank.list(`${PREFIX}/`)).length, puts);
    const back = await new BankJournal(bank, PREFIX).load();
    assert.deepEqual(
      back.map((r) => r.task),
      Array.from({ length: 100 }, (_, i) => `t${i}`),
    );
  });
});
