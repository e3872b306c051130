/**
 * zstd for blobs, through `zstd-napi`'s binding (Node 20 has no zstd; Node 22.15 does):
 * one compression and one decompression context per thread, reused, writing straight into
 * buffers of a known size, so a damaged or hostile frame can never decompress past the raw
 * length its index entry promises. Chosen over a WASM build for speed (zstd-napi level 3 does
 * ~430 MB/s on incompressible data on one core here, deflate level 1 ~28 MB/s) and over
 * `@mongodb-js/zstd`, which does not install here (docs: ../../../shared/NOTES.md).
 */
import { createRequire } from 'node:module';

interface Binding {
  CCtx: new () => { compress(dst: Uint8Array, src: Uint8Array, level: number): number };
  DCtx: new () => { decompress(dst: Uint8Array, src: Uint8Array): number };
  compressBound(size: number): number;
  getFrameContentSize(frame: Uint8Array): number | null;
}

let loaded: Binding | undefined;
/** The native binding, loaded when a first blob is compressed or read: listing loads none. */
function zstd(): Binding {
  loaded ??= createRequire(import.meta.url)('zstd-napi/binding') as Binding;
  return loaded;
}
let cctx: InstanceType<Binding['CCtx']> | undefined;
let dctx: InstanceType<Binding['DCtx']> | undefined;

/** The default level (SPEC §11). */
export const ZSTD_LEVEL = 3;

/**
 * This thread's reusable output, for callers that copy or write the bytes before the next call
 * (`transient`). A fresh buffer per chunk is external memory the garbage collector does not
 * hurry to free: measured, a worker thread held tens of MiB of dead chunk buffers. Not kept
 * beyond SCRATCH_MAX bytes (a huge blob gets a buffer of its own).
 */
let scratch: Buffer | undefined;
const SCRATCH_MAX = 16 * 1024 * 1024;

function output(size: number, transient: boolean): Buffer {
  if (!transient || size > SCRATCH_MAX) return Buffer.allocUnsafe(size);
  if (scratch === undefined || scratch.length < size) scratch = Buffer.allocUnsafeSlow(size);
  return scratch;
}

/**
 * `raw` compressed at `level`, or undefined if that would not be smaller than `raw`. In a new
 * buffer; or, `transient`, in this thread's scratch memory, valid only until the next
 * transient call on this thread.
 */
export function zstdCompress(raw: Uint8Array, level: number, transient = false): Buffer | undefined {
  if (raw.length === 0) return undefined;
  const binding = zstd();
  cctx ??= new binding.CCtx();
  const out = output(binding.compressBound(raw.length), transient);
  const size = cctx.compress(out, raw, level);
  return size < raw.length ? out.subarray(0, size) : undefined;
}

/**
 * The raw bytes of a zstd frame that must hold exactly `rawLength` bytes; throws (with the
 * library's message) if it is damaged, holds more, or holds less. `transient`: as for
 * zstdCompress.
 */
export function zstdDecompress(stored: Uint8Array, rawLength: number, transient = false): Buffer {
  const binding = zstd();
  const declared = binding.getFrameContentSize(stored);
  if (declared !== null && declared !== rawLength) {
    throw new Error(`the frame says ${declared} bytes, the index ${rawLength}`);
  }
  dctx ??= new binding.DCtx();
  const out = output(Math.max(1, rawLength), transient);
  const size = dctx.decompress(out.subarray(0, Math.max(1, rawLength)), stored);
  if (size !== rawLength) throw new Error(`it holds ${size} bytes, the index says ${rawLength}`);
  return out.subarray(0, size);
}
