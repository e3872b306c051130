/**
 * Who is up: agents (`hoard agent --host NAME`) and workers (`hoard worker`) each keep a
 * record in Redis, renewed by a heartbeat and expiring by itself when the process dies, so
 * `hoard agents list` and `GET /v1/{project}/agents` see the living ones (SPEC §12).
 *
 * Layout (all under the queue's prefix): `<prefix>:members:<id>` is a JSON string with a
 * time-to-live of three heartbeats; `<prefix>:members` is a set of ids, pruned of ids whose
 * record has expired when listed.
 */
import type { Redis } from 'ioredis';

export type MemberKind = 'agent' | 'worker';

export interface Member {
  /** `<kind>.<hostname>.<pid>.<random>`: unique per process. */
  id: string;
  kind: MemberKind;
  /** For an agent, the plan host it serves; for a worker, the machine's hostname. */
  host: string;
  version: string;
  /** Plugin type names the process has loaded. */
  plugins: string[];
  concurrency: number;
  /** Hooks (agents) or operations (workers) running now. */
  running: number;
  startedAt: string;
  lastHeartbeat: string;
}

const membersKey = (prefix: string) => `${prefix}:members`;
const memberKey = (prefix: string, id: string) => `${prefix}:members:${id}`;

/** Writes (or renews) a member's record, living `ttlMs`. */
export async function heartbeat(redis: Redis, prefix: string, member: Member, ttlMs: number): Promise<void> {
  await redis
    .multi()
    .set(memberKey(prefix, member.id), JSON.stringify(member), 'PX', ttlMs)
    .sadd(membersKey(prefix), member.id)
    .exec();
}

/** Removes a member's record at once (a clean shutdown). */
export async function leave(redis: Redis, prefix: string, id: string): Promise<void> {
  await redis.multi().del(memberKey(prefix, id)).srem(membersKey(prefix), id).exec();
}

/** The living members, agents first, then by host and id. */
export async function listMembers(redis: Redis, prefix: string): Promise<Member[]> {
  const ids = await redis.smembers(membersKey(prefix));
  if (ids.length === 0) return [];
  const values = await redis.mget(ids.map((id) => memberKey(prefix, id)));
  const members: Member[] = [];
  const expired: string[] = [];
  ids.forEach((id, i) => {
    const value = values[i];
    if (value == null) expired.push(id);
    else members.push(JSON.parse(value) as Member);
  });
  if (expired.length > 0) await redis.srem(membersKey(prefix), ...expired);
  return members.sort(
    (a, b) => a.kind.localeCompare(b.kind) || a.host.localeCompare(b.host) || a.id.localeCompare(b.id),
  );
}
