import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { Readable } from 'node:stream';
import { describe, it } from 'node:test';
import { type Bank, MemoryBank, type MemoryBankOptions, Parts } from '../../src/bank/index.js';
import { HoardError } from '../../src/errors.js';

/** A bank under test, with a lease clock the test moves by hand. */
export interface Fixture {
  bank: Bank;
  /** Moves the lease clock forward. */
  advance(ms: number): void;
  /** Another handle on the same bank, as a second process would open it. */
  reopen(): Bank;
  close(): Promise<void>;
}

export type MakeFixture = () => Promise<Fixture>;

/** Rejects with a HoardError of `code` whose message matches `message`, if given. */
export async function rejectsWith(
  promise: Promise<unknown>,
  code: string,
  message?: RegExp | string,
): Promise<void> {
  await assert.rejects(promise, (error: unknown) => isHoardError(error, code, message));
}

export function throwsWith(fn: () => unknown, code: string, message?: RegExp | string): void {
  assert.throws(fn, (error: unknown) => isHoardError(error, code, message));
}

/** Asserts `error` is a HoardError of `code` whose message matches or contains `message`. */
function isHoardError(error: unknown, code: string, message: RegExp | string | undefined): true {
  assert.ok(error instanceof HoardError, `expected a HoardError, got ${String(error)}`);
  assert.equal(error.code, code, error.message);
  if (typeof message === 'string') assert.ok(error.message.includes(message), error.message);
  else if (message) assert.match(error.message, message);
  return true;
}

const MiB = 1024 * 1024;

/** `size` bytes in 64 KiB chunks whose content depends on the position, so reordering shows. */
function* pattern(size: number): Generator<Buffer> {
  for (let offset = 0; offset < size; offset += 65536) {
    const chunk = Buffer.alloc(Math.min(65536, size - offset));
    for (let i = 0; i < chunk.length; i++) chunk[i] = ((offset + i) * 31 + ((offset + i) >> 16)) & 0xff;
    yield chunk;
  }
}

function sha256(chunks: Iterable<Buffer>): string {
  const hash = createHash('sha256');
  for (const chunk of chunks) hash.update(chunk);
  return hash.digest('hex');
}

async function streamHash(stream: Readable): Promise<{ hash: string; size: number }> {
  const hash = createHash('sha256');
  let size = 0;
  for await (const chunk of stream) {
    hash.update(chunk as Buffer);
    size += (chunk as Buffer).length;
  }
  return { hash: hash.digest('hex'), size };
}

async function putAll(bank: Bank, keys: string[]): Promise<void> {
  for (const key of keys) await bank.put(key, key);
}

/** Keys in key order the way a caller sorts strings, to compare listings with. */
function sorted(keys: string[]): string[] {
  return [...keys].sort((a, b) => (a < b ? -1 : a > b ? 1 : 0));
}

export const INVALID_KEYS = [
  '/',
  '/a$',
  '/path/../dots/',
  '',
  'a//b',
  'a/',
  '.hidden',
  'a/.tmp-x',
  'a/./b',
  'a/../b',
  '..',
  'a b',
  'a$b',
  'ключ',
  'a\\b',
  'x'.repeat(1025),
  `a/${'s'.repeat(256)}`,
];

/** The behaviour every Bank shares, run against each implementation. */
/** A memory bank made with `options` (its clock moved by `advance`) as a conformance fixture. */
export function memoryFixture(options: Omit<MemoryBankOptions, 'now'> = {}): MakeFixture {
  return async () => {
    let now = Date.now();
    const bank = new MemoryBank({ ...options, now: () => now });
    return {
      bank,
      advance: (ms) => {
        now += ms;
      },
      reopen: () => bank,
      close: async () => {},
    };
  };
}

