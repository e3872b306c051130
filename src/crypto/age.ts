/**
 * age (age-encryption.org/v1) with X25519 recipients, for the objects a write-only client
 * seals to a public key: each is a complete age file, so a person holding the identity can
 * open one with the `age` tool (`age -d -i key.txt`). Written here on node:crypto rather than
 * with the `age-encryption` package: that one seals with a pure-JavaScript ChaCha20, several
 * times slower than OpenSSL's, and packs are most of what is stored.
 *
 * A file: the header
 *   age-encryption.org/v1
 *   -> X25519 <ephemeral share, base64 without padding>
 *   <the 16-byte file key sealed to the recipient, base64>
 *   --- <HMAC-SHA256 of the header up to "---", base64>
 * then a 16-byte nonce and the payload (stream.ts's segments) under
 * HKDF-SHA256(file key, nonce, "payload").
 */
import {
  createCipheriv,
  createDecipheriv,
  createHmac,
  createPrivateKey,
  createPublicKey,
  diffieHellman,
  generateKeyPairSync,
  hkdfSync,
  type KeyObject,
  randomBytes,
  timingSafeEqual,
} from 'node:crypto';
import { bech32 } from '@scure/base';
import { type ObjectFormat, SealError } from './stream.js';

const INTRO = 'age-encryption.org/v1\n';
const X25519_INFO = 'age-encryption.org/v1/X25519';
const PKCS8_PREFIX = Buffer.from('302e020100300506032b656e04220420', 'hex');
const SPKI_PREFIX = Buffer.from('302a300506032b656e032100', 'hex');
/** A header with one X25519 stanza is about 200 bytes; more is not an age file of ours. */
const MAX_HEADER = 4096;

export interface Identity {
  /** `AGE-SECRET-KEY-1…` */
  identity: string;
  /** `age1…` */
  recipient: string;
}

/** A new X25519 identity and its recipient, as age-keygen makes them. */
export function newIdentity(): Identity {
  const { privateKey, publicKey } = generateKeyPairSync('x25519');
  const secret = privateKey.export({ format: 'der', type: 'pkcs8' }).subarray(-32);
  const pub = publicKey.export({ format: 'der', type: 'spki' }).subarray(-32);
  return {
    identity: bech32.encode('AGE-SECRET-KEY-', bech32.toWords(secret), false).toUpperCase(),
    recipient: bech32.encode('age', bech32.toWords(pub), false),
  };
}

/** The 32 bytes of an `age1…` recipient; throws naming what is wrong. */
export function parseRecipient(text: string): Buffer {
  return decode(text.trim(), 'age', 'a recipient (age1…)');
}

/** The 32 bytes of an `AGE-SECRET-KEY-1…` identity: the first such line of `text` (an age-keygen file). */
export function parseIdentity(text: string): Buffer {
  const line = text.split(/\r?\n/).find((l) => l.startsWith('AGE-SECRET-KEY-1'));
  if (line === undefined) throw new Error('it holds no AGE-SECRET-KEY-1… line (make one with age-keygen)');
  return decode(line.trim().toLowerCase(), 'age-secret-key-', 'an identity (AGE-SECRET-KEY-1…)');
}

/** The recipient of an identity. */
export function recipientOf(identity: Buffer): string {
  const pub = createPublicKey(privateKey(identity)).export({ format: 'der', type: 'spki' }).subarray(-32);
  return bech32.encode('age', bech32.toWords(pub), false);
}

function decode(text: string, prefix: string, what: string): Buffer {
  let decoded: { prefix: string; words: number[] };
  try {
    decoded = bech32.decode(text as `${string}1${string}`, false);
  } catch (error) {
    throw new Error(`"${text.slice(0, 12)}…" is not ${what}: ${(error as Error).message}`);
  }
  const bytes = Buffer.from(bech32.fromWords(decoded.words));
  if (decoded.prefix !== prefix || bytes.length !== 32) throw new Error(`it is not ${what}`);
  return bytes;
}

function privateKey(secret: Buffer): KeyObject {
  return createPrivateKey({ key: Buffer.concat([PKCS8_PREFIX, secret]), format: 'der', type: 'pkcs8' });
}

function publicKey(pub: Buffer): KeyObject {
  return createPublicKey({ key: Buffer.concat([SPKI_PREFIX, pub]), format: 'der', type: 'spki' });
}

const b64 = (bytes: Uint8Array) => Buffer.from(bytes).toString('base64').replace(/=+$/, '');

