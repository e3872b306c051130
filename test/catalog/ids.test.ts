import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { idTime, isId, newId } from '../../src/catalog/ids.js';

const UUID_V7 = /^[0-9a-f]{8}-[0-9a-f]{4}-7[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/;

describe('catalog ids', () => {
  it('are lowercase UUIDv7 with the RFC 9562 variant, carrying their creation time', () => {
    const at = new Date('2026-05-04T03:02:01.123Z');
    const id = newId(at);
    assert.match(id, UUID_V7);
    assert.ok(isId(id));
    assert.equal(idTime(id).toISOString(), at.toISOString());
    const hex = at.getTime().toString(16).padStart(12, '0');
    assert.equal(id.slice(0, 13), `${hex.slice(0, 8)}-${hex.slice(8)}`);
  });

  it('sort as strings in the order they were made, thousands per millisecond included', () => {
    const made = Array.from({ length: 20_000 }, () => newId());
    assert.deepEqual([...made].sort(), made);
    assert.equal(new Set(made).size, made.length);
  });

  it('made for one fixed instant still sort in order, borrowing the next millisecond when the counter runs out', () => {
    const at = new Date('2030-01-01T00:00:00.000Z');
    const made = Array.from({ length: 10_000 }, () => newId(at));
    assert.deepEqual([...made].sort(), made);
    assert.equal(new Set(made).size, made.length);
    assert.equal(idTime(made[0]!).toISOString(), at.toISOString());
    assert.ok(
      idTime(made.at(-1)!).getTime() > at.getTime(),
      'more than 4096 ids need more than one millisecond',
    );
    for (const id of made) assert.match(id, UUID_V7);
  });

  it('an explicit time gets that time, and does not disturb the ids the clock makes', () => {
    newId(new Date('2030-01-01T00:00:00.000Z'));
    const past = new Date('2001-02-03T04:05:06.007Z');
    assert.equal(idTime(newId(past)).toISOString(), past.toISOString());
    const before = Date.now();
    const id = newId();
    assert.ok(Math.abs(idTime(id).getTime() - before) < 1000, `clock ids keep the clock's time: ${id}`);
  });

  it('isId accepts UUIDs of either case and nothing else', () => {
    assert.ok(isId('0190A5C2-0000-7000-8000-000000000000'));
    for (const bad of [
      '',
      'x',
      '0190a5c2000070008000000000000000',
      '0190a5c2-0000-7000-8000-00000000000g',
      7,
    ]) {
      assert.equal(isId(bad), false, String(bad));
    }
  });

  it('a time outside 48 bits is refused', () => {
    assert.throws(() => newId(new Date(Number.NaN)), { code: 'CATALOG_INVALID' });
    assert.throws(() => newId(new Date(-1)), { code: 'CATALOG_INVALID' });
  });
});
