/**
 * Where the store keeps things, relative to the `store/` section of the bank
 * (docs/store-format.md). Lease names and marker keys are the same string: a writer's marker
 * object is how a prune finds the writer's lease, since leases cannot be listed.
 */

export const PACKS = 'packs/';
export const INDEX = 'index/';
/** One marker object per open writer, named like its lease. */
export const WRITERS = 'locks/writers/';
export const PRUNE_LEASE = 'locks/prune';
/** `damaged/<pack>/<blob>`: that copy of the blob is known damaged (docs/store-format.md, "Damage"). */
export const DAMAGED = 'damaged/';

export const BLOB_ID = /^[0-9a-f]{64}$/;

export function packKey(pack: string): string {
  return `${PACKS}${pack.slice(0, 2)}/${pack}`;
}

export function indexKey(pack: string): string {
  return `${INDEX}${pack}.json`;
}

/** The pack id of a key `packs/<xx>/<pack>`, or undefined if the key is not a pack's. */
export function packOfPackKey(key: string): string | undefined {
  const match = /^packs\/([0-9a-f]{2})\/([0-9a-f]{64})$/.exec(key);
  return match?.[2]?.startsWith(match[1]!) ? match[2] : undefined;
}

/** The pack id of a key `index/<pack>.json`, or undefined if the key is not an index's. */
export function packOfIndexKey(key: string): string | undefined {
  return /^index\/([0-9a-f]{64})\.json$/.exec(key)?.[1];
}

export function damagedKey(pack: string, blob: string): string {
  return `${DAMAGED}${pack}/${blob}`;
}

/** Pack and blob of a key `damaged/<pack>/<blob>`, or undefined if the key is not one. */
export function ofDamagedKey(key: string): { pack: string; blob: string } | undefined {
  const match = /^damaged\/([0-9a-f]{64})\/([0-9a-f]{64})$/.exec(key);
  return match ? { pack: match[1]!, blob: match[2]! } : undefined;
}
