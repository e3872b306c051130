/**
 * `npm run bench:chunker`: FastCDC's throughput on one thread, the public gear table and a
 * secret one (an encrypted bank's), and `cutLength` (what fs.directory's workers call) beside
 * the streaming Chunker. Prints JSON: MiB/s per case (median of 5 rounds over 64 MiB of random
 * bytes, after a warm-up), with the chunk count and mean. A figure, never a test.
 */
import { randomBytes } from 'node:crypto';
import { Chunker, chunkSizes, cutLength, GEAR, gearTable } from '../src/store/chunker.js';
import { median, round } from './lib.js';

const MiB = 1024 * 1024;
const data = randomBytes(64 * MiB);
const secret = gearTable(randomBytes(32));

function streaming(avg: number, gear: Int32Array): { seconds: number; chunks: number } {
  const chunker = new Chunker(avg, gear);
  const started = process.hrtime.bigint();
  let chunks = 0;
  for (let at = 0; at < data.length; at += MiB) chunks += chunker.push(data.subarray(at, at + MiB)).length;
  if (chunker.finish()) chunks++;
  return { seconds: Number(process.hrtime.bigint() - started) / 1e9, chunks };
}

function whole(avg: number, gear: Int32Array): { seconds: number; chunks: number } {
  const sizes = chunkSizes(avg, gear);
  const started = process.hrtime.bigint();
  let chunks = 0;
  for (let at = 0; at < data.length; chunks++) at += cutLength(data, at, data.length, sizes, true);
  return { seconds: Number(process.hrtime.bigint() - started) / 1e9, chunks };
}

const results: Record<string, { MiBps: number; chunks: number; meanBytes: number }> = {};
for (const avg of [64 * 1024, MiB]) {
  for (const [name, gear] of [
    ['public', GEAR],
    ['secret', secret],
  ] as const) {
    for (const [how, run] of [
      ['Chunker', streaming],
      ['cutLength', whole],
    ] as const) {
      run(avg, gear);
      const rounds = Array.from({ length: 5 }, () => run(avg, gear));
      const seconds = median(rounds.map((r) => r.seconds));
      const chunks = rounds[0]!.chunks;
      results[`${how} avg ${avg / 1024} KiB, ${name} gear`] = {
        MiBps: round(data.length / MiB / seconds, 0),
        chunks,
        meanBytes: Math.round(data.length / chunks),
      };
    }
  }
}
process.stdout.write(`${JSON.stringify({ bytes: data.length, results }, null, 2)}\n`);
