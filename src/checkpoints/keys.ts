/**
 * Where a checkpoint lives in a bank (docs/bank-layout.md):
 *
 *   checkpoints/<id>/meta.json                    the checkpoint record (authoritative)
 *   checkpoints/<id>/resources/<type#id>/...      each resource's plugin section (key encoded)
 *   checkpoints/<id>/operations/<op>.json         operation logs
 *   checkpoints/<id>/journal/<seq>.jsonl          the protect run's engine journal, in batches
 *   index/time/<id>.<status>.<plan>               one empty object per checkpoint, newest id last
 *   index/plan/<plan>/<id>.<status>               the same, per plan
 *   index/stats/<id>.<files>.<bytes>.<newBytes>.<storedBytes>.<durationMs>
 *                                                 the record's total stats, for listings
 *                                                 (banks without encryption only)
 *
 * Index entries carry everything a listing shows in their key, so listing is one prefix
 * scan and no read per checkpoint.
 */
import { MAX_SEGMENT_LENGTH } from '../bank/keys.js';

const SAFE = /[A-Za-z0-9._~#@+=,:-]/;

/** Percent-encodes what a bank key segment may not hold (`/`, spaces, `%` itself …). */
export function encodeSegment(value: string): string {
  let out = '';
  for (const ch of value) {
    if (SAFE.test(ch) && ch !== '%') out += ch;
    else
      for (const byte of Buffer.from(ch, 'utf8'))
        out += `%${byte.toString(16).toUpperCase().padStart(2, '0')}`;
  }
  // A segment may not start with '.' nor be '.' or '..'.
  return out.startsWith('.') ? `%2E${out.slice(1)}` : out;
}

export function decodeSegment(value: string): string {
  return decodeURIComponent(value);
}

export const checkpointPrefix = (id: string) => `checkpoints/${id}/`;
export const metaKey = (id: string) => `checkpoints/${id}/meta.json`;
export const resourcePrefix = (id: string, resource: string) =>
  `checkpoints/${id}/resources/${encodeSegment(resource)}`;
/**
 * The longest resource id a plan may give, in characters: with any built-in type, an id of
 * plain characters this long still fits one bank key segment once encoded.
 */
export const MAX_RESOURCE_ID_LENGTH = 200;

/**
 * Why a resource of `type` and `id` cannot have a section in a checkpoint, or undefined if
 * it can: its id is too long, or `type#id` does not fit one bank key segment once encoded.
 */
export function resourceKeyProblem(type: string, id: string): string | undefined {
  if (id.length > MAX_RESOURCE_ID_LENGTH)
    return `its id is ${id.length} characters long; an id may have at most ${MAX_RESOURCE_ID_LENGTH}`;
  const length = encodeSegment(`${type}#${id}`).length;
  if (length > MAX_SEGMENT_LENGTH) {
    return `"type#id" takes ${length} characters as a bank key segment (a character outside A-Z a-z 0-9 . _ ~ # @ + = , : - takes 3 per UTF-8 byte); at most ${MAX_SEGMENT_LENGTH}`;
  }
  return undefined;
}
export const operationKey = (id: string, op: string) => `checkpoints/${id}/operations/${op}.json`;
export const journalPrefix = (id: string) => `checkpoints/${id}/journal`;
export const timeIndexKey = (id: string, status: string, plan: string) =>
  `index/time/${id}.${status}.${plan}`;
export const planIndexPrefix = (plan: string) => `index/plan/${plan}/`;
export const planIndexKey = (id: string, status: string, plan: string) =>
  `${planIndexPrefix(plan)}${id}.${status}`;
export const STATS_INDEX = 'index/stats/';
export const statsIndexKey = (
  id: string,
  s: { files: number; bytes: number; newBytes: number; storedBytes: number; durationMs: number },
) => `${STATS_INDEX}${id}.${s.files}.${s.bytes}.${s.newBytes}.${s.storedBytes}.${s.durationMs}`;
export const checkpointLease = (id: string) => `checkpoint-${id}`;
export const metaLease = (id: string) => `meta-${id}`;

/** Ids sort by creation time: `20261123T094512345Z-3fa9c1d2`. */
export const CHECKPOINT_ID = /^\d{8}T\d{9}Z-[0-9a-f]{8}$/;

export function newCheckpointId(now = new Date()): string {
  const stamp = now.toISOString().replace(/[-:]/g, '').replace('.', '');
  const random = Math.floor(Math.random() * 0x100000000)
    .toString(16)
    .padStart(8, '0');
  return `${stamp}-${random}`;
}

export function idTime(id: string): Date {
  const m = /^(\d{4})(\d{2})(\d{2})T(\d{2})(\d{2})(\d{2})(\d{3})Z/.exec(id);
  if (!m) return new Date(Number.NaN);
  return new Date(Date.UTC(+m[1]!, +m[2]! - 1, +m[3]!, +m[4]!, +m[5]!, +m[6]!, +m[7]!));
}
