/**
 * A checkpoint's `blobs` object: the blob ids one resource refers to, what garbage collection
 * keeps, copy carries and a protect proves (docs/store-format.md). Two forms, both read:
 *
 * - text: the ids one per line (what a plugin may write by hand);
 * - binary: `HOARDREFS1\n`, then each id's 32 bytes, sorted. Hoard writes it when every id is
 *   a SHA-256 or HMAC-SHA-256 in hex — half the size of the text (bench:data's tree: 0.67 MB
 *   against 1.36 MB per checkpoint; gzip of the text gives 0.74 MB at 45 ms).
 */
import { HoardError } from '../errors.js';

const MAGIC = Buffer.from('HOARDREFS1\n', 'latin1');
const ID_BYTES = 32;
const HEX_ID = /^[0-9a-f]{64}$/;

/** The `blobs` object for `ids` (sorted, each once). */
export function encodeReferences(ids: Iterable<string>): Buffer {
  const sorted = [...new Set(ids)].sort();
  if (!sorted.every((id) => HEX_ID.test(id))) return Buffer.from(sorted.join('\n'), 'utf8');
  const out = Buffer.allocUnsafe(MAGIC.length + sorted.length * ID_BYTES);
  MAGIC.copy(out, 0);
  for (let i = 0; i < sorted.length; i++) out.write(sorted[i]!, MAGIC.length + i * ID_BYTES, ID_BYTES, 'hex');
  return out;
}

/**
 * The ids of a `blobs` object in either form; STORE_CORRUPT naming `key` if it is damaged in a
 * way that shows (cut inside an id, ids out of order, a damaged magic, bytes that are not
 * text): read as fewer ids, it would let a collector delete blobs still referred to.
 */
export function decodeReferences(key: string, data: Buffer): string[] {
  if (!data.subarray(0, MAGIC.length).equals(MAGIC)) {
    const text = data.toString('utf8');
    if (data.subarray(0, 9).equals(MAGIC.subarray(0, 9)) || !isText(data, text)) {
      throw damaged(key, 'it is neither the binary form nor text');
    }
    return text.split('\n').filter(Boolean);
  }
  const body = data.length - MAGIC.length;
  if (body % ID_BYTES !== 0) {
    throw damaged(key, `${body} bytes of blob ids is not a whole number of ${ID_BYTES}-byte ids`);
  }
  const ids: string[] = new Array(body / ID_BYTES);
  for (let i = 0; i < ids.length; i++) {
    const at = MAGIC.length + i * ID_BYTES;
    // Written sorted and each once: an id out of order is a damaged one.
    if (i > 0 && data.compare(data, at - ID_BYTES, at, at, at + ID_BYTES) <= 0) {
      throw damaged(key, `blob id ${i} is not above the one before it`);
    }
    ids[i] = data.toString('hex', at, at + ID_BYTES);
  }
  return ids;
}

function damaged(key: string, why: string): HoardError {
  return new HoardError('STORE_CORRUPT', `${key} is damaged: ${why}`, { details: { key } });
}

/** No control bytes but tab and line ends, and valid UTF-8: binary ids read as text would be a shorter list, silently. */
function isText(data: Buffer, text: string): boolean {
  for (const byte of data)
    if ((byte < 0x20 && byte !== 9 && byte !== 10 && byte !== 13) || byte === 0x7f) return false;
  return !text.includes('\ufffd');
}
