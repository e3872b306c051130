/**
 * The cipher micro-benchmark printed by `npm run bench:data`: AES-256-GCM against
 * ChaCha20-Poly1305 from node:crypto (OpenSSL), sealing and opening 64 KiB segments one at a
 * time on one thread, each segment with its own cipher object and nonce as an encrypted
 * chunk store does. MB/s per core; the median of 5 rounds of about 0.4 s each, after a
 * warm-up round.
 */
import { spawnSync } from 'node:child_process';
import { type CipherGCM, createCipheriv, createDecipheriv, type DecipherGCM, randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { median, round } from './lib.js';

type Algorithm = 'aes-256-gcm' | 'chacha20-poly1305';

export interface CipherResult {
  segmentBytes: number;
  /** OpenSSL as Node reports it, and whether the CPU advertises AES-NI (AES-GCM's speed depends on it). */
  openssl: string;
  aesNi: boolean | null;
  rounds: number;
  perCoreMBps: Record<Algorithm, { seal: number; open: number }>;
  /** `openssl speed -evp` over 64 KiB blocks, one context reused: the library's own ceiling, MB/s (null: no openssl CLI). */
  opensslSpeedMBps: Record<Algorithm, number | null>;
  /** The faster at sealing, and its speed over the other's. */
  faster: { seal: Algorithm; ratio: number; open: Algorithm; openRatio: number };
}

const SEGMENT = 64 * 1024;

function seal(alg: Algorithm, key: Buffer, nonce: Buffer, plain: Buffer): { sealed: Buffer; tag: Buffer } {
  // Both default to a 16-byte tag; the types know only GCM's methods, which ChaCha20-Poly1305 shares.
  const c = createCipheriv(alg, key, nonce) as CipherGCM;
  const sealed = c.update(plain);
  const rest = c.final(); // empty for both: they are stream ciphers
  return { sealed: rest.length ? Buffer.concat([sealed, rest]) : sealed, tag: c.getAuthTag() };
}

function open(alg: Algorithm, key: Buffer, nonce: Buffer, sealed: Buffer, tag: Buffer): Buffer {
  const d = createDecipheriv(alg, key, nonce) as DecipherGCM;
  d.setAuthTag(tag);
  const plain = d.update(sealed);
  const rest = d.final();
  return rest.length ? Buffer.concat([plain, rest]) : plain;
}

/** MB/s of `step` run over segments for about `ms` milliseconds. */
function rate(step: (i: number) => void, ms: number): number {
  let n = 0;
  const start = performance.now();
  let elapsed = 0;
  while (elapsed < ms) {
    for (let k = 0; k < 64; k++) step(n++);
    elapsed = performance.now() - start;
  }
  return (n * SEGMENT) / 1e6 / (elapsed / 1000);
}

export function cipherBench(rounds = 5, ms = 400): CipherResult {
  const key = randomBytes(32);
  const plain = randomBytes(SEGMENT);
  const nonces = Array.from({ length: 64 }, () => randomBytes(12));
  const algorithms: Algorithm[] = ['aes-256-gcm', 'chacha20-poly1305'];
  const perCoreMBps = {} as CipherResult['perCoreMBps'];
  for (const alg of algorithms) {
    const sealedOnce = nonces.map((nonce) => seal(alg, key, nonce, plain));
    const sealStep = (i: number) => void seal(alg, key, nonces[i % 64]!, plain);
    const openStep = (i: number) => {
      const s = sealedOnce[i % 64]!;
      open(alg, key, nonces[i % 64]!, s.sealed, s.tag);
    };
    rate(sealStep, ms);
    rate(openStep, ms);
    const seals: number[] = [];
    const opens: number[] = [];
    for (let r = 0; r < rounds; r++) {
      seals.push(rate(sealStep, ms));
      opens.push(rate(openStep, ms));
    }
    perCoreMBps[alg] = { seal: round(median(seals), 0), open: round(median(opens), 0) };
  }
  const [a, c] = [perCoreMBps['aes-256-gcm'], perCoreMBps['chacha20-poly1305']];
  const sealFaster: Algorithm = a.seal >= c.seal ? 'aes-256-gcm' : 'chacha20-poly1305';
  const openFaster: Algorithm = a.open >= c.open ? 'aes-256-gcm' : 'chacha20-poly1305';
  return {
    segmentBytes: SEGMENT,
    openssl: process.versions.openssl,
    aesNi: cpuHasAes(),
    rounds,
    perCoreMBps,
    opensslSpeedMBps: {
      'aes-256-gcm': opensslSpeed('aes-256-gcm'),
      'chacha20-poly1305': opensslSpeed('chacha20-poly1305'),
    },
    faster: {
      seal: sealFaster,
      ratio: round(Math.max(a.seal, c.seal) / Math.min(a.seal, c.seal), 2),
      open: openFaster,
      openRatio: round(Math.max(a.open, c.open) / Math.min(a.open, c.open), 2),
    },
  };
}

function opensslSpeed(alg: Algorithm): number | null {
  const r = spawnSync('openssl', ['speed', '-evp', alg, '-seconds', '1', '-bytes', String(SEGMENT)], {
    encoding: 'utf8',
  });
  const kB = Number(/\s([\d.]+)k\s*$/.exec(r.stdout ?? '')?.[1]);
  return r.status === 0 && Number.isFinite(kB) ? round(kB / 1000, 0) : null;
}

function cpuHasAes(): boolean | null {
  try {
    return /^flags\s*:.*\baes\b/m.test(readFileSync('/proc/cpuinfo', 'utf8'));
  } catch {
    return null;
  }
}
