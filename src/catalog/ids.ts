/**
 * Catalog ids: UUIDv7 (RFC 9562 §5.7), lowercase. The first 48 bits are the Unix time in
 * milliseconds, so ids sort by creation time as strings; the 12 bits after the version are
 * a counter (§6.2 method 1) so that ids made in one millisecond by this process still sort
 * in the order they were made. The last 62 bits are random.
 */
import { randomBytes, randomInt } from 'node:crypto';
import { HoardError } from '../errors.js';

const MAX_TIME = 2 ** 48 - 1;
const MAX_COUNTER = 0xfff;
/** A fresh millisecond's counter starts at random below this, leaving room to count up. */
const COUNTER_SEED = 0x800;

const ID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

let lastTime = -1;
let counter = 0;

/**
 * A new UUIDv7 for `now` (default: the clock). Ids made later by this process sort after
 * earlier ones, even within a millisecond or when the clock steps back (they then carry the
 * latest time seen). An explicit `now` earlier than that gets its own time and no such
 * ordering.
 */
export function newId(now?: Date): string {
  let time = (now ?? new Date()).getTime();
  if (!Number.isInteger(time) || time < 0 || time > MAX_TIME) {
    throw new HoardError('CATALOG_INVALID', `cannot make an id for the time ${String(now)}`);
  }
  let count: number;
  if (time > lastTime) {
    lastTime = time;
    count = counter = randomInt(COUNTER_SEED);
  } else if (time === lastTime || now === undefined) {
    counter += 1;
    if (counter > MAX_COUNTER) {
      // The millisecond is used up: borrow the next one, as §6.2 allows.
      lastTime += 1;
      counter = randomInt(COUNTER_SEED);
    }
    time = lastTime;
    count = counter;
  } else {
    count = randomInt(MAX_COUNTER + 1);
  }
  const bytes = randomBytes(16);
  bytes.writeUIntBE(time, 0, 6);
  bytes[6] = 0x70 | (count >> 8);
  bytes[7] = count & 0xff;
  bytes[8] = 0x80 | (bytes[8]! & 0x3f);
  const hex = bytes.toString('hex');
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${hex.slice(16, 20)}-${hex.slice(20)}`;
}

/** True for any UUID in its textual form (any version, either case). */
export function isId(value: unknown): value is string {
  return typeof value === 'string' && ID.test(value);
}

/** The creation time of a UUIDv7. */
export function idTime(id: string): Date {
  return new Date(Number.parseInt(id.slice(0, 8) + id.slice(9, 13), 16));
}
