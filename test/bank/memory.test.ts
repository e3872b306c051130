import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { MemoryBank } from '../../src/bank/index.js';
import { bankConformance, memoryFixture, rejectsWith } from './conformance.js';

bankConformance('MemoryBank', memoryFixture());

describe('MemoryBank', () => {
  it('copies objects in and out, so callers cannot change what is stored', async () => {
    const bank = new MemoryBank();
    const bytes = Buffer.from('abc');
    await bank.put('k', bytes);
    bytes[0] = 0x7a;
    const read = await bank.get('k');
    read[1] = 0x7a;
    assert.equal((await bank.get('k')).toString(), 'abc');
  });

  it('takes modifiedAt from its clock', async () => {
    const bank = new MemoryBank({ now: () => 1234 });
    await bank.put('k', 'x');
    assert.deepEqual(await bank.head('k'), { size: 1, modifiedAt: 1234 });
  });

  it('a bank made read-only refuses every write', async () => {
    const bank = new MemoryBank({ readOnly: true });
    assert.equal(bank.readOnly, true);
    await rejectsWith(bank.put('k', 'x'), 'BANK_READ_ONLY', /the bank is read-only/);
    await rejectsWith(bank.acquireLease('job', { owner: 'o', ttlMs: 1000 }), 'BANK_READ_ONLY');
    assert.deepEqual(await bank.list(''), []);
  });
});
