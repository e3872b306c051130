/**
 * `npm run bench:hash-pool`: the content store's SHA-256 worker pool (src/store/hash-pool.ts)
 * against the same work on a piscina pool (bench/hash-piscina-worker.ts), with as many threads
 * each, as the store's writer uses it: whole buffers moved to a worker and back, a few requests
 * in flight. Prints JSON: MiB/s and requests/s per case, median of 7 rounds taken in turn
 * (hand-rolled, piscina, hand-rolled …) so both meet the same machine load. A figure, never a test.
 */
import { availableParallelism } from 'node:os';
import { Piscina } from 'piscina';
import { HashPool } from '../src/store/hash-pool.js';
import { median, round } from './lib.js';

const MiB = 1024 * 1024;
const threads = availableParallelism();
const pool = new HashPool(threads);
const piscina = new Piscina({
  filename: new URL('./hash-piscina-worker.js', import.meta.url).href,
  minThreads: threads,
  maxThreads: threads,
});

type Hash = (bytes: Buffer) => Promise<Buffer>;

const handRolled: Hash = async (bytes) => (await pool.hash(bytes)).bytes;
const pooled: Hash = async (bytes) => {
  const answer = (await piscina.run(
    { buffer: bytes.buffer, ranges: [0, bytes.length], transferred: true },
    { transferList: [bytes.buffer as ArrayBuffer] },
  )) as { ids: string[]; buffer: ArrayBuffer };
  return Buffer.from(answer.buffer);
};

/** Hashes `count` buffers of `size` bytes, `inFlight` at a time, reusing the buffers as they come back. */
async function round1(hash: Hash, size: number, count: number, inFlight: number): Promise<number> {
  const free = Array.from({ length: inFlight }, () => Buffer.from(new ArrayBuffer(size)).fill(7));
  const started = process.hrtime.bigint();
  let next = 0;
  await Promise.all(
    free.map(async (first) => {
      let bytes: Buffer = first;
      while (next < count) {
        next++;
        bytes = await hash(bytes);
      }
    }),
  );
  return Number(process.hrtime.bigint() - started) / 1e9;
}

const cases = [
  { name: '1 MiB requests', size: MiB, count: 256, inFlight: 4 },
  { name: '128 KiB requests', size: 128 * 1024, count: 2048, inFlight: 4 },
];
const results: Record<string, unknown> = {};
for (const c of cases) {
  await round1(handRolled, c.size, c.count / 4, c.inFlight); // warm-up: threads started
  await round1(pooled, c.size, c.count / 4, c.inFlight);
  const times: Record<'handRolled' | 'piscina', number[]> = { handRolled: [], piscina: [] };
  for (let i = 0; i < 7; i++) {
    times.handRolled.push(await round1(handRolled, c.size, c.count, c.inFlight));
    times.piscina.push(await round1(pooled, c.size, c.count, c.inFlight));
  }
  const figure = (seconds: number) => ({
    MiBps: round((c.size * c.count) / MiB / seconds, 0),
    requestsPerSecond: round(c.count / seconds, 0),
  });
  results[c.name] = {
    handRolled: figure(median(times.handRolled)),
    piscina: figure(median(times.piscina)),
  };
}
await pool.close();
await piscina.destroy();
console.log(JSON.stringify({ threads, results }, null, 2));