export function bankConformance(name: string, make: MakeFixture): void {
  const withBank = (fn: (fixture: Fixture) => Promise<void>) => async () => {
    const fixture = await make();
    try {
      await fn(fixture);
    } finally {
      await fixture.close();
    }
  };

  describe(`${name}: objects`, () => {
    it(
      'stores and reads back bytes, a Uint8Array and a string',
      withBank(async ({ bank }) => {
        await bank.put('b', Buffer.from([0, 1, 2, 255]));
        await bank.put('u', new Uint8Array([9, 8, 7]));
        await bank.put('s', 'héllo');
        await bank.put('empty', '');
        assert.deepEqual(await bank.get('b'), Buffer.from([0, 1, 2, 255]));
        assert.deepEqual(await bank.get('u'), Buffer.from([9, 8, 7]));
        assert.equal((await bank.get('s')).toString('utf8'), 'héllo');
        assert.equal((await bank.get('empty')).length, 0);
      }),
    );

    it(
      'stores an object given as Parts (some over shared memory, as a pack is) and reads it back whole',
      withBank(async ({ bank }) => {
        // Large enough that an encrypting bank seals it on a worker thread (seal-pool.ts).
        const shared = Buffer.from(new SharedArrayBuffer(1536 * 1024));
        for (let i = 0; i < shared.length; i++) shared[i] = (i * 7 + (i >> 12)) & 0xff;
        const pieces = [
          shared.subarray(0, 70_000),
          Buffer.from('between'),
          shared.subarray(70_000),
          Buffer.alloc(3, 1),
        ];
        await bank.put('pack', new Parts(pieces));
        assert.ok((await bank.get('pack')).equals(Buffer.concat(pieces)));
        await bank.put('small', new Parts([Buffer.from('a'), shared.subarray(0, 10)]));
        assert.ok(
          (await bank.get('small')).equals(Buffer.concat([Buffer.from('a'), shared.subarray(0, 10)])),
        );
        await bank.put('none', new Parts([]));
        assert.equal((await bank.get('none')).length, 0);
      }),
    );

    it(
      'an overwrite replaces the whole object, even with a shorter one',
      withBank(async ({ bank }) => {
        await bank.put('k', 'a long first version');
        await bank.put('k', 'short');
        assert.equal((await bank.get('k')).toString(), 'short');
      }),
    );

    it(
      'get and getStream of a missing key fail with BANK_NOT_FOUND naming the key',
      withBank(async ({ bank }) => {
        await rejectsWith(bank.get('no/such'), 'BANK_NOT_FOUND', /"no\/such"/);
        await rejectsWith(bank.getStream('no/such'), 'BANK_NOT_FOUND', /"no\/such"/);
        await bank.put('dir/k', 'x');
        await rejectsWith(bank.get('dir'), 'BANK_NOT_FOUND', /"dir"/);
        await rejectsWith(bank.get('dir/k/deeper'), 'BANK_NOT_FOUND');
        await rejectsWith(bank.section('s').get('k'), 'BANK_NOT_FOUND', /"s\/k"/);
      }),
    );

    it(
      'head gives the size and modification time; head and exists report a missing key as absent',
      withBank(async ({ bank }) => {
        const before = Date.now() - 5000;
        await bank.put('d/k', 'four');
        const info = await bank.head('d/k');
        assert.equal(info?.size, 4);
        assert.ok(typeof info?.modifiedAt === 'number' && info.modifiedAt >= before);
        assert.equal(await bank.exists('d/k'), true);
        assert.equal(await bank.head('d/missing'), undefined);
        assert.equal(await bank.head('d'), undefined);
        assert.equal(await bank.exists('d'), false);
      }),
    );

    it(
      'delete removes the object; deleting a missing key or a "directory" is not an error',
      withBank(async ({ bank }) => {
        await bank.put('a/b', 'x');
        await bank.put('a/c', 'y');
        await bank.delete('a/b');
        assert.equal(await bank.exists('a/b'), false);
        await bank.delete('a/b');
        await bank.delete('never/was');
        await bank.delete('a');
        assert.deepEqual(await bank.list(''), ['a/c']);
      }),
    );

    it(
      'puts a 5 MiB stream and reads it back through getStream',
      withBank(async ({ bank }) => {
        const size = 5 * MiB + 123;
        await bank.put('big/object', Readable.from(pattern(size)));
        assert.equal((await bank.head('big/object'))?.size, size);
        const read = await streamHash(await bank.getStream('big/object'));
        assert.deepEqual(read, { hash: sha256(pattern(size)), size });
        assert.equal(sha256([await bank.get('big/object')]), read.hash);
      }),
    );

    it(
      'getPieces gives the bytes getStream does, each piece copied before the next is asked for',
      withBank(async ({ bank }) => {
        const size = 5 * MiB + 123;
        await bank.put('big/object', Readable.from(pattern(size)));
        assert.ok(bank.getPieces, 'the bank offers getPieces');
        const copies: Buffer[] = [];
        for await (const piece of await bank.getPieces('big/object')) copies.push(Buffer.from(piece));
        assert.equal(Buffer.concat(copies).length, size);
        assert.equal(sha256(copies), sha256(pattern(size)));
        await rejectsWith(bank.getPieces('no/such'), 'BANK_NOT_FOUND', /"no\/such"/);
      }),
    );

    it(
      'puts from an async iterable of bytes and strings',
      withBank(async ({ bank }) => {
        async function* chunks() {
          yield Buffer.from('ab');
          yield new Uint8Array([99]);
          yield 'dé' as unknown as Uint8Array;
        }
        await bank.put('it', chunks());
        assert.equal((await bank.get('it')).toString('utf8'), 'abcdé');
      }),
    );

    it(
      'a put whose stream fails leaves the old object, and no new key',
      withBank(async ({ bank }) => {
        await bank.put('k', 'old');
        async function* failing() {
          yield Buffer.alloc(100_000, 1);
          throw new Error('source broke');
        }
        await assert.rejects(bank.put('k', failing()), /source broke/);
        await assert.rejects(bank.put('fresh/k', failing()), /source broke/);
        assert.equal((await bank.get('k')).toString(), 'old');
        assert.deepEqual(await bank.list(''), ['k']);
      }),
    );

    it(
      'getRange reads part of an object: to its end at most, nothing past it',
      withBank(async ({ bank }) => {
        await bank.put('r/k', '0123456789');
        assert.equal((await bank.getRange('r/k', 0, 4)).toString(), '0123');
        assert.equal((await bank.getRange('r/k', 3, 4)).toString(), '3456');
        assert.equal((await bank.getRange('r/k', 7, 100)).toString(), '789');
        assert.equal((await bank.getRange('r/k', 0, 10)).toString(), '0123456789');
        assert.equal((await bank.getRange('r/k', 9, 1)).toString(), '9');
        assert.equal((await bank.getRange('r/k', 10, 5)).length, 0);
        assert.equal((await bank.getRange('r/k', 1000, 5)).length, 0);
        assert.equal((await bank.getRange('r/k', 2, 0)).length, 0);
        await bank.put('r/empty', '');
        assert.equal((await bank.getRange('r/empty', 0, 5)).length, 0);
        const size = 5 * MiB + 123;
        await bank.put('r/big', Readable.from(pattern(size)));
        const whole = Buffer.concat([...pattern(size)]);
        const offset = 3 * MiB + 17;
        assert.ok((await bank.getRange('r/big', offset, MiB)).equals(whole.subarray(offset, offset + MiB)));
        assert.equal(await bank.section('r').getRange('k', 1, 2).then(String), '12');
      }),
    );

    it(
      'getRange of a missing key fails with BANK_NOT_FOUND, a bad range with BANK_ARGUMENT_INVALID',
      withBank(async ({ bank }) => {
        await rejectsWith(bank.getRange('no/such', 0, 10), 'BANK_NOT_FOUND', /"no\/such"/);
        await rejectsWith(bank.getRange('no/such', 0, 0), 'BANK_NOT_FOUND');
        await bank.put('dir/k', 'x');
        await rejectsWith(bank.getRange('dir', 0, 1), 'BANK_NOT_FOUND', /"dir"/);
        for (const [offset, length] of [
          [-1, 1],
          [0, -1],
          [1.5, 1],
          [0, Number.NaN],
          [0, Number.POSITIVE_INFINITY],
        ] as const) {
          await rejectsWith(bank.getRange('dir/k', offset, length), 'BANK_ARGUMENT_INVALID');
        }
        await rejectsWith(bank.getRange('a$b', 0, 1), 'BANK_KEY_INVALID');
      }),
    );

    it(
      'an object cannot have keys under it: BANK_KEY_CONFLICT either way round',
      withBank(async ({ bank }) => {
        await bank.put('a', 'object');
        await rejectsWith(bank.put('a/b', 'x'), 'BANK_KEY_CONFLICT', /"a" is an object/);
        await rejectsWith(bank.put('a/b/c', 'x'), 'BANK_KEY_CONFLICT', /"a" is an object/);
        await bank.put('d/e/f', 'x');
        await rejectsWith(bank.put('d/e', 'x'), 'BANK_KEY_CONFLICT', /keys under "d\/e\/" exist/);
        await rejectsWith(bank.put('d', 'x'), 'BANK_KEY_CONFLICT');
        assert.deepEqual(await bank.list(''), ['a', 'd/e/f']);
        await bank.delete('d/e/f');
        await bank.put('d/e', 'now an object');
        await bank.delete('a');
        await bank.put('a/b', 'now under a');
        assert.deepEqual(await bank.list(''), ['a/b', 'd/e']);
      }),
    );
  });

  describe(`${name}: keys`, () => {
    it(
      'rejects invalid keys with BANK_KEY_INVALID naming the key and the fault, before touching the bank',
      withBank(async ({ bank }) => {
        for (const key of INVALID_KEYS) {
          const named = JSON.stringify(key).slice(0, 40);
          await rejectsWith(bank.put(key, 'x'), 'BANK_KEY_INVALID', named);
          await rejectsWith(bank.get(key), 'BANK_KEY_INVALID', named);
          await rejectsWith(bank.getStream(key), 'BANK_KEY_INVALID', named);
          await rejectsWith(bank.getRange(key, 0, 1), 'BANK_KEY_INVALID', named);
          await rejectsWith(bank.head(key), 'BANK_KEY_INVALID', named);
          await rejectsWith(bank.exists(key), 'BANK_KEY_INVALID', named);
          await rejectsWith(bank.delete(key), 'BANK_KEY_INVALID', named);
          await rejectsWith(bank.acquireLease(key, { owner: 'o', ttlMs: 1000 }), 'BANK_KEY_INVALID', named);
          await rejectsWith(bank.leaseInfo(key), 'BANK_KEY_INVALID', named);
        }
        assert.deepEqual(await bank.list(''), []);
      }),
    );

    it(
      'says what is wrong with a key',
      withBank(async ({ bank }) => {
        await rejectsWith(bank.put('/a$', 'x'), 'BANK_KEY_INVALID', /starts with "\/"/);
        await rejectsWith(bank.put('a//b', 'x'), 'BANK_KEY_INVALID', /empty segment/);
        await rejectsWith(bank.put('a/../b', 'x'), 'BANK_KEY_INVALID', /"\.\." segment/);
        await rejectsWith(bank.put('a$b', 'x'), 'BANK_KEY_INVALID', /holds "\$"/);
        await rejectsWith(bank.put('', 'x'), 'BANK_KEY_INVALID', /empty/);
        await rejectsWith(bank.put('x'.repeat(1025), 'x'), 'BANK_KEY_INVALID', /longer than 1024/);
      }),
    );

    it(
      'accepts every character of [A-Za-z0-9._~#%@+=,:-] and keys of 1024 characters',
      withBank(async ({ bank }) => {
        const keys = [
          'ABCxyz019',
          'a.b_c~d#e%f@g+h=i,j:k-l',
          'type#id%2Fwith%2Fslashes/meta.json',
          'a..b/c.',
          `${Array.from({ length: 7 }, () => 'p'.repeat(127)).join('/')}/${'q'.repeat(128)}`,
        ];
        assert.equal(keys.at(-1)!.length, 1024);
        await putAll(bank, keys);
        assert.deepEqual(await bank.list(''), sorted(keys));
      }),
    );

    it(
      'a section cannot be escaped: "../other" from section "sub" is rejected',
      withBank(async ({ bank }) => {
        await bank.put('other', 'outside');
        const sub = bank.section('sub');
        await rejectsWith(sub.get('../other'), 'BANK_KEY_INVALID', /"\.\.\/other" in section "sub"/);
        await rejectsWith(sub.put('../other', 'x'), 'BANK_KEY_INVALID');
        await rejectsWith(sub.delete('../other'), 'BANK_KEY_INVALID');
        await rejectsWith(sub.list('../'), 'BANK_KEY_INVALID');
        await rejectsWith(sub.list('..'), 'BANK_KEY_INVALID');
        await rejectsWith(sub.acquireLease('../x', { owner: 'o', ttlMs: 1000 }), 'BANK_KEY_INVALID');
        throwsWith(() => sub.section('../other'), 'BANK_KEY_INVALID');
        throwsWith(() => sub.section('x/..'), 'BANK_KEY_INVALID');
        await rejectsWith(sub.put('', 'x'), 'BANK_KEY_INVALID', /"sub\/"/);
        await rejectsWith(sub.put('/abs', 'x'), 'BANK_KEY_INVALID', /"sub\/\/abs"/);
        assert.equal((await bank.get('other')).toString(), 'outside');
      }),
    );

    it(
      'section prefixes are validated like keys, allowing one trailing "/"',
      withBank(async ({ bank }) => {
        for (const prefix of ['', '/', '/a', 'a//', 'a//b', '..', '.x', 'a$']) {
          throwsWith(() => bank.section(prefix), 'BANK_KEY_INVALID');
        }
        await bank.section('a/b/').put('k', 'x');
        assert.deepEqual(await bank.section('a/b').list(''), ['k']);
        assert.deepEqual(await bank.list(''), ['a/b/k']);
      }),
    );

    it(
      'a list prefix may be empty, end with "/" or stop inside a segment; others are rejected',
      withBank(async ({ bank }) => {
        await putAll(bank, ['ab', 'a/b']);
        assert.deepEqual(await bank.list(''), ['a/b', 'ab']);
        assert.deepEqual(await bank.list('a/'), ['a/b']);
        assert.deepEqual(await bank.list('a'), ['a/b', 'ab']);
        for (const prefix of ['/', '/a', 'a//', '..', '../', 'a/.', 'a$']) {
          await rejectsWith(bank.list(prefix), 'BANK_KEY_INVALID');
        }
      }),
    );
  });

  describe(`${name}: listing`, () => {
    it(
      "Karbor's case: in section 'sec', list('', {limit: 2, marker: 'KeyB'}) gives ['KeyC']",
      withBank(async ({ bank }) => {
        const sec = bank.section('sec');
        await putAll(sec, ['KeyA', 'KeyB', 'KeyC']);
        assert.deepEqual(await sec.list('', { limit: 2, marker: 'KeyB' }), ['KeyC']);
        assert.deepEqual(await sec.list(''), ['KeyA', 'KeyB', 'KeyC']);
        assert.deepEqual(await sec.list('', { limit: 2 }), ['KeyA', 'KeyB']);
        assert.deepEqual(await sec.list('', { order: 'desc', marker: 'KeyB' }), ['KeyA']);
        assert.deepEqual(await bank.list('sec/', { marker: 'sec/KeyA' }), ['sec/KeyB', 'sec/KeyC']);
      }),
    );

    it(
      'lists in ascending and descending order, honouring marker and limit',
      withBank(async ({ bank }) => {
        const keys = ['k1', 'k2', 'k3', 'k4', 'k5'];
        await putAll(bank, [...keys].reverse());
        assert.deepEqual(await bank.list('k'), keys);
        assert.deepEqual(await bank.list('k', { order: 'desc' }), [...keys].reverse());
        assert.deepEqual(await bank.list('k', { marker: 'k2', limit: 2 }), ['k3', 'k4']);
        assert.deepEqual(await bank.list('k', { marker: 'k4', limit: 2, order: 'desc' }), ['k3', 'k2']);
        assert.deepEqual(await bank.list('k', { marker: 'k5' }), []);
        assert.deepEqual(await bank.list('k', { marker: 'k1', order: 'desc' }), []);
        assert.deepEqual(await bank.list('k', { limit: 1, order: 'desc' }), ['k5']);
        assert.deepEqual(await bank.list('k', { limit: 0 }), []);
      }),
    );

    it(
      'a marker need not be an existing key, nor lie under the prefix',
      withBank(async ({ bank }) => {
        await putAll(bank, ['p/a', 'p/c', 'p/e']);
        assert.deepEqual(await bank.list('p/', { marker: 'p/b' }), ['p/c', 'p/e']);
        assert.deepEqual(await bank.list('p/', { marker: 'p/d', order: 'desc' }), ['p/c', 'p/a']);
        assert.deepEqual(await bank.list('p/', { marker: 'a' }), ['p/a', 'p/c', 'p/e']);
        assert.deepEqual(await bank.list('p/', { marker: 'z' }), []);
        assert.deepEqual(await bank.list('p/', { marker: 'z', order: 'desc' }), ['p/e', 'p/c', 'p/a']);
        assert.deepEqual(await bank.list('p/', { marker: 'p' }), ['p/a', 'p/c', 'p/e']);
        assert.deepEqual(await bank.list('p/', { marker: 'p/' }), ['p/a', 'p/c', 'p/e']);
        assert.deepEqual(await bank.list('p/', { marker: 'p/', order: 'desc' }), []);
      }),
    );

    it(
      "a prefix need not end at a '/': 'ab' matches 'ab' and 'abc/x' but not 'a/b'",
      withBank(async ({ bank }) => {
        await putAll(bank, ['a/b', 'ab', 'abc/x', 'abd', 'ac', 'a-b']);
        assert.deepEqual(await bank.list('ab'), ['ab', 'abc/x', 'abd']);
        assert.deepEqual(await bank.list('ab', { order: 'desc' }), ['abd', 'abc/x', 'ab']);
        assert.deepEqual(await bank.list('abc'), ['abc/x']);
        assert.deepEqual(await bank.list('abc/x'), ['abc/x']);
        assert.deepEqual(await bank.list('abc/xy'), []);
        assert.deepEqual(await bank.list('zz'), []);
        assert.deepEqual(await bank.list('nothing/here/'), []);
        assert.deepEqual(await bank.list('ab/'), []);
      }),
    );

    it(
      "orders files and directories by the exact key string: 'x-1' < 'x.a' < 'x/y' < 'x0'",
      withBank(async ({ bank }) => {
        const keys = ['x0', 'x/y', 'x.a', 'x-1', 'x/y0', 'x/y-', 'x#', 'x/z/1', 'x~', 'xA', 'x_'];
        await putAll(bank, keys);
        const asc = ['x#', 'x-1', 'x.a', 'x/y', 'x/y-', 'x/y0', 'x/z/1', 'x0', 'xA', 'x_', 'x~'];
        assert.deepEqual(asc, sorted(keys));
        assert.deepEqual(await bank.list(''), asc);
        assert.deepEqual(await bank.list('', { order: 'desc' }), [...asc].reverse());
        assert.deepEqual(await bank.list('', { marker: 'x.a', limit: 3 }), ['x/y', 'x/y-', 'x/y0']);
        assert.deepEqual(await bank.list('', { marker: 'x0', order: 'desc', limit: 3 }), [
          'x/z/1',
          'x/y0',
          'x/y-',
        ]);
        assert.deepEqual(await bank.list('', { marker: 'x/y', order: 'desc' }), ['x.a', 'x-1', 'x#']);
        assert.deepEqual(await bank.list('', { marker: 'x/z/1', limit: 1 }), ['x0']);
      }),
    );

    it(
      'paging with marker and limit visits every key exactly once, in either order',
      withBank(async ({ bank }) => {
        const keys: string[] = [];
        for (const a of ['a', 'a-', 'b', 'b.c']) {
          for (const b of ['1', '10', '2', 'x']) keys.push(`${a}/${b}`);
          keys.push(`${a}/deep/er/k`);
        }
        keys.push('a.', 'b0', 'c');
        await putAll(bank, keys);
        for (const order of ['asc', 'desc'] as const) {
          for (const limit of [1, 3, 7]) {
            const seen: string[] = [];
            let marker: string | undefined;
            for (;;) {
              const page = await bank.list('', { order, limit, ...(marker === undefined ? {} : { marker }) });
              assert.ok(page.length <= limit);
              if (page.length === 0) break;
              seen.push(...page);
              marker = page.at(-1);
            }
            const expected = sorted(keys);
            assert.deepEqual(seen, order === 'asc' ? expected : expected.reverse(), `${order} by ${limit}`);
          }
        }
      }),
    );

    it(
      'rejects a bad limit or order with BANK_ARGUMENT_INVALID',
      withBank(async ({ bank }) => {
        await rejectsWith(bank.list('', { limit: -1 }), 'BANK_ARGUMENT_INVALID');
        await rejectsWith(bank.list('', { limit: 1.5 }), 'BANK_ARGUMENT_INVALID');
        await rejectsWith(bank.list('', { order: 'up' as 'asc' }), 'BANK_ARGUMENT_INVALID');
      }),
    );
  });

  describe(`${name}: sections`, () => {
    it(
      'keys of a section are relative to its prefix, and sections nest',
      withBank(async ({ bank }) => {
        const inner = bank.section('a').section('b');
        await inner.put('k', 'v');
        await bank.put('a/other', 'o');
        assert.equal((await bank.get('a/b/k')).toString(), 'v');
        assert.equal((await bank.section('a/b').get('k')).toString(), 'v');
        assert.deepEqual(await inner.list(''), ['k']);
        assert.deepEqual(await bank.section('a').list(''), ['b/k', 'other']);
        assert.deepEqual(await bank.section('a').list('b'), ['b/k']);
        await inner.delete('k');
        assert.deepEqual(await bank.list(''), ['a/other']);
        assert.equal(bank.readOnly, false);
        assert.equal(inner.readOnly, false);
      }),
    );

    it(
      'a read-only section reads but fails every write with BANK_READ_ONLY',
      withBank(async ({ bank }) => {
        await bank.put('ro/k', 'v');
        const ro = bank.section('ro', { readOnly: true });
        assert.equal(ro.readOnly, true);
        assert.equal((await ro.get('k')).toString(), 'v');
        assert.deepEqual(await ro.list(''), ['k']);
        assert.equal(await ro.exists('k'), true);
        await rejectsWith(ro.put('k', 'w'), 'BANK_READ_ONLY', /"ro\/k".*section "ro" is read-only/);
        await rejectsWith(ro.put('new', 'w'), 'BANK_READ_ONLY');
        await rejectsWith(ro.delete('k'), 'BANK_READ_ONLY');
        assert.equal((await bank.get('ro/k')).toString(), 'v');
        assert.deepEqual(await bank.list(''), ['ro/k']);
      }),
    );

    it(
      'a section of a read-only section is read-only, even if asked to be writable',
      withBank(async ({ bank }) => {
        const ro = bank.section('ro', { readOnly: true });
        for (const sub of [
          ro.section('sub'),
          ro.section('sub', { readOnly: false }),
          ro.section('a').section('b'),
        ]) {
          assert.equal(sub.readOnly, true);
          await rejectsWith(sub.put('k', 'x'), 'BANK_READ_ONLY');
        }
        const writable = bank.section('ro');
        await writable.put('sub/k', 'x');
        assert.equal(bank.section('w').section('r', { readOnly: true }).readOnly, true);
      }),
    );

    it(
      'a read-only section can read leases but not take, renew or release them',
      withBank(async ({ bank }) => {
        const lease = await bank.acquireLease('s/job', { owner: 'writer', ttlMs: 10_000 });
        const ro = bank.section('s', { readOnly: true });
        assert.equal((await ro.leaseInfo('job'))?.owner, 'writer');
        await rejectsWith(ro.acquireLease('other', { owner: 'o', ttlMs: 1000 }), 'BANK_READ_ONLY');
        const seen = { ...lease, name: 'job' };
        assert.equal(await ro.isLeaseValid(seen), true);
        await rejectsWith(ro.renewLease(seen), 'BANK_READ_ONLY');
        await rejectsWith(ro.releaseLease(seen), 'BANK_READ_ONLY');
        assert.equal(await bank.isLeaseValid(lease), true);
      }),
    );

    it(
      "a section's signal, once aborted, fails its data calls and taking a lease, never renewing or releasing one",
      withBank(async ({ bank }) => {
        await bank.put('c/k', 'v');
        const held = await bank.section('c').acquireLease('job', { owner: 'op', ttlMs: 10_000 });
        const controller = new AbortController();
        const live = bank.section('c', { signal: controller.signal });
        // The same place with a second signal added to the first: either cancels.
        const same = live.withSignal(new AbortController().signal);
        assert.equal((await same.get('k')).toString(), 'v');
        controller.abort(new HoardError('TASK_CANCELLED', 'the operation was cancelled'));
        for (const call of [
          same.get('k'),
          same.getStream('k'),
          same.getRange('k', 0, 1),
          same.head('k'),
          same.exists('k'),
          same.list(''),
          same.put('k2', 'w'),
          same.put('k3', Readable.from([Buffer.from('w')])),
          same.delete('k'),
          same.section('deeper').get('x'),
          same.acquireLease('other', { owner: 'o', ttlMs: 1000 }),
        ]) {
          await rejectsWith(call, 'TASK_CANCELLED', 'the operation was cancelled');
        }
        // An operation winding down keeps and gives back its lease.
        const renewed = await live.renewLease(held);
        await live.releaseLease(renewed);
        assert.equal(await bank.leaseInfo('c/job'), undefined);
        // Nothing was written or deleted; the bank and other sections are not cancelled.
        assert.deepEqual(await bank.list('c/'), ['c/k']);
        assert.equal((await bank.section('c').get('k')).toString(), 'v');
      }),
    );
  });

  describe(`${name}: leases`, () => {
    it(
      'a second acquire fails with LEASE_HELD naming the owner and expiry',
      withBank(async ({ bank }) => {
        const lease = await bank.acquireLease('job', { owner: 'alice', ttlMs: 60_000 });
        assert.equal(lease.owner, 'alice');
        assert.equal(lease.name, 'job');
        assert.match(lease.token, /^[0-9a-f]{32}$/);
        const expiry = new Date(lease.expiresAt).toISOString();
        await assert.rejects(bank.acquireLease('job', { owner: 'bob', ttlMs: 60_000 }), (error: unknown) => {
          assert.ok(error instanceof HoardError);
          assert.equal(error.code, 'LEASE_HELD');
          assert.ok(error.message.includes('"alice"') && error.message.includes(expiry), error.message);
          assert.deepEqual(error.details, { name: 'job', owner: 'alice', expiresAt: lease.expiresAt });
          return true;
        });
        await rejectsWith(bank.acquireLease('job', { owner: 'alice', ttlMs: 60_000 }), 'LEASE_HELD');
        assert.equal(await bank.isLeaseValid(lease), true);
        assert.deepEqual(await bank.leaseInfo('job'), {
          owner: 'alice',
          expiresAt: lease.expiresAt,
          live: true,
        });
      }),
    );

    it(
      'an expired lease is broken by the next acquirer, and its old holder has lost it',
      withBank(async ({ bank, advance }) => {
        const old = await bank.acquireLease('job', { owner: 'alice', ttlMs: 1000 });
        advance(999);
        await rejectsWith(bank.acquireLease('job', { owner: 'bob', ttlMs: 1000 }), 'LEASE_HELD');
        advance(1);
        assert.equal(await bank.isLeaseValid(old), false);
        const taken = await bank.acquireLease('job', { owner: 'bob', ttlMs: 1000 });
        assert.notEqual(taken.token, old.token);
        await rejectsWith(bank.renewLease(old), 'LEASE_LOST', /"job" held by "alice" is lost/);
        await bank.releaseLease(old);
        assert.deepEqual(await bank.leaseInfo('job'), {
          owner: 'bob',
          expiresAt: taken.expiresAt,
          live: true,
        });
        assert.equal(await bank.isLeaseValid(taken), true);
      }),
    );

    it(
      'renew extends the lease from now; after another takes it, renew fails with LEASE_LOST',
      withBank(async ({ bank, advance }) => {
        const lease = await bank.acquireLease('job', { owner: 'alice', ttlMs: 1000 });
        advance(600);
        const renewed = await bank.renewLease(lease);
        assert.equal(renewed.expiresAt, lease.expiresAt + 600);
        assert.equal(renewed.token, lease.token);
        const longer = await bank.renewLease(renewed, 5000);
        assert.equal(longer.expiresAt, lease.expiresAt - 1000 + 600 + 5000);
        assert.equal(longer.ttlMs, 5000);
        advance(4000);
        assert.equal(await bank.isLeaseValid(longer), true);
        advance(1000);
        const bob = await bank.acquireLease('job', { owner: 'bob', ttlMs: 1000 });
        await rejectsWith(bank.renewLease(longer), 'LEASE_LOST');
        assert.equal(await bank.isLeaseValid(bob), true);
      }),
    );

    it(
      'renewing an expired lease fails with LEASE_LOST even if nobody took it',
      withBank(async ({ bank, advance }) => {
        const lease = await bank.acquireLease('job', { owner: 'alice', ttlMs: 1000 });
        advance(1000);
        await rejectsWith(bank.renewLease(lease), 'LEASE_LOST', /expired/);
        assert.deepEqual(await bank.leaseInfo('job'), {
          owner: 'alice',
          expiresAt: lease.expiresAt,
          live: false,
        });
      }),
    );

    it(
      'release frees the lease for others, and leaseInfo then reports none',
      withBank(async ({ bank }) => {
        const lease = await bank.acquireLease('job', { owner: 'alice', ttlMs: 60_000 });
        await bank.releaseLease(lease);
        assert.equal(await bank.leaseInfo('job'), undefined);
        assert.equal(await bank.isLeaseValid(lease), false);
        await bank.releaseLease(lease);
        const next = await bank.acquireLease('job', { owner: 'bob', ttlMs: 60_000 });
        await bank.releaseLease(lease);
        assert.equal(await bank.isLeaseValid(next), true);
        await rejectsWith(bank.renewLease(lease), 'LEASE_LOST');
      }),
    );

    it(
      'a lease taken through one handle is seen, and held, through another',
      withBank(async ({ bank, reopen }) => {
        const lease = await bank.acquireLease('shared', { owner: 'alice', ttlMs: 60_000 });
        const other = reopen();
        assert.deepEqual(await other.leaseInfo('shared'), {
          owner: 'alice',
          expiresAt: lease.expiresAt,
          live: true,
        });
        assert.equal(await other.isLeaseValid(lease), true);
        await rejectsWith(
          other.acquireLease('shared', { owner: 'bob', ttlMs: 1000 }),
          'LEASE_HELD',
          /"alice"/,
        );
        await other.releaseLease(lease);
        assert.equal(await bank.leaseInfo('shared'), undefined);
      }),
    );

    it(
      'sections scope lease names by their prefix',
      withBank(async ({ bank }) => {
        const sec = bank.section('sec');
        const inSection = await sec.acquireLease('job', { owner: 'section', ttlMs: 60_000 });
        const atRoot = await bank.acquireLease('job', { owner: 'root', ttlMs: 60_000 });
        assert.equal(inSection.name, 'job');
        assert.equal((await bank.leaseInfo('sec/job'))?.owner, 'section');
        assert.equal((await sec.leaseInfo('job'))?.owner, 'section');
        assert.equal((await bank.leaseInfo('job'))?.owner, 'root');
        await rejectsWith(
          bank.acquireLease('sec/job', { owner: 'x', ttlMs: 1000 }),
          'LEASE_HELD',
          /"section"/,
        );
        await sec.releaseLease(inSection);
        assert.equal(await bank.leaseInfo('sec/job'), undefined);
        assert.equal(await bank.isLeaseValid(atRoot), true);
      }),
    );

    it(
      'leases with nested names are independent, and never show as keys',
      withBank(async ({ bank }) => {
        await bank.acquireLease('a', { owner: 'one', ttlMs: 60_000 });
        await bank.acquireLease('a/b', { owner: 'two', ttlMs: 60_000 });
        await bank.acquireLease(`long/${'n'.repeat(250)}`, { owner: 'three', ttlMs: 60_000 });
        assert.equal((await bank.leaseInfo('a'))?.owner, 'one');
        assert.equal((await bank.leaseInfo('a/b'))?.owner, 'two');
        assert.equal((await bank.leaseInfo(`long/${'n'.repeat(250)}`))?.owner, 'three');
        assert.deepEqual(await bank.list(''), []);
        await bank.put('a', 'an object named like a lease');
        assert.deepEqual(await bank.list(''), ['a']);
      }),
    );

    it(
      'sweep removes only lease records expired longer than asked, and never an object',
      withBank(async ({ bank, advance }) => {
        await bank.put('kept/object', 'data');
        const live = await bank.acquireLease('live', { owner: 'alive', ttlMs: 3_600_000 });
        await bank.acquireLease('old', { owner: 'crashed long ago', ttlMs: 1000 });
        advance(10_000);
        await bank.acquireLease('recent', { owner: 'crashed just now', ttlMs: 1000 });
        advance(2_000);
        const report = await bank.sweep(5_000);
        assert.equal(report.leases, 1, JSON.stringify(report));
        assert.equal(await bank.leaseInfo('old'), undefined);
        assert.equal((await bank.leaseInfo('recent'))?.owner, 'crashed just now');
        assert.equal(await bank.isLeaseValid(live), true);
        assert.deepEqual(await bank.list(''), ['kept/object']);
        assert.equal((await bank.sweep(5_000)).leases, 0);
        await rejectsWith(bank.section('kept', { readOnly: true }).sweep(0), 'BANK_READ_ONLY');
      }),
    );

    it(
      'rejects an empty owner or a time to live that is not a positive number',
      withBank(async ({ bank }) => {
        await rejectsWith(bank.acquireLease('job', { owner: '', ttlMs: 1000 }), 'BANK_ARGUMENT_INVALID');
        for (const ttlMs of [0, -5, Number.NaN, Number.POSITIVE_INFINITY]) {
          await rejectsWith(bank.acquireLease('job', { owner: 'o', ttlMs }), 'BANK_ARGUMENT_INVALID');
        }
        assert.equal(await bank.leaseInfo('job'), undefined);
      }),
    );
  });
}
