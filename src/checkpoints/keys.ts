/**
 * Where a checkpoint lives in a bank (docs/bank-layout.md):
 *
 *   checkpoints/<id>/meta.json                    the checkpoint record (authoritative)
 *   checkpoints/<id>/resources/<type#id>/...      each resource's plugin section (key encoded)
 *   checkpoints/<id>/operations/<op>.json         operation logs
 *   checkpoints/<id>/journal/<seq>.jsonl          the protect run's engine journal, in batches
 *   index/by-time/<M>/<D>/<H>/<rid>.<status>[+<stats>].<plan>
 *                                                 one empty object per checkpoint, newest first
 *   index/by-plan/<plan>/<M>/<D>/<H>/<rid>.<status>[+<stats>]
 *                                                 the same, per plan
 *
 * `<rid>` is the id reversed in order (`reverseId`): an ascending listing, the one kind S3
 * has, gives the newest first, so the newest page is one request. `<M>/<D>/<H>` are its
 * month, day and hour, so that a filesystem bank reads a few small directories for a page
 * however long the history. `<stats>` is the record's total stats, `files,bytes,newBytes,
 * storedBytes,durationMs` (banks without encryption only). Index entries carry everything a
 * listing shows in their key, so listing is one prefix scan and no read per checkpoint.
 *
 * Banks written before 2026-12-07 have flat, oldest-first entries (`LEGACY_*` below): they
 * are still read, and `gc` moves them to the layout above.
 *
 *   index/time/<id>.<status>.<plan>
 *   index/plan/<plan>/<id>.<status>
 *   index/stats/<id>.<files>.<bytes>.<newBytes>.<storedBytes>.<durationMs>
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

/** The flat, oldest-first index of banks written before 2026-12-07 (read, never written). */
export const LEGACY_TIME_INDEX = 'index/time/';
export const legacyTimeIndexKey = (id: string, status: string, plan: string) =>
  `${LEGACY_TIME_INDEX}${id}.${status}.${plan}`;
export const legacyPlanIndexPrefix = (plan: string) => `index/plan/${plan}/`;
export const legacyPlanIndexKey = (id: string, status: string, plan: string) =>
  `${legacyPlanIndexPrefix(plan)}${id}.${status}`;
export const LEGACY_STATS_INDEX = 'index/stats/';

/** The newest-first index, by time (all plans) and by plan. */
export const TIME_INDEX = 'index/by-time/';
export const planIndexPrefix = (plan: string) => `index/by-plan/${plan}/`;

/**
 * The id with its order reversed: each digit d of its time becomes 9 − d and each hex digit
 * x of its random part f − x (`20261123T094512345Z-3fa9c1d2` → `79738876T905487654Z-c0563e2d`),
 * so a later id gives a smaller string. Its own inverse; works on any prefix of an id.
 */
export function reverseId(id: string): string {
  let out = '';
  const dash = id.indexOf('-');
  for (let i = 0; i < id.length; i++) {
    const c = id[i]!;
    out += (dash !== -1 && i > dash ? REVERSE_HEX[c] : REVERSE_DIGIT[c]) ?? c;
  }
  return out;
}

const REVERSE_DIGIT: Record<string, string> = Object.fromEntries(
  [...'0123456789'].map((d, i) => [d, String(9 - i)]),
);
const REVERSE_HEX: Record<string, string> = Object.fromEntries(
  [...'0123456789abcdef'].map((x, i) => [x, (15 - i).toString(16)]),
);

/**
 * The key path, below an index prefix, of the entries of ids whose reversed form starts with
 * `rid`: `<M>/<D>/<H>/<rid>` for a whole id; a shorter `rid` stops where it ends (`<M>/<D>`
 * for eight characters), so that every entry of such an id starts with what it returns.
 */
