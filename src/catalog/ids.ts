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

/** Where one run of ids is: the time the last one carries, the latest time asked, its counter. */
class Sequence {
  private time = -1;
  private asked = -1;
  private counter = 0;

  /**
   * The time and counter for an id asked for `time`. Keeps order while `time` does not go
   * back past a time asked before, unless `always` (the clock: it may step back).
   */
  next(time: number, always: boolean): [number, number] {
    if (time > this.time) {
      this.time = this.asked = time;
      this.counter = randomInt(COUNTER_SEED);
    } else if (time >= this.asked || always) {
      this.asked = Math.max(this.asked, time);
      this.counter += 1;
      if (this.counter > MAX_COUNTER) {
        // The millisecond is used up: borrow the next one, as §6.2 allows.
        this.time += 1;
        this.counter = randomInt(COUNTER_SEED);
      }
    } else {
      return [time, randomInt(MAX_COUNTER + 1)];
    }
    return [this.time, this.counter];
  }
}

const clock = new Sequence();
const given = new Sequence();

/**
 * A new UUIDv7 for `now` (default: the clock). Ids made by the clock sort in the order this
 * process made them, even within a millisecond or when the clock steps back (they then carry
 * the latest time used). Ids for a given `now` sort in order among those given the same or
 * later times, and do not disturb the clock's.
 */
export function newId(now?: Date): string {
  const asked = (now ?? new Date()).getTime();
  if (!Number.isInteger(asked) || asked < 0 || asked > MAX_TIME) {
    throw new HoardError('CATALOG_INVALID', `cannot make an id for the time ${String(now)}`);
  }
  const [time, count] = now === undefined ? clock.next(asked, true) : given.next(asked, false);
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
