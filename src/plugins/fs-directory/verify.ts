/**
 * Verify: re-read and re-hash every blob the checkpoint refers to (each once, each pack read
 * once, the hashing in worker threads), and report damage by file.
 */
import { HoardError } from '../../errors.js';
import type { BlobLocation } from '../../store/index.js';
import type { HookContext } from '../sdk.js';
import { manifestName, readManifest } from './manifest.js';
import { poolThreads, run } from './pool.js';

export async function verifyTree(ctx: HookContext): Promise<{ files: number; blobs: number }> {
  const entries = await readManifest(ctx.bank, manifestName(ctx));
  const filesOf = new Map<string, string[]>();
  for (const e of entries) {
    for (const b of e.blobs ?? []) {
      const files = filesOf.get(b);
      if (files === undefined) filesOf.set(b, [e.path]);
      else if (files[files.length - 1] !== e.path) files.push(e.path);
    }
  }
  const damaged = new Map<string, string>();
  // Blobs the store does not have are damage too; the others are read and checked.
  const lacking = await ctx.store.lacking(filesOf.keys());
  for (const id of lacking) damaged.set(id, `blob ${id} is not in the content store's index`);
  const present = [...filesOf.keys()].filter((id) => !lacking.has(id));
  const locations: BlobLocation[] = [...(await ctx.store.locate(present)).values()];
  const total = locations.reduce((n, l) => n + l.length, 0);
  let done = 0;
  const reuse: SharedArrayBuffer[] = [];
  const pending: Promise<{ damaged: { id: string; message: string }[]; memory: SharedArrayBuffer }>[] = [];
  const settle = async () => {
    const result = await pending.shift()!;
    reuse.push(result.memory);
    for (const { id, message } of result.damaged) damaged.set(id, message);
  };
  try {
    const batches = ctx.store.readBatches(locations, {
      reuse,
      damaged: (blobs, why) => {
        for (const blob of blobs) damaged.set(blob.id, why.message);
      },
    });
    for await (const batch of batches) {
      ctx.signal.throwIfAborted();
      const memory = batch.bytes.buffer as SharedArrayBuffer;
      pending.push(run('check', { bytes: batch.bytes, blobs: batch.blobs }).then((r) => ({ ...r, memory })));
      done += batch.bytes.length;
      if (total > 0) ctx.progress(done / total);
      while (pending.length > poolThreads()) await settle();
    }
    while (pending.length > 0) await settle();
  } finally {
    await Promise.allSettled(pending);
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
  ctx.progress(1);
  return { files: entries.filter((e) => e.type === 'file').length, blobs: filesOf.size };
}
