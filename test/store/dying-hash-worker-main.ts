/** The script of hash-pool.test.ts's dying worker: the dying listener first, then the real worker. */
import './dying-hash-worker.js';
import '../../src/store/hash-worker.js';
