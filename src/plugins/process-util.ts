/** Small helpers shared by the plugins that run external programs (exec.task, postgres). */

/** Sends `signal` to a whole process group; a group that is already gone is fine. */
export function signalGroup(pgid: number, signal: NodeJS.Signals): void {
  try {
    process.kill(-pgid, signal);
  } catch {
    // ESRCH: already gone.
  }
}

/** The last few non-empty lines of a program's output, on one line, for a one-line message. */
export function lastLines(text: string, count = 3, maxChars = 500): string {
  const lines = text
    .split('\n')
    .map((line) => line.trim())
    .filter((line) => line !== '');
  const joined = lines.slice(-count).join(' | ');
  return joined.length > maxChars ? `…${joined.slice(-maxChars)}` : joined;
}
