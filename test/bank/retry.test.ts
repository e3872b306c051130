/** The retry decorator and the server clock: no server needed. */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { decorate } from '../../src/bank/compose.js';
import { RetryPolicy } from '../../src/bank/retry.js';
import { ServerClock } from '../../src/bank/s3-client.js';
import type { BankStore } from '../../src/bank/store.js';
import { HoardError } from '../../src/errors.js';

/** A store whose `get` and `put` fail with `errors` in turn, then succeed. */
function flaky(errors: HoardError[]) {
  const calls = { get: 0, put: 0 };
  const next = async () => {
    const error = errors.shift();
    if (error) throw error;
  };
  const store = {
    now: Date.now,
    async get() {
      calls.get++;
      await next();
      return Buffer.from('ok');
    },
    async put(_key: string, data: unknown) {
      calls.put++;
      if (!Buffer.isBuffer(data)) for await (const _ of data as AsyncIterable<unknown>);
      await next();
    },
  } as unknown as BankStore;
  return { store, calls };
}

const unavailable = () => new HoardError('BANK_UNAVAILABLE', 'reading failed: 503 SlowDown');
const fast = { initialDelayMs: 1, maxDelayMs: 2 };

describe('retries around a bank store', () => {
  it('retries transient failures with backoff until a try succeeds', async () => {
    const delays: number[] = [];
    const { store, calls } = flaky([unavailable(), unavailable(), unavailable()]);
    const policy = new RetryPolicy({
      attempts: 5,
      initialDelayMs: 4,
      onRetry: (_e, _a, d) => delays.push(d),
    });
    assert.equal(String(await decorate(store, { retry: policy }).get('k')), 'ok');
    assert.equal(calls.get, 4);
    // Each delay lies between half and all of 4, 8, 16 ms.
    for (const [i, d] of delays.entries()) assert.ok(d >= 2 * 2 ** i && d <= 4 * 2 ** i, `${delays}`);
  });

  it('a signal stops the retries: the wait between tries ends at once, and no try follows', async () => {
    const { store, calls } = flaky(Array.from({ length: 10 }, unavailable));
    const retrying = decorate(store, { retry: new RetryPolicy({ attempts: 10, initialDelayMs: 60_000 }) });
    const controller = new AbortController();
    const began = Date.now();
    setTimeout(() => controller.abort(new Error('Ctrl-C')), 50);
    await assert.rejects(
      retrying.get('k', { signal: controller.signal }),
      (e: unknown) =>
        e instanceof HoardError &&
        e.code === 'TASK_CANCELLED' &&
        /waiting to retry after: reading failed/.test(e.message),
    );
    assert.ok(Date.now() - began < 5_000, `waited ${Date.now() - began} ms`);
    assert.equal(calls.get, 1);
    // Aborted before the first try: none is made; a HoardError reason is what the caller gets.
    await assert.rejects(
      retrying.get('k', { signal: AbortSignal.abort(new HoardError('TASK_TIMEOUT', 'too slow')) }),
      (e: unknown) => e instanceof HoardError && e.code === 'TASK_TIMEOUT',
    );
    assert.equal(calls.get, 1);
  });

  it('gives up after the last try with the last error, and never retries a permanent one', async () => {
    const { store, calls } = flaky([unavailable(), unavailable(), unavailable()]);
    const retrying = decorate(store, { retry: new RetryPolicy({ attempts: 3, ...fast }) });
    await assert.rejects(
      retrying.get('k'),
      (e: unknown) => e instanceof HoardError && e.code === 'BANK_UNAVAILABLE',
    );
    assert.equal(calls.get, 3);
    const refused = flaky([new HoardError('BANK_REFUSED', 'the bucket does not exist')]);
    await assert.rejects(
      decorate(refused.store, { retry: new RetryPolicy({ attempts: 3, ...fast }) }).get('k'),
      /the bucket does not exist/,
    );
    assert.equal(refused.calls.get, 1);
  });

  it('retries a put of bytes, but passes a put of a stream through once (it cannot be read twice)', async () => {
    const bytes = flaky([unavailable()]);
    await decorate(bytes.store, { retry: new RetryPolicy(fast) }).put('k', Buffer.from('x'));
    assert.equal(bytes.calls.put, 2);
    const stream = flaky([unavailable()]);
    async function* chunks() {
      yield Buffer.from('x');
    }
    await assert.rejects(decorate(stream.store, { retry: new RetryPolicy(fast) }).put('k', chunks()), /503/);
    assert.equal(stream.calls.put, 1);
  });
});

describe("the server's clock", () => {
  it('is 0 until an answer is seen, then the middle of what the answers allow', () => {
    const clock = new ServerClock();
    assert.equal(clock.offsetMs, 0);
    // Sent at 10_000, answered at 10_200, dated 70 s (whole seconds): offset in [59_800, 61_000].
    clock.observe(new Date(70_000).toUTCString(), 10_000, 10_200);
    assert.equal(clock.offsetMs, 60_400);
    // A later answer narrows it: [60_400, 61_500] meets [59_800, 61_000] in [60_400, 61_000].
    clock.observe(new Date(81_000).toUTCString(), 20_500, 20_600);
    assert.equal(clock.offsetMs, 60_700);
    clock.observe(undefined, 0, 0);
    clock.observe('not a date', 0, 0);
    assert.equal(clock.offsetMs, 60_700);
  });

  it('starts afresh when the server clock jumps', () => {
    const clock = new ServerClock();
    clock.observe(new Date(70_000).toUTCString(), 10_000, 10_100);
    clock.observe(new Date(3_700_000).toUTCString(), 20_000, 20_100);
    assert.ok(Math.abs(clock.offsetMs - 3_680_000) <= 1_000, String(clock.offsetMs));
  });
});
