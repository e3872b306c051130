/**
 * Verify: re-read and re-hash every blob the checkpoint refers to (each once, each pack read
 * once, the hashing in worker threads), and report damage by file: every damaged blob is
 * found (a flipped byte, a pack cut short or gone, a blob in no index), not just the first.
 */
import type { BlobLocation } from '../../store/index.js';
import type { HookContext } from '../sdk.js';
import { Damage, damageError, damageLines } from './damage.js';
import { manifestName, readManifest } from './manifest.js';
import { poolThreads, run } from './pool.js';
import type { DamagedBlob } from './worker.js';

export async function verifyTree(ctx: HookContext): Promise<{ files: number; blobs: number }> {
  const entries = await readManifest(ctx.bank, manifestName(ctx));
  const ids = new Set<string>();
  for (const e of entries) for (const b of e.blobs ?? []) ids.add(b);
  const damage = new Damage();
  // Blobs the store does not have are damage too; the others are read and checked.
  for (const id of await ctx.store.lacking(ids)) damage.missing(id);
  const present = [...ids].filter((id) => !damage.has(id));
  const locations: BlobLocation[] = [...(await ctx.store.locate(present)).values()];
  const total = locations.reduce((n, l) => n + l.length, 0);
  let done = 0;
  const reuse: SharedArrayBuffer[] = [];
  const pending: Promise<{ damaged: DamagedBlob[]; memory: SharedArrayBuffer }>[] = [];
  const settle = async () => {
    const result = await pending.shift()!;
    reuse.push(result.memory);
    for (const blob of result.damaged) damage.blob(blob);
  };
  try {
    const batches = ctx.store.readBatches(locations, {
      reuse,
      signal: ctx.signal,
      damaged: (blobs, why) => {
        for (const blob of blobs) damage.blob({ id: blob.id, pack: blob.pack, problem: why.message });
      },
    });
    for await (const batch of batches) {
      ctx.signal.throwIfAborted();
      const memory = batch.bytes.buffer as SharedArrayBuffer;
      pending.push(
        run('check', {
          bytes: batch.bytes,
          blobs: batch.blobs,
          ...(batch.idKey ? { idKey: batch.idKey } : {}),
        }).then((r) => ({ ...r, memory })),
      );
      done += batch.bytes.length;
      if (total > 0) ctx.progress(done / total);
      while (pending.length > poolThreads()) await settle();
    }
    while (pending.length > 0) await settle();
  } finally {
    await Promise.allSettled(pending);
  }
  if (damage.blobCount > 0) {
    // So the store stops offering these copies: the next protect of the same data writes them again.
    await ctx.store.recordDamage(damage.list(), `verify of checkpoint ${ctx.checkpoint.id}`);
    const files = damage.files(entries);
    for (const line of damageLines(files, 'damaged')) ctx.log(line);
    throw damageError(
      `${ctx.resource.type}#${ctx.resource.id}`,
      `${damage.blobCount} damaged blob(s) in ${files.length} file(s)`,
      files,
      { blobs: damage.blobIds() },
    );
  }
  ctx.progress(1);
  return { files: entries.filter((e) => e.type === 'file').length, blobs: ids.size };
}
