/**
 * `fs.directory`: a file tree, stored content-addressed and deduplicated across
 * checkpoints in the provider's content store (SPEC §6). The on-disk format is in
 * docs/fs-directory-format.md.
 */
import { pathResourceSchema, targetRestoreSchema } from '../schemas.js';
import type { JsonSchema, Operation, PluginFactory } from '../sdk.js';
import { fsDirectoryBrowser } from './browse.js';
import { renameManifest } from './manifest.js';
import { poolThreads } from './pool.js';
import { restoreTree } from './restore.js';
import { snapshot } from './snapshot.js';
import { verifyTree } from './verify.js';

const restoreSchema: JsonSchema = {
  ...targetRestoreSchema,
  properties: {
    ...(targetRestoreSchema.properties as Record<string, JsonSchema>),
    /**
     * Restore only these paths (relative to the protected root; a directory with everything
     * below it), and the directories above them with their modes and times. Default: all.
     */
    include: { type: 'array', minItems: 1, items: { type: 'string', minLength: 1 } },
  },
};

const optionsSchema: JsonSchema = {
  type: 'object',
  additionalProperties: false,
  properties: {
    /**
     * Patterns with `.gitignore` rules (exclude.ts; no `/` = any depth, leading `/` = the root,
     * trailing `/` = directories only, `!` re-includes): matching entries are left out.
     */
    exclude: { type: 'array', items: { type: 'string', minLength: 1 } },
    /** Read tasks in flight (each a worker thread reading up to 8 MiB of files). Default: the pool's threads + 1. */
    concurrency: { type: 'integer', minimum: 1, maximum: 64 },
  },
};

export const fsDirectoryPlugin: PluginFactory = () => ({
  name: 'fs.directory',
  description:
    'A directory tree: files, directories, symbolic links, modes and mtimes; deduplicated across checkpoints',
  types: [
    {
      type: 'fs.directory',
      restoreTarget: true,
      schemas: {
        resource: pathResourceSchema,
        options: optionsSchema,
        restore: restoreSchema,
        verify: { type: 'object', additionalProperties: false, properties: {} },
      },
      browse: fsDirectoryBrowser,
    },
  ],
  operation(kind, resource, { parameters, protectParameters }) {
    const root = (resource.extra?.path as string | undefined) ?? resource.id;
    const op: Operation = {};
    if (kind === 'protect') {
      op.onMain = async (ctx) => {
        const stats = await snapshot(
          ctx,
          root,
          (protectParameters.exclude as string[] | undefined) ?? [],
          (protectParameters.concurrency as number | undefined) ?? poolThreads() + 1,
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
      };
    } else if (kind === 'restore') {
      op.onMain = async (ctx) => {
        const include = parameters.include as string[] | undefined;
        const stats = await restoreTree(
          ctx,
          parameters.target as string,
          parameters.overwrite === true,
          include,
        );
        ctx.log(
          `restored ${stats.files} files, ${stats.dirs} directories, ${stats.symlinks} links into ${parameters.target}${include ? ` (only ${include.join(', ')})` : ''}`,
        );
      };
    } else if (kind === 'verify') {
      op.onMain = async (ctx) => {
        const { files, blobs } = await verifyTree(ctx);
        ctx.log(`verified ${blobs} blobs of ${files} files`);
      };
    } else if (kind === 'copy') {
      op.onMain = async (ctx) => {
        if (ctx.blobIds === undefined) return; // the same names in both stores: the objects are copied as they are
        const entries = await renameManifest(ctx, ctx.blobIds);
        ctx.log(`renamed the blob ids of ${entries} entries for the target's store`);
      };
    } else {
      return undefined; // delete: the checkpoint's keys go; unreferenced blobs go at the next garbage collection
    }
    return op;
  },
});
