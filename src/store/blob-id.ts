import { createHash, createHmac } from 'node:crypto';

/**
 * A blob's id: SHA-256 of its bytes, or in an encrypted repository HMAC-SHA256 under the
 * repository's id key, so that an id tells nobody without the key whether it holds known
 * content. A module of its own so the hash workers load nothing else.
 */
export function blobId(raw: Uint8Array, idKey?: Uint8Array): string {
  return (idKey ? createHmac('sha256', idKey) : createHash('sha256')).update(raw).digest('hex');
}
