import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { keyProblem } from '../../src/bank/index.js';
import { isKeySegment } from '../../src/bank/keys.js';
import { INVALID_KEYS } from './conformance.js';

describe('bank keys', () => {
  it('every invalid key has a stated problem, and valid ones none', () => {
    for (const key of INVALID_KEYS) assert.ok(keyProblem(key), key);
    for (const key of ['a', 'a/b/c', 'checkpoints/20261123T094512345Z-3fa9c1d2/meta.json', 'x.', 'a..b']) {
      assert.equal(keyProblem(key), undefined, key);
    }
  });

  it('names the fault: leading or trailing "/", empty, dot and oversized segments, bad characters', () => {
    assert.equal(keyProblem('/a'), 'it starts with "/"');
    assert.equal(keyProblem('a/'), 'it ends with "/"');
    assert.equal(keyProblem('a//b'), 'it has an empty segment ("//")');
    assert.equal(keyProblem('a/../b'), 'it has a ".." segment');
    assert.equal(keyProblem('a/.x'), 'its segment ".x" starts with "."');
    assert.equal(keyProblem('a\nb'), 'it holds "\\n", outside [A-Za-z0-9._~#%@+=,:-]');
    assert.match(keyProblem(`a/${'s'.repeat(256)}`)!, /longer than 255 characters/);
  });

  it('temp files, the lease directory and foreign names are not key segments', () => {
    assert.equal(isKeySegment('.tmp-0123'), false);
    assert.equal(isKeySegment('.leases'), false);
    assert.equal(isKeySegment('has space'), false);
    assert.equal(isKeySegment('meta.json'), true);
  });
});
