/**
 * hoard-plugin-jsonfile: protects a JSON file. Protect checks that the file parses and stores
 * it with what it saw (savedInfo); verify checks the stored copy against that; restore writes
 * it to `target`, atomically, and refuses a target that exists unless `overwrite` is given.
 *
 * A plan names it as `{type: json.file, id: settings, path: /srv/app/settings.json}`; a
 * provider file as `plugin = hoard-plugin-jsonfile`, its settings in `[json.file]`.
 */
import { createHash } from 'node:crypto';
import { readFile, rename, rm, writeFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { definePlugin, defineType, type HookContext, Type } from 'hoard';

/** What protect saves with the file: the plugin's `savedInfo` schema describes it. */
export interface SavedInfo {
  /** The file protected. */
  path: string;
  size: number;
  sha256: string;
  /** Top-level keys of the document (an object), or its length (an array). */
  entries: number;
}

// Schemas written with TypeBox (re-exported by hoard) are JSON Schemas that also give types:
// the operations below read `resource.extra.path` and `parameters.target` typed.
const savedInfo = Type.Object(
  {
    path: Type.String(),
    size: Type.Integer({ minimum: 0 }),
    sha256: Type.String({ pattern: '^[0-9a-f]{64}$' }),
    entries: Type.Integer({ minimum: 0 }),
  },
  { additionalProperties: false },
);

const DATA = 'document.json';
const INFO = 'info.json';

export default definePlugin((settings) => {
  // Settings come from the provider file's section named after the plugin: [json.file].
  const maxBytes = Number(settings.max_bytes ?? 16 * 1024 * 1024);
  return {
    name: 'json.file',
    // The SDK this was built against, as a literal: Hoard refuses it under another major.
    sdkVersion: '1.0.0',
    description: 'A JSON file: checked on protect and verify, restored atomically',
    types: [
      defineType({
        type: 'json.file',
        // `hoard restore --target PATH` may set this type's target.
        restoreTarget: true,
        schemas: {
          resource: Type.Object(
            { path: Type.Optional(Type.String({ minLength: 1 })) },
            { additionalProperties: false },
          ),
          // `hoard restore --overwrite` arrives here as `overwrite: true`.
          restore: Type.Object(
            { target: Type.String({ minLength: 1 }), overwrite: Type.Optional(Type.Boolean()) },
            { additionalProperties: false },
          ),
          savedInfo,
        },
        operations: {
          protect: (resource) => ({
            onMain: (ctx) => protect(ctx, resource.extra?.path ?? resource.id, maxBytes),
          }),
          verify: () => ({ onMain: async (ctx) => void (await check(ctx)) }),
          restore: (_resource, { parameters }) => ({
            onMain: (ctx) => restore(ctx, parameters.target, parameters.overwrite === true),
          }),
          // copy and delete: Hoard copies and deletes the section itself
        },
      }),
    ],
  };
});

async function protect(ctx: HookContext, path: string, maxBytes: number): Promise<void> {
  const bytes = await readFile(path, { signal: ctx.signal });
  if (bytes.length > maxBytes)
    throw new Error(`${path} is ${bytes.length} bytes, more than max_bytes (${maxBytes}) allows`);
  const info: SavedInfo = { path, size: bytes.length, sha256: sha256(bytes), entries: entries(bytes, path) };
  await ctx.bank.put(DATA, bytes);
  await ctx.bank.put(INFO, JSON.stringify(info));
  ctx.log(`saved ${path} (${info.size} bytes, ${info.entries} entries)`);
  ctx.progress(1);
}

/** The stored copy, checked against what protect saw. */
async function check(ctx: HookContext): Promise<Buffer> {
  const info = JSON.parse((await ctx.bank.get(INFO)).toString('utf8')) as SavedInfo;
  const bytes = await ctx.bank.get(DATA);
  if (sha256(bytes) !== info.sha256) {
    // No need to name the resource: Hoard puts `json.file#ID main:` in front of the message.
    throw new Error(`the stored copy of ${info.path} does not match its checksum (sha256 ${info.sha256})`);
  }
  ctx.log(`checked ${info.path}`);
  return bytes;
}

async function restore(ctx: HookContext, target: string, overwrite: boolean): Promise<void> {
  const bytes = await check(ctx);
  const temporary = join(dirname(target), `.${Date.now()}.hoard-jsonfile.tmp`);
  await writeFile(temporary, bytes, { flag: 'wx' });
  try {
    if (!overwrite) await writeFile(target, '', { flag: 'wx' }); // fails if it exists
    await rename(temporary, target);
  } catch (error) {
    await rm(temporary, { force: true });
    if ((error as NodeJS.ErrnoException).code === 'EEXIST')
      throw new Error(`${target} exists: restore with --overwrite to replace it`);
    throw error;
  }
  ctx.log(`restored to ${target}`);
}

function sha256(bytes: Buffer): string {
  return createHash('sha256').update(bytes).digest('hex');
}

function entries(bytes: Buffer, path: string): number {
  let document: unknown;
  try {
    document = JSON.parse(bytes.toString('utf8'));
  } catch (error) {
    throw new Error(`${path} is not JSON: ${(error as Error).message}`);
  }
  if (Array.isArray(document)) return document.length;
  return typeof document === 'object' && document !== null ? Object.keys(document).length : 0;
}
