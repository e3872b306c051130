/**
 * A repository's secrets and the key files that hold them, wrapped by a password
 * (docs/bank-layout.md, "Encryption"). The secrets never change once made; a password is
 * added, changed or removed by writing or deleting a key file, never by re-encrypting data.
 */
import { createCipheriv, createDecipheriv, randomBytes, scrypt as scryptCallback } from 'node:crypto';
import { hostname, userInfo } from 'node:os';
import { promisify } from 'node:util';

const scrypt = promisify(scryptCallback) as (
  password: string,
  salt: Buffer,
  length: number,
  options: { N: number; r: number; p: number; maxmem: number },
) => Promise<Buffer>;

/** What encrypting and naming the repository's content needs; made once, when the repository is. */
export interface RepositorySecrets {
  /** The repository's id (hex), also in `keys/repository.json`. */
  repository: string;
  /** Each object's segment key is derived from it (stream.ts). */
  dataKey: Buffer;
  /** Blob ids are HMAC-SHA256 under it, so an id says nothing of the content to whoever lacks it. */
  idKey: Buffer;
  /** The chunker's gear table comes from it, so chunk boundaries (and sizes) are secret too. */
  chunkerSeed: Buffer;
}

/** `keys/repository.json`: in the clear, it says the bank is encrypted and how. */
export interface RepositoryRecord {
  version: 1;
  id: string;
  encryption: 'password' | 'public-key';
  /** Public-key mode: the age recipient everything readable only by the identity is sealed to. */
  recipient?: string;
  createdAt: string;
}

/** `keys/<id>.json`: the secrets sealed under a key derived from one password. */
export interface KeyFile {
  version: 1;
  kind: 'password';
  createdAt: string;
  /** Where and by whom it was made, to tell keys apart in `hoard key list`. */
  host: string;
  user: string;
  kdf: { name: 'scrypt'; N: number; r: number; p: number; salt: string };
  /** ChaCha20-Poly1305 of the secrets' JSON: nonce, then ciphertext and tag, base64. */
  nonce: string;
  sealed: string;
}

/**
 * scrypt's cost for new keys: N = 2^16, r = 8 (64 MiB, about 0.3 s here): paid once per
 * process that opens the bank. HOARD_KDF_N lowers it for tests; a key file records
 * the cost it was made with, so it opens whatever the setting is later.
 */
function kdfCost(): number {
  const n = Number(process.env.HOARD_KDF_N);
  return Number.isSafeInteger(n) && n >= 1024 && (n & (n - 1)) === 0 ? n : 2 ** 16;
}

/**
 * A wrapping key derived ahead of time, before the key file was read (bank/deferred.ts): used
 * for a key file whose KDF parameters are exactly these (the key is a function of the password
 * and them alone), else ignored.
 */
export interface EarlyKey {
  kdf: KeyFile['kdf'];
  key: Promise<Buffer | undefined>;
}

function sameKdf(a: KeyFile['kdf'], b: KeyFile['kdf']): boolean {
  return a.name === b.name && a.N === b.N && a.r === b.r && a.p === b.p && a.salt === b.salt;
}

export async function wrappingKey(password: string, kdf: KeyFile['kdf']): Promise<Buffer> {
  return scrypt(password, Buffer.from(kdf.salt, 'base64'), 32, {
    N: kdf.N,
    r: kdf.r,
    p: kdf.p,
    maxmem: 256 * kdf.N * kdf.r + 1024 * 1024,
  });
}

export function newSecrets(): RepositorySecrets {
  return {
    repository: randomBytes(16).toString('hex'),
    dataKey: randomBytes(32),
    idKey: randomBytes(32),
    chunkerSeed: randomBytes(32),
  };
}

export function repositoryRecord(secrets: RepositorySecrets, recipient?: string): RepositoryRecord {
  return {
    version: 1,
    id: secrets.repository,
    ...(recipient ? { encryption: 'public-key' as const, recipient } : { encryption: 'password' as const }),
    createdAt: new Date().toISOString(),
  };
}

