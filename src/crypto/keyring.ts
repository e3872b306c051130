/**
 * The `keys/` objects of an encrypted bank: `keys/repository.json` (in the clear: the bank is
 * encrypted, and its id) and one `keys/<id>.json` per password. Used by the encrypting store
 * to open or create a repository, and by `hoard key` to add, list, remove and change passwords.
 */
import { randomBytes } from 'node:crypto';
import { HoardError } from '../errors.js';
import {
  type EarlyKey,
  type KeyFile,
  keyFileProblem,
  newSecrets,
  openSecrets,
  type RepositoryRecord,
  type RepositorySecrets,
  repositoryRecord,
  sealSecrets,
} from './keys.js';

export const KEYS_PREFIX = 'keys/';
export const REPOSITORY_KEY = 'keys/repository.json';
/** Public-key mode: the secrets, sealed to the recipient (an age file). */
export const SEALED_SECRETS_KEY = 'keys/secrets.age';

/** The little of a bank the keyring needs (a `BankStore` has it; `keyStoreOf` adapts a `Bank`). */
export interface KeyStore {
  get(key: string): Promise<Buffer | undefined>;
  put(key: string, data: Buffer): Promise<void>;
  list(prefix: string): Promise<string[]>;
  delete(key: string): Promise<void>;
}

export interface KeyInfo {
  id: string;
  createdAt: string;
  host: string;
  user: string;
}

/** The repository record, or undefined if the bank is not encrypted. */
export async function readRecord(store: KeyStore, where: string): Promise<RepositoryRecord | undefined> {
  const bytes = await store.get(REPOSITORY_KEY);
  if (bytes === undefined) return undefined;
  let record: RepositoryRecord;
  try {
    record = JSON.parse(bytes.toString('utf8')) as RepositoryRecord;
  } catch {
    throw corrupt(where, REPOSITORY_KEY, 'it is not valid JSON');
  }
  const known =
    record?.version === 1 &&
    typeof record.id === 'string' &&
    (record.encryption === 'password' ||
      (record.encryption === 'public-key' && typeof record.recipient === 'string'));
  if (!known) {
    throw corrupt(where, REPOSITORY_KEY, 'it is not a version 1 repository record (password or public-key)');
  }
  return record;
}

/** The ids of the bank's key files. */
export async function keyIds(store: KeyStore): Promise<string[]> {
  return (await store.list(KEYS_PREFIX))
    .filter((key) => key !== REPOSITORY_KEY && key.endsWith('.json'))
    .map((key) => key.slice(KEYS_PREFIX.length, -'.json'.length));
}

async function readKeyFile(store: KeyStore, id: string, where: string): Promise<KeyFile | undefined> {
  const key = keyFileKey(id);
  const bytes = await store.get(key);
  if (bytes === undefined) return undefined;
  let file: unknown;
  try {
    file = JSON.parse(bytes.toString('utf8'));
  } catch {
    throw corrupt(where, key, 'it is not valid JSON');
  }
  const problem = keyFileProblem(file);
  if (problem) throw corrupt(where, key, problem);
  return file as KeyFile;
}

function keyFileKey(id: string): string {
  return `${KEYS_PREFIX}${id}.json`;
}

/** Every key file's id and where it was made, oldest first. */
export async function listKeys(store: KeyStore, where: string): Promise<KeyInfo[]> {
  const keys: KeyInfo[] = [];
  for (const id of await keyIds(store)) {
    const file = await readKeyFile(store, id, where);
    if (file) keys.push({ id, createdAt: file.createdAt, host: file.host, user: file.user });
  }
  return keys.sort((a, b) => a.createdAt.localeCompare(b.createdAt) || a.id.localeCompare(b.id));
}

/**
 * The secrets, and the id of the key file `password` opened (each is tried, as restic does);
 * ENCRYPTION_KEY_WRONG if it opens none.
 */
