/** `sqlite.database` verify: the stored copy's checksum, then `PRAGMA integrity_check` on a scratch copy. */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { HookContext } from '../sdk.js';
import { DATA_KEY, fail, reporter } from './common.js';
import { type CheckResult, runJob } from './job.js';
import { download, readInfo } from './stored.js';

export async function verify(ctx: HookContext): Promise<void> {
  const info = await readInfo(ctx);
  const dir = await mkdtemp(join(tmpdir(), 'hoard-sqlite-verify-'));
  try {
    const scratch = join(dir, DATA_KEY);
    const problems: string[] = [];
    const report = reporter(ctx);
    const got = await download(ctx, info, scratch, (f) => report(0.5 * f, 'reading'));
    if (got.size !== info.size) problems.push(`${got.size} bytes where ${info.size} were stored`);
    if (got.sha256 !== info.sha256) problems.push(`sha256 ${got.sha256} where ${info.sha256} was recorded`);
    report(0.5, 'checking');
    let integrity: string[];
    try {
      integrity = (await runJob<CheckResult>({ kind: 'check', file: scratch }, ctx.signal)).integrity;
    } catch (error) {
      if (ctx.signal.aborted) throw error;
      integrity = [error instanceof Error ? error.message : String(error)];
    }
    if (integrity.length !== 1 || integrity[0] !== 'ok') {
      const shown =
        integrity.slice(0, 5).join('; ') + (integrity.length > 5 ? `; … ${integrity.length - 5} more` : '');
      problems.push(`PRAGMA integrity_check: ${shown}`);
    }
    if (problems.length > 0) {
      throw fail(ctx, `${DATA_KEY} (a copy of ${info.path}) is damaged: ${problems.join('; ')}`, {
        problems,
        integrity: integrity.slice(0, 100),
      });
    }
    report(1, 'done');
    ctx.log(`${DATA_KEY}: sha256 matches, integrity_check ok (${info.pageCount} pages)`);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}
