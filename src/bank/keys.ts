import { HoardError } from '../errors.js';

export const MAX_KEY_LENGTH = 1024;
/** The longest file name most filesystems allow, so that every key maps onto a path. */
export const MAX_SEGMENT_LENGTH = 255;

const KEY_CHARS = 'A-Za-z0-9._~#%@+=,:-';
const SEGMENT = /^[A-Za-z0-9._~#%@+=,:-]+$/;
const BAD_CHAR = /[^A-Za-z0-9._~#%@+=,:-]/;

/**
 * True for the one prefix an encrypted bank stages under: the content store's packs, sealed as
 * they fill (encrypted.ts `stage`; docs/encryption.md, "Staged packs").
 */
export function stagesSealed(prefix: string): boolean {
  return prefix === 'store/packs';
}

/** What a key string names, for error messages. */
export type KeyKind = 'key' | 'lease name' | 'section prefix' | 'list prefix';

/**
 * Why `key` is not a valid full key, or undefined if it is. Nothing is normalised away: a key
 * that would need it ('a//b', 'a/./b', '../x', '/a') is refused, so an object has exactly one
 * key and no key can reach outside its section.
 */
export function keyProblem(key: string): string | undefined {
  if (typeof key !== 'string') return 'it is not a string';
  if (key === '') return 'it is empty';
  if (key.length > MAX_KEY_LENGTH) return `it is longer than ${MAX_KEY_LENGTH} characters`;
  if (key.startsWith('/')) return 'it starts with "/"';
  if (key.endsWith('/')) return 'it ends with "/"';
  for (const segment of key.split('/')) {
    if (segment === '') return 'it has an empty segment ("//")';
    if (segment === '.' || segment === '..') return `it has a "${segment}" segment`;
    if (segment.startsWith('.')) return `its segment "${segment}" starts with "."`;
    if (segment.length > MAX_SEGMENT_LENGTH) {
      return `its segment "${segment.slice(0, 20)}…" is longer than ${MAX_SEGMENT_LENGTH} characters`;
    }
    const bad = BAD_CHAR.exec(segment);
    if (bad) return `it holds ${JSON.stringify(bad[0])}, outside [${KEY_CHARS}]`;
  }
  return undefined;
}

/** True if `name` can be one segment of a key; file names that are not (temp files, `.leases`) are never keys. */
export function isKeySegment(name: string): boolean {
  return name.length <= MAX_SEGMENT_LENGTH && !name.startsWith('.') && SEGMENT.test(name);
}

/**
 * Joins `key` to a section's `prefix` ('' at the root) and checks the result: the one place
 * keys, lease names and prefixes are validated. Returns the full key; throws
 * BANK_KEY_INVALID naming the key and what is wrong with it.
 *
 * A list prefix may be '' or end with '/', or stop inside a segment ('a/b' matches 'a/bc').
 * A section prefix may end with one '/', which is dropped.
 */
export function resolveKey(prefix: string, key: string, kind: KeyKind = 'key'): string {
  if (typeof key !== 'string') {
    throw new HoardError('BANK_KEY_INVALID', `invalid ${kind}: ${String(key)} is not a string`, {
      details: { key: String(key), prefix },
    });
  }
  let own = key;
  if (kind === 'section prefix' && own.length > 1 && own.endsWith('/')) own = own.slice(0, -1);
  const full = prefix === '' ? own : `${prefix}/${own}`;
  if (kind === 'list prefix' && full === '') return full;
  // A prefix ending at a segment boundary is valid when some key can extend it.
  const checked = kind === 'list prefix' && full.endsWith('/') ? `${full}x` : full;
  const problem = keyProblem(checked);
  if (problem === undefined) return full;
  const shown = prefix === '' ? JSON.stringify(key) : `${JSON.stringify(key)} in section "${prefix}"`;
  throw new HoardError(
    'BANK_KEY_INVALID',
    `invalid ${kind} ${shown} (full key ${JSON.stringify(full)}): ${problem}`,
    {
      details: { key, prefix, full, problem },
    },
  );
}

/** `full` without the section `prefix`; `full` must lie in the section. */
export function relativeKey(prefix: string, full: string): string {
  return prefix === '' ? full : full.slice(prefix.length + 1);
}
