/** The one table of error codes: complete, consistent, and the same as docs/errors.md. */
import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import { describe, it } from 'node:test';
import { ERRORS, type ErrorCode, errorSpec } from '../src/errors.js';

describe('the error table', () => {
  it('gives every code an exit status, an HTTP status and a meaning', () => {
    // A code used without an entry does not compile: ErrorCode is keyof typeof ERRORS.
    const code: ErrorCode = 'CHECKPOINT_CORRUPT';
    assert.equal(errorSpec(code).exit, 3);
    for (const [name, spec] of Object.entries(ERRORS)) {
      assert.match(name, /^[A-Z][A-Z_]+$/);
      assert.ok([1, 2, 3, 4].includes(spec.exit), name);
      assert.ok(spec.http >= 400 && spec.http <= 599, name);
      assert.ok(spec.meaning.length > 10 && spec.meaning.endsWith('.'), name);
    }
    assert.deepEqual(errorSpec('NOT_A_CODE'), ERRORS.INTERNAL);
  });

  it('exits 3 when the repository is damaged, 4 when it is busy', () => {
    for (const code of ['STORE_CORRUPT', 'CHECKPOINT_CORRUPT', 'JOURNAL_CORRUPT'] as const)
      assert.equal(ERRORS[code].exit, 3, code);
    for (const code of ['STORE_BUSY', 'LEASE_HELD'] as const) assert.equal(ERRORS[code].exit, 4, code);
    for (const code of [
      'LEASE_LOST',
      'HOOK_FAILED',
      'HOOK_TIMEOUT',
      'INTERNAL',
      'CATALOG_UNAVAILABLE',
    ] as const)
      assert.equal(ERRORS[code].exit, 1, code);
    assert.equal(ERRORS.INTERNAL.http, 500);
    assert.equal(ERRORS.CATALOG_UNAVAILABLE.http, 503);
    for (const code of ['CHECKPOINT_STATE', 'LEASE_HELD', 'STORE_BUSY', 'LEASE_LOST'] as const)
      assert.equal(ERRORS[code].http, 409, code);
  });

  it('docs/errors.md lists exactly the table', async () => {
    const doc = await readFile(new URL('../../docs/errors.md', import.meta.url), 'utf8');
    const rows = doc
      .split('\n')
      .filter((line) => line.startsWith('| `'))
      .map((line) => line.split(' | ').map((cell) => cell.replace(/^\| |`| \|$/g, '')));
    assert.deepEqual(
      rows,
      Object.entries(ERRORS).map(([code, s]) => [code, String(s.exit), String(s.http), s.meaning]),
      'regenerate the table in docs/errors.md from ERRORS',
    );
  });
});