/** The secrets as JSON (inside a key file, sealed to a recipient, or a writer's own file). */
export function secretsJson(secrets: RepositorySecrets): string {
  return JSON.stringify({
    repository: secrets.repository,
    dataKey: secrets.dataKey.toString('base64'),
    idKey: secrets.idKey.toString('base64'),
    chunkerSeed: secrets.chunkerSeed.toString('base64'),
  });
}

/** The secrets from `secretsJson`'s text; throws naming what is wrong. */
export function parseSecrets(text: string): RepositorySecrets {
  const json = JSON.parse(text) as Record<string, string>;
  const bytes = (name: string) => {
    const value = Buffer.from(json[name] ?? '', 'base64');
    if (value.length !== 32) throw new Error(`its ${name} is not 32 bytes`);
    return value;
  };
  if (typeof json.repository !== 'string') throw new Error('it names no repository');
  return {
    repository: json.repository,
    dataKey: bytes('dataKey'),
    idKey: bytes('idKey'),
    chunkerSeed: bytes('chunkerSeed'),
  };
}

/** A new key file holding `secrets`, opened by `password`. */
export async function sealSecrets(secrets: RepositorySecrets, password: string): Promise<KeyFile> {
  const kdf = { name: 'scrypt' as const, N: kdfCost(), r: 8, p: 1, salt: randomBytes(32).toString('base64') };
  const key = await wrappingKey(password, kdf);
  const nonce = randomBytes(12);
  const cipher = createCipheriv('chacha20-poly1305', key, nonce, { authTagLength: 16 });
  const plain = Buffer.from(secretsJson(secrets));
  const sealed = Buffer.concat([cipher.update(plain), cipher.final(), cipher.getAuthTag()]);
  let user = 'unknown';
  try {
    user = userInfo().username;
  } catch {
    // No passwd entry (a container): the name is only informative.
  }
  return {
    version: 1,
    kind: 'password',
    createdAt: new Date().toISOString(),
    host: hostname(),
    user,
    kdf,
    nonce: nonce.toString('base64'),
    sealed: sealed.toString('base64'),
  };
}

/** The secrets in `file` if `password` opens it, else undefined. Throws only for a malformed file. */
export async function openSecrets(
  file: KeyFile,
  password: string,
  early?: EarlyKey,
): Promise<RepositorySecrets | undefined> {
  const ahead = early !== undefined && sameKdf(early.kdf, file.kdf) ? await early.key : undefined;
  const key = ahead ?? (await wrappingKey(password, file.kdf));
  const sealed = Buffer.from(file.sealed, 'base64');
  if (sealed.length < 16) throw new Error('its sealed secrets are cut short');
  const decipher = createDecipheriv('chacha20-poly1305', key, Buffer.from(file.nonce, 'base64'), {
    authTagLength: 16,
  });
  decipher.setAuthTag(sealed.subarray(sealed.length - 16));
  let plain: Buffer;
  try {
    plain = Buffer.concat([decipher.update(sealed.subarray(0, sealed.length - 16)), decipher.final()]);
  } catch {
    return undefined;
  }
  return parseSecrets(plain.toString('utf8'));
}

/** The problem with a parsed key file's shape, or undefined if it has the fields openSecrets needs. */
export function keyFileProblem(value: unknown): string | undefined {
  const file = value as Partial<KeyFile> | null;
  if (file === null || typeof file !== 'object') return 'it is not a JSON object';
  if (file.version !== 1) return `its version is ${JSON.stringify(file.version)}, not 1`;
  if (file.kind !== 'password') return `its kind is ${JSON.stringify(file.kind)}, not "password"`;
  const kdf = file.kdf;
  if (
    typeof kdf !== 'object' ||
    kdf === null ||
    kdf.name !== 'scrypt' ||
    ![kdf.N, kdf.r, kdf.p].every((n) => Number.isSafeInteger(n) && n > 0) ||
    kdf.N > 2 ** 22 ||
    kdf.r > 32 ||
    kdf.p > 16 ||
    typeof kdf.salt !== 'string'
  )
    return 'its kdf is not scrypt with sane N, r, p and a salt';
  if (typeof file.nonce !== 'string' || typeof file.sealed !== 'string') return 'it lacks nonce or sealed';
  return undefined;
}
