/**
 * A checkpoint's `blobs` object (store/references.ts): binary when every id is a 64-hex id,
 * text otherwise, and both read back; a cut binary object is damage, never fewer ids.
 */
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { describe, it } from 'node:test';
import { HoardError } from '../../src/errors.js';
import { decodeReferences, encodeReferences } from '../../src/store/references.js';

const id = (n: number) => createHash('sha256').update(String(n)).digest('hex');

describe('a checkpoint’s blobs object', () => {
  it('is 32 bytes an id after its magic, sorted and each once, and reads back', () => {
    const ids = [id(3), id(1), id(2), id(1)];
    const data = encodeReferences(ids);
    assert.equal(data.subarray(0, 11).toString('latin1'), 'HOARDREFS1\n');
    assert.equal(data.length, 11 + 3 * 32);
    assert.deepEqual(decodeReferences('k', data), [id(1), id(2), id(3)].sort());
    assert.deepEqual(decodeReferences('k', encodeReferences([])), []);
  });

  it('reads the text form, one id per line, as written before and by plugins by hand', () => {
    const text = Buffer.from(`${id(1)}\n${id(2)}\n`);
    assert.deepEqual(decodeReferences('k', text), [id(1), id(2)]);
  });

  it('stays text when an id is not 64 hex digits, so nothing is lost in the packing', () => {
    const ids = [id(1), 'not-a-hash', id(2).toUpperCase()];
    const data = encodeReferences(ids);
    assert.notEqual(data.subarray(0, 11).toString('latin1'), 'HOARDREFS1\n');
    assert.deepEqual(decodeReferences('k', data).sort(), [...ids].sort());
  });

  it('refuses a binary object cut inside an id (STORE_CORRUPT naming the key)', () => {
    const data = encodeReferences([id(1), id(2)]);
    assert.throws(
      () =>
        decodeReferences('checkpoints/x/resources/fs.directory#a/blobs', data.subarray(0, data.length - 5)),
      (error: unknown) =>
        error instanceof HoardError &&
        error.code === 'STORE_CORRUPT' &&
        /fs\.directory#a\/blobs/.test(error.message),
    );
  });
});

describe('a damaged blobs object is never read as fewer ids', () => {
  const corrupt = (error: unknown) => error instanceof HoardError && error.code === 'STORE_CORRUPT';
  const ids = Array.from({ length: 50 }, (_, n) => id(n));

  it('refuses a binary object whose magic is damaged (else read as text: a few or no ids)', () => {
    const data = encodeReferences(ids);
    for (const at of [0, 5, 9, 10]) {
      const bad = Buffer.from(data);
      bad[at]! ^= 0x01;
      assert.throws(() => decodeReferences('k', bad), corrupt, `magic byte ${at}`);
    }
  });

  it('refuses a binary object whose ids are out of order (a damaged id)', () => {
    const data = encodeReferences(ids);
    const bad = Buffer.from(data);
    bad[11 + 32 * 20]! ^= 0xff; // the first byte of the 21st id
    assert.throws(() => decodeReferences('k', bad), corrupt);
    const swapped = Buffer.concat([data.subarray(0, 11), data.subarray(43, 75), data.subarray(11, 43)]);
    assert.throws(() => decodeReferences('k', swapped), corrupt);
  });

  it('still reads text written by hand, with CRLF or non-hex names', () => {
    assert.deepEqual(decodeReferences('k', Buffer.from(`${id(1)}\r\n${id(2)}\r\n`)).length, 2);
    assert.deepEqual(decodeReferences('k', Buffer.from('not-a-hash\n')), ['not-a-hash']);
  });
});
