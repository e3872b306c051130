/**
 * Which process holds a lease, so that a lease whose holder is provably dead can be broken at
 * once instead of after its time to live (a killed `hoard gc` must not stop every protect for
 * a minute). "Provably": the holder ran on this machine, in this PID namespace, since its
 * last boot, and no process has its pid any more. Anywhere else (another machine, another
 * container, no /proc) nothing is judged and the lease simply expires.
 */
import { readFileSync, readlinkSync } from 'node:fs';

/** This machine's boot and PID namespace (`<boot id>/<pid namespace inode>`), or undefined off Linux. */
export const HOST_KEY: string | undefined = hostKey();

/** The holder recorded with a lease this process takes: `<host key>:<pid>`. */
export const HOLDER: string | undefined = HOST_KEY === undefined ? undefined : `${HOST_KEY}:${process.pid}`;

/**
 * True only if `holder` names a process of this machine and PID namespace that is gone. A pid
 * reused by another process counts as alive: the lease then waits out its time, which is safe.
 */
export function holderGone(holder: string | undefined): boolean {
  if (holder === undefined || HOST_KEY === undefined) return false;
  const at = holder.lastIndexOf(':');
  if (at < 0 || holder.slice(0, at) !== HOST_KEY) return false;
  const pid = Number(holder.slice(at + 1));
  if (!Number.isSafeInteger(pid) || pid <= 0) return false;
  if (pid === process.pid) return false;
  try {
    process.kill(pid, 0);
    return false;
  } catch (error) {
    // EPERM: it exists, under another user.
    return (error as NodeJS.ErrnoException).code === 'ESRCH';
  }
}

function hostKey(): string | undefined {
  try {
    const boot = readFileSync('/proc/sys/kernel/random/boot_id', 'utf8').trim();
    const pidNamespace = readlinkSync('/proc/self/ns/pid'); // e.g. "pid:[4026531836]"
    if (!boot || !pidNamespace) return undefined;
    return `${boot}/${pidNamespace.replace(/[^0-9]/g, '')}`;
  } catch {
    return undefined;
  }
}
