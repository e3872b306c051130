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