export function indexPath(rid: string): string {
  const month = rid.slice(0, 6);
  if (rid.length <= 6) return month;
  const day = rid.slice(6, 8);
  if (rid.length <= 8) return `${month}/${day}`;
  if (rid.length === 9) return `${month}/${day}/`; // the 'T'
  const hour = rid.slice(9, 11);
  if (rid.length <= 11) return `${month}/${day}/${hour}`;
  return `${month}/${day}/${hour}/${rid}`;
}

export interface IndexStats {
  files: number;
  bytes: number;
  newBytes: number;
  storedBytes: number;
  durationMs: number;
}

/** `<status>` or `<status>+<files>,<bytes>,<newBytes>,<storedBytes>,<durationMs>`. */
function statusToken(status: string, stats: IndexStats | undefined): string {
  if (!stats) return status;
  return `${status}+${stats.files},${stats.bytes},${stats.newBytes},${stats.storedBytes},${stats.durationMs}`;
}

export const timeIndexKey = (id: string, status: string, plan: string, stats?: IndexStats) =>
  `${TIME_INDEX}${indexPath(reverseId(id))}.${statusToken(status, stats)}.${plan}`;
export const planIndexKey = (id: string, status: string, plan: string, stats?: IndexStats) =>
  `${planIndexPrefix(plan)}${indexPath(reverseId(id))}.${statusToken(status, stats)}`;
/** The prefix of every entry of checkpoint `id` under an index prefix. */
export const indexEntryPrefix = (index: string, id: string) => `${index}${indexPath(reverseId(id))}.`;
/**
 * A listing marker under an index prefix that lists only ids below `id` (older), which may be
 * a prefix of an id (a time): every key of such ids sorts after it.
 */
export const olderThanMarker = (index: string, id: string) => `${index}${indexPath(reverseId(id))}~`;

/**
 * An entry's name below its index prefix, parsed: `<M>/<D>/<H>/<rid>.<status>[+<stats>]`,
 * then `.<plan>` in the time index; undefined for a key that is not one.
 */
export function parseIndexEntry(
  name: string,
  withPlan: boolean,
): { id: string; status: string; plan?: string; stats?: IndexStats } | undefined {
  // `MMMMMM/DD/HH/` then the reversed id, whose first characters the directories repeat.
  const dot = name.indexOf('.', 13);
  if (
    dot !== 13 + 28 ||
    name[6] !== '/' ||
    name[9] !== '/' ||
    name[12] !== '/' ||
    !name.startsWith(name.slice(0, 6), 13) ||
    !name.startsWith(name.slice(7, 9), 19) ||
    !name.startsWith(name.slice(10, 12), 22)
  )
    return undefined;
  const id = reverseId(name.slice(13, dot));
  if (!CHECKPOINT_ID.test(id)) return undefined;
  const end = withPlan ? name.indexOf('.', dot + 1) : name.length;
  if (end === -1) return undefined;
  const plus = name.indexOf('+', dot + 1);
  const status = name.slice(dot + 1, plus === -1 || plus > end ? end : plus);
  let stats: IndexStats | undefined;
  if (plus !== -1 && plus < end) {
    const numbers = name
      .slice(plus + 1, end)
      .split(',')
      .map(wholeNumber);
    if (numbers.length !== 5 || numbers.some((n) => n === undefined)) return undefined;
    const [files, bytes, newBytes, storedBytes, durationMs] = numbers as number[];
    stats = {
      files: files!,
      bytes: bytes!,
      newBytes: newBytes!,
      storedBytes: storedBytes!,
      durationMs: durationMs!,
    };
  }
  if (!withPlan) return { id, status, ...(stats ? { stats } : {}) };
  const plan = name.slice(end + 1);
  return plan ? { id, status, plan, ...(stats ? { stats } : {}) } : undefined;
}

/** The number a string of decimal digits names, or undefined for anything else. */
function wholeNumber(text: string): number | undefined {
  if (text.length === 0 || text.length > 16) return undefined;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (c < 48 || c > 57) return undefined;
  }
  return Number(text);
}

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
