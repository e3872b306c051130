/**
 * A checkpoint's `blobs` object: the blob ids one resource refers to, what garbage collection
 * keeps, copy carries and a protect proves (docs/store-format.md, "A checkpoint's blobs
 * object"). Read in three forms, the first written:
 *
 * - `HOARDREFS2\n`, the id count (uint32), each id's 32 bytes sorted, and the SHA-256 of all
 *   that: a cut or a changed byte anywhere is damage, never a shorter or other list;
 * - `HOARDREFS1\n` and the ids' 32 bytes (2026-12-07, before the count and checksum);
 * - text, the ids one per line: written before, and still for names that are not 64-hex ids
 *   (no blob of the store has such a name).
 */
import { createHash } from 'node:crypto';
import { HoardError } from '../errors.js';

const MAGIC = Buffer.from('HOARDREFS2\n', 'latin1');
const MAGIC_V1 = Buffer.from('HOARDREFS1\n', 'latin1');
/** What both binary magics start with: an object starting so with neither is damaged. */
const MAGIC_STEM = MAGIC.subarray(0, 9);
const ID_BYTES = 32;
const COUNT_BYTES = 4;
const SUM_BYTES = 32;
const HEX_ID = /^[0-9a-f]{64}$/;

/** The `blobs` object for `ids` (sorted, each once). */
export function encodeReferences(ids: Iterable<string>): Buffer {
  const sorted = [...new Set(ids)].sort();
  if (!sorted.every((id) => HEX_ID.test(id))) return Buffer.from(sorted.join('\n'), 'utf8');
  const body = MAGIC.length + COUNT_BYTES + sorted.length * ID_BYTES;
  const out = Buffer.allocUnsafe(body + SUM_BYTES);
  MAGIC.copy(out, 0);
  out.writeUInt32BE(sorted.length, MAGIC.length);
  const first = MAGIC.length + COUNT_BYTES;
  for (let i = 0; i < sorted.length; i++) out.write(sorted[i]!, first + i * ID_BYTES, ID_BYTES, 'hex');
  createHash('sha256').update(out.subarray(0, body)).digest().copy(out, body);
  return out;
}

/**
 * The ids of a `blobs` object in any form; STORE_CORRUPT naming `key` if it is damaged in a
 * way that shows (any damage of the current form; a cut inside an id, ids out of order, a
 * damaged magic, bytes that are not text in the older ones): read as fewer ids, it would let
 * a collector delete blobs still referred to.
 */
export function decodeReferences(key: string, data: Buffer): string[] {
  if (startsWith(data, MAGIC)) return decodeSummed(key, data);
  if (startsWith(data, MAGIC_V1)) {
    const body = data.length - MAGIC_V1.length;
    if (body % ID_BYTES !== 0) {
      throw damaged(key, `${body} bytes of blob ids is not a whole number of ${ID_BYTES}-byte ids`);
    }
    return sortedIds(key, data, MAGIC_V1.length, body / ID_BYTES);
  }
  const text = data.toString('utf8');
  // A binary object cut inside its magic would read as one odd name.
  const cutMagic = data.length > 0 && MAGIC.subarray(0, data.length).equals(data);
  if (startsWith(data, MAGIC_STEM) || cutMagic || !isText(data, text)) {
    throw damaged(key, 'it is neither a binary form nor text');
  }
  return text.split('\n').filter(Boolean);
}

function decodeSummed(key: string, data: Buffer): string[] {
  const header = MAGIC.length + COUNT_BYTES;
  if (data.length < header + SUM_BYTES) throw damaged(key, `${data.length} bytes is too short`);
  const count = data.readUInt32BE(MAGIC.length);
  const body = header + count * ID_BYTES;
  if (data.length !== body + SUM_BYTES) {
    throw damaged(
      key,
      `it says ${count} blob ids, which take ${body + SUM_BYTES} bytes, but it has ${data.length}`,
    );
  }
  if (!createHash('sha256').update(data.subarray(0, body)).digest().equals(data.subarray(body))) {
    throw damaged(key, 'its bytes do not match its checksum');
  }
  return sortedIds(key, data, header, count);
}

/** `count` ids of 32 bytes from `start`, which must be strictly ascending (written sorted, each once). */
function sortedIds(key: string, data: Buffer, start: number, count: number): string[] {
  const ids: string[] = new Array(count);
  for (let i = 0; i < count; i++) {
    const at = start + i * ID_BYTES;
    if (i > 0 && data.compare(data, at - ID_BYTES, at, at, at + ID_BYTES) <= 0) {
      throw damaged(key, `blob id ${i} is not above the one before it`);
    }
    ids[i] = data.toString('hex', at, at + ID_BYTES);
  }
  return ids;
}

function startsWith(data: Buffer, magic: Buffer): boolean {
  return data.length >= magic.length && data.subarray(0, magic.length).equals(magic);
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
