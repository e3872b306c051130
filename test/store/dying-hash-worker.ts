/**
 * A hash worker (src/store/hash-worker.ts) that dies, exit code 3, when asked to hash exactly
 * DIE_AT bytes: for hash-pool.test.ts to meet a worker's death through the pool's public
 * surface. The test's worker imports this module, then the real worker, so this listener sees
 * each request first. Loaded in the main thread (as the test runner does with every file of
 * test/), it does nothing.
 */
import { parentPort } from 'node:worker_threads';

export const DIE_AT = 3_333_333;

parentPort?.on('message', (request: { ranges: number[] }) => {
  if (request.ranges.length === 2 && request.ranges[1] === DIE_AT) process.exit(3);
});