function wrapKey(shared: Buffer, share: Buffer, recipient: Buffer): Buffer {
  if (shared.every((b) => b === 0)) throw new SealError('the X25519 share is of low order');
  return Buffer.from(hkdfSync('sha256', shared, Buffer.concat([share, recipient]), X25519_INFO, 32));
}

function headerMac(fileKey: Buffer, header: string): Buffer {
  const key = Buffer.from(hkdfSync('sha256', fileKey, Buffer.alloc(0), 'header', 32));
  return createHmac('sha256', key).update(header, 'latin1').digest();
}

function payloadKey(fileKey: Buffer, nonce: Buffer): Buffer {
  return Buffer.from(hkdfSync('sha256', fileKey, nonce, 'payload', 32));
}

/** Objects sealed to `recipient` (32 bytes): a fresh file key per object. */
export function sealTo(recipient: Buffer): ObjectFormat {
  const to = publicKey(recipient);
  return {
    seal() {
      const fileKey = randomBytes(16);
      const ephemeral = generateKeyPairSync('x25519');
      const share = ephemeral.publicKey.export({ format: 'der', type: 'spki' }).subarray(-32);
      const shared = diffieHellman({ privateKey: ephemeral.privateKey, publicKey: to });
      const cipher = createCipheriv(
        'chacha20-poly1305',
        wrapKey(shared, share, recipient),
        Buffer.alloc(12),
        {
          authTagLength: 16,
        },
      );
      const body = Buffer.concat([cipher.update(fileKey), cipher.final(), cipher.getAuthTag()]);
      const header = `${INTRO}-> X25519 ${b64(share)}\n${b64(body)}\n---`;
      const nonce = randomBytes(16);
      return {
        header: Buffer.concat([
          Buffer.from(`${header} ${b64(headerMac(fileKey, header))}\n`, 'latin1'),
          nonce,
        ]),
        key: { cipher: 'chacha20-poly1305', key: payloadKey(fileKey, nonce) },
      };
    },
    open() {
      throw new SealError('it is sealed to the recipient, and only the identity opens it');
    },
  };
}

/** Objects sealed to the identity's recipient, opened with the identity (32 bytes). */
export function openWith(identity: Buffer): ObjectFormat {
  const secret = privateKey(identity);
  const ours = createPublicKey(secret).export({ format: 'der', type: 'spki' }).subarray(-32);
  return {
    seal: () => sealTo(ours).seal(),
    open(bytes) {
      const text = Buffer.from(bytes.subarray(0, Math.min(bytes.length, MAX_HEADER))).toString('latin1');
      if (!text.startsWith(INTRO.slice(0, Math.min(text.length, INTRO.length)))) {
        throw new SealError('it is not an age file');
      }
      const end = text.indexOf('\n--- ');
      const macEnd = end < 0 ? -1 : text.indexOf('\n', end + 5);
      if (macEnd < 0 || bytes.length < macEnd + 1 + 16) {
        if (bytes.length >= MAX_HEADER) throw new SealError('its age header does not end');
        return undefined;
      }
      const header = text.slice(0, end + 4);
      const mac = Buffer.from(text.slice(end + 5, macEnd), 'base64');
      const lines = header.slice(INTRO.length).split('\n');
      let fileKey: Buffer | undefined;
      for (let i = 0; i < lines.length - 1; i++) {
        const stanza = /^-> X25519 ([A-Za-z0-9+/]{43})$/.exec(lines[i]!);
        if (!stanza) continue;
        const share = Buffer.from(stanza[1]!, 'base64');
        const body = Buffer.from(lines[i + 1]!, 'base64');
        if (body.length !== 32) continue;
        const shared = diffieHellman({ privateKey: secret, publicKey: publicKey(share) });
        const decipher = createDecipheriv(
          'chacha20-poly1305',
          wrapKey(shared, share, ours),
          Buffer.alloc(12),
          {
            authTagLength: 16,
          },
        );
        decipher.setAuthTag(body.subarray(16));
        try {
          fileKey = Buffer.concat([decipher.update(body.subarray(0, 16)), decipher.final()]);
          break;
        } catch {
          // Sealed to another recipient: try the next stanza.
        }
      }
      if (fileKey === undefined) throw new SealError('it is not sealed to this identity');
      const expected = headerMac(fileKey, header);
      if (mac.length !== expected.length || !timingSafeEqual(mac, expected)) {
        throw new SealError('its age header fails authentication');
      }
      const nonce = Buffer.from(bytes.subarray(macEnd + 1, macEnd + 17));
      return { length: macEnd + 17, key: { cipher: 'chacha20-poly1305', key: payloadKey(fileKey, nonce) } };
    },
  };
}
