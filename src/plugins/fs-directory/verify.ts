/**
 * Verify: re-read and re-hash every blob the checkpoint refers to (each once), and report
 * damage by file.
 */
import { HoardError } from '../../errors.js';
import type { HookContext } from '../sdk.js';
import { readManifest } from './manifest.js';

export async function verifyTree(ctx: HookContext): Promise<{ files: number; blobs: number }> {
  const entries = await readManifest(ctx.bank);
  const filesOf = new Map<string, string[]>();
  for (const e of entries) for (const b of e.blobs ?? []) filesOf.set(b, [...(filesOf.get(b) ?? []), e.path]);
  const damaged = new Map<string, string>();
  let done = 0;
  for (const blob of filesOf.keys()) {
    ctx.signal.throwIfAborted();
    const problem = await ctx.store.checkBlob(blob);
    if (problem) damaged.set(blob, problem);
    ctx.progress(++done / filesOf.size);
  }
  if (damaged.size > 0) {
    const files = [...new Set([...damaged.keys()].flatMap((b) => filesOf.get(b) ?? []))].sort();
    const first = [...damaged.values()][0];
    throw new HoardError(
      'HOOK_FAILED',
      `${ctx.resource.type}#${ctx.resource.id}: ${damaged.size} damaged blob(s) in ${files.length} file(s): ${files
        .slice(0, 10)
        .join(', ')}${files.length > 10 ? ', …' : ''} (${first})`,
      { details: { files, blobs: [...damaged.keys()] } },
    );
  }
  return { files: entries.filter((e) => e.type === 'file').length, blobs: filesOf.size };
}
