/**
 * `fs.directory`: a file tree, stored content-addressed and deduplicated across
 * checkpoints in the provider's content store (SPEC §6). The on-disk format is in
 * docs/fs-directory-format.md.
 *
 * The hooks import their work (snapshot, restore, verify: worker threads, the content store)
 * when they run, so that loading the plugin — every command that loads the providers — costs
 * only its schemas.
 */

import { noParametersSchema, pathResourceSchema, targetRestoreSchema } from '../schemas.js';
import { definePlugin, defineType } from '../sdk.js';
import { Type } from '../typebox-lite.js';
import type { fsDirectoryBrowser } from './browse.js';

const restoreSchema = Type.Object(
  {
    ...targetRestoreSchema.properties,
    /**
     * Restore only these paths (relative to the protected root; a directory with everything
     * below it), and the directories above them with their modes and times. Default: all.
     */
    include: Type.Optional(Type.Array(Type.String({ minLength: 1 }), { minItems: 1 })),
  },
  { additionalProperties: false },
);

const optionsSchema = Type.Object(
  {
    /**
     * Patterns with `.gitignore` rules (exclude.ts; no `/` = any depth, leading `/` = the root,
     * trailing `/` = directories only, `!` re-includes): matching entries are left out.
     */
    exclude: Type.Optional(Type.Array(Type.String({ minLength: 1 }))),
    /** Read tasks in flight (each a worker thread reading up to 8 MiB of files). Default: the pool's threads + 1. */
    concurrency: Type.Optional(Type.Integer({ minimum: 1, maximum: 64 })),
  },
  { additionalProperties: false },
);

const browser = async (): Promise<typeof fsDirectoryBrowser> =>
  (await import('./browse.js')).fsDirectoryBrowser;

export const fsDirectoryPlugin = definePlugin(() => ({
  name: 'fs.directory',
  description:
    'A directory tree: files, directories, symbolic links, modes and mtimes; deduplicated across checkpoints',
  types: [
    defineType({
      type: 'fs.directory',
      restoreTarget: true,
      schemas: {
        resource: pathResourceSchema,
        options: optionsSchema,
        restore: restoreSchema,
        verify: noParametersSchema,
      },
      // browse.ts is imported when a checkpoint is looked into (ls, diff, restore --include).
      browse: {
        entries: async (ctx, request) => (await browser()).entries!(ctx, request),
        info: async (ctx) => (await browser()).info!(ctx),
      },
      operations: {
        protect: (resource) => ({
          // Content-addressed: a second run stores nothing new and writes the same manifest.
          idempotent: ['main'],
          onMain: async (ctx) => {
            const { snapshot } = await import('./snapshot.js');
            const { poolThreads } = await import('./pool.js');
            const stats = await snapshot(
              ctx,
              resource.extra?.path ?? resource.id,
              ctx.parameters.exclude ?? [],
              ctx.parameters.concurrency ?? poolThreads() + 1,
            );
            ctx.log(
              `${stats.files} files (${stats.filesReused} unchanged, ${stats.hardLinks} hard links), ${stats.dirs} directories, ${stats.symlinks} links; ${stats.bytesRead} bytes read, ${stats.bytesNew} new`,
            );
            // The manifest and the other objects of its section Hoard counts into storedBytes itself.
            ctx.reportStats({
              files: stats.files,
              bytes: stats.bytes,
              newBytes: stats.bytesNew,
              storedBytes: stats.bytesStored,
            });
          },
        }),
        restore: () => ({
          onMain: async (ctx) => {
            const { target, overwrite, include } = ctx.parameters;
            const { restoreTree } = await import('./restore.js');
            const stats = await restoreTree(ctx, target, overwrite === true, include);
            ctx.log(
              `restored ${stats.files} files, ${stats.dirs} directories, ${stats.symlinks} links into ${target}${include ? ` (only ${include.join(', ')})` : ''}`,
            );
          },
        }),
        verify: () => ({
          idempotent: ['main'],
          onMain: async (ctx) => {
            const { verifyTree } = await import('./verify.js');
            const { files, blobs } = await verifyTree(ctx);
            ctx.log(`verified ${blobs} blobs of ${files} files`);
          },
        }),
        copy: () => ({
          onMain: async (ctx) => {
            if (ctx.blobIds === undefined) return; // the same names in both stores: the objects are copied as they are
            const { renameManifest } = await import('./manifest.js');
            const entries = await renameManifest(ctx, ctx.blobIds);
            ctx.log(`renamed the blob ids of ${entries} entries for the target's store`);
          },
        }),
        // delete: the checkpoint's keys go; unreferenced blobs go at the next garbage collection
      },
    }),
  ],
}));