export async function unlock(
  store: KeyStore,
  password: string,
  where: string,
  ahead: { record?: RepositoryRecord; early?: EarlyKey } = {},
): Promise<{ secrets: RepositorySecrets; keyId: string; kdf: KeyFile['kdf'] }> {
  // The record (unless the caller read it) and the key files' listing are independent reads.
  const [record, ids] = await Promise.all([ahead.record ?? readRecord(store, where), keyIds(store)]);
  if (!record)
    throw new HoardError('ENCRYPTION_MISMATCH', `${where} is not encrypted: it has no ${REPOSITORY_KEY}`);
  for (const id of ids) {
    const file = await readKeyFile(store, id, where);
    if (!file) continue;
    let secrets: RepositorySecrets | undefined;
    try {
      secrets = await openSecrets(file, password, ahead.early);
    } catch (error) {
      throw corrupt(where, keyFileKey(id), (error as Error).message);
    }
    // A key of another repository: left by a creation that died before its record was
    // written (the repository was then made again). It opens nothing here.
    if (secrets === undefined || secrets.repository !== record.id) continue;
    return { secrets, keyId: id, kdf: file.kdf };
  }
  throw new HoardError(
    'ENCRYPTION_KEY_WRONG',
    ids.length === 0
      ? `${where} has no key files under ${KEYS_PREFIX}: its keys were removed, and nothing can open it`
      : `the password opens none of the ${ids.length} key${ids.length === 1 ? '' : 's'} of ${where}: check password_file or HOARD_PASSWORD`,
    { details: { keys: ids.length } },
  );
}

/** Makes a new repository's secrets and its first key file. The caller holds the bank's keys lease. */
export async function createRepository(
  store: KeyStore,
  password: string,
): Promise<{ secrets: RepositorySecrets; kdf: KeyFile['kdf'] }> {
  const secrets = newSecrets();
  const file = await sealSecrets(secrets, password);
  await store.put(keyFileKey(newKeyId()), Buffer.from(JSON.stringify(file, null, 2)));
  // The record last: a bank with a key file but no record is not yet encrypted, and is made again.
  await store.put(REPOSITORY_KEY, Buffer.from(JSON.stringify(repositoryRecord(secrets), null, 2)));
  return { secrets, kdf: file.kdf };
}

/** A new key file for `newPassword`, opened with `password`; its id. */
export async function addKey(
  store: KeyStore,
  password: string,
  newPassword: string,
  where: string,
): Promise<string> {
  const { secrets } = await unlock(store, password, where);
  const id = newKeyId();
  await store.put(
    keyFileKey(id),
    Buffer.from(JSON.stringify(await sealSecrets(secrets, newPassword), null, 2)),
  );
  return id;
}

/**
 * Removes key `id`, after `password` proved it can open the bank. Refuses to remove the last
 * key, and the key `password` opened (so nobody locks themselves out by mistake: change the
 * password with `changeKey`, or remove it with another).
 */
export async function removeKey(store: KeyStore, password: string, id: string, where: string): Promise<void> {
  const { keyId } = await unlock(store, password, where);
  const ids = await keyIds(store);
  if (!ids.includes(id)) {
    throw new HoardError('KEY_NOT_FOUND', `${where} has no key ${id} (hoard key list shows its keys)`, {
      details: { key: id },
    });
  }
  if (id === keyId) {
    throw new HoardError(
      'USAGE',
      `key ${id} is the one this password opens: remove it with another key's password, or use "hoard key passwd" to change it`,
    );
  }
  await store.delete(keyFileKey(id));
}

/** Replaces the key `password` opens with one for `newPassword`: the new one is written before the old one goes. */
export async function changeKey(
  store: KeyStore,
  password: string,
  newPassword: string,
  where: string,
): Promise<{ removed: string; added: string }> {
  const { secrets, keyId } = await unlock(store, password, where);
  const id = newKeyId();
  await store.put(
    keyFileKey(id),
    Buffer.from(JSON.stringify(await sealSecrets(secrets, newPassword), null, 2)),
  );
  await store.delete(keyFileKey(keyId));
  return { removed: keyId, added: id };
}

function newKeyId(): string {
  return randomBytes(8).toString('hex');
}

function corrupt(where: string, key: string, problem: string): HoardError {
  return new HoardError('BANK_OBJECT_CORRUPT', `${where}: ${key} is damaged: ${problem}`, {
    details: { key },
  });
}
