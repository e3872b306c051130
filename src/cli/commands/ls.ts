import type { Command } from 'commander';
import type { CheckpointListing, ResourceContents } from '../../flows/browse.js';
import type { CliContext } from '../context.js';
import { columns, formatBytes, formatDuration } from '../format.js';
import { checkpointReference } from '../util.js';

export function register(program: Command, context: (cmd: Command) => CliContext): void {
  program
    .command('ls')
    .description("List a checkpoint's resources, a file resource's entries, or a database's saved info")
    .argument(
      '<checkpoint>',
      'checkpoint id, unique prefix (6+ characters) or "latest"',
      checkpointReference('CHECKPOINT'),
    )
    .argument('[resource]', 'a resource of the checkpoint: type#id, or its id alone when that is unique')
    .argument(
      '[path]',
      "a path inside a file resource (default: its root); a directory's entries, or one file",
    )
    .option('-r, --recursive', 'every entry below the path, not only its children')
    .option('--plan <name>', 'with "latest": the newest available checkpoint of this plan')
    .option('--provider <id>', 'provider holding the checkpoint (default: search all)')
    .addHelpText(
      'after',
      `
Without RESOURCE: the checkpoint's resources, their status and statistics. With a file
resource (fs.directory): its entries, read from the checkpoint's manifest (no file content
is read). With a database (sqlite.database, postgres.database): what protect recorded of
it (tables and row counts, size, checksum). An encrypted provider needs its password, or in
public-key mode its identity_file.

Examples:
  hoard ls latest --plan quickstart
  hoard ls 20261123T0945 fs.directory#notes
  hoard ls 20261123T0945 notes docs --recursive
  hoard ls 20261123T0945 notes docs/readme.md --json
  hoard ls 20261123T0945 sqlite.database#db

Exit status: 2 for a checkpoint, resource or path the checkpoint does not hold (named).`,
    )
    .action(
      async (
        ref: string,
        resource: string | undefined,
        path: string | undefined,
        opts: { recursive?: boolean; plan?: string; provider?: string },
        cmd: Command,
      ) => {
        const ctx = context(cmd);
        const { browseResource, listResources } = await import('../../flows/browse.js');
        const { provider, id } = await ctx.checkpoint(ref, opts);
        if (resource === undefined) {
          const listing = await listResources(provider, id);
          ctx.print(listing, () => formatListing(listing));
          return;
        }
        const contents = await ctx.interruptible((signal) =>
          browseResource(provider, id, resource, {
            signal,
            ...(path !== undefined ? { path } : {}),
            ...(opts.recursive ? { recursive: true } : {}),
          }),
        );
        ctx.print(contents, () => formatContents(contents));
      },
    );
}

function formatListing({ checkpoint, resources }: CheckpointListing): string {
  const head = `checkpoint ${checkpoint.id}  ${checkpoint.status}  (plan ${checkpoint.plan}, created ${checkpoint.createdAt})`;
  const withStats = resources.some((r) => isStats(r.stats));
  const rows = resources.map((r) => {
    const row = [r.resource, r.status];
    if (withStats) {
      const s = isStats(r.stats) ? r.stats : undefined;
      row.push(
        s?.files !== undefined ? String(s.files) : '-',
        s?.bytes !== undefined ? formatBytes(s.bytes) : '-',
        s?.newBytes !== undefined ? formatBytes(s.newBytes) : '-',
        s?.durationMs !== undefined ? formatDuration(s.durationMs) : '-',
      );
    }
    row.push(r.browse === 'entries' ? 'files' : r.browse === 'info' ? 'info' : '-');
    return row;
  });
  const header = ['RESOURCE', 'STATUS', ...(withStats ? ['FILES', 'SIZE', 'NEW', 'TIME'] : []), 'LS'];
  const errors = resources.filter((r) => r.error).map((r) => `  ${r.resource}: ${r.error!.message}`);
  return [head, ...columns(header, rows), ...errors].join('\n');
}

interface Stats {
  files?: number;
  bytes?: number;
  newBytes?: number;
  durationMs?: number;
}

function isStats(value: unknown): value is Stats {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

const TYPE_CHAR = { dir: 'd', file: '-', symlink: 'l' } as const;

/** `ls -l`'s way: type and permissions, size, time, path (a directory with `/`, a link with its target). */
function formatContents(contents: ResourceContents): string {
  if ('info' in contents) {
    if (contents.info === null) return `${contents.resource}: its plugin gives nothing to show`;
    return [contents.resource, ...formatInfo(contents.info, '  ')].join('\n');
  }
  if (contents.entries.length === 0) return `${contents.resource}: ${contents.path || '/'} is empty`;
  return columns(
    ['MODE', 'SIZE', 'MODIFIED', 'PATH'],
    contents.entries.map((e) => [
      TYPE_CHAR[e.type] + permissions(e.mode),
      e.type === 'dir' ? '-' : String(e.size),
      e.mtime.replace('T', ' ').replace(/\.\d+Z$/, ''),
      e.type === 'dir' ? `${e.path}/` : e.type === 'symlink' ? `${e.path} -> ${e.target}` : e.path,
    ]),
    { right: [1] },
  ).join('\n');
}

function permissions(mode: number): string {
  let out = '';
  for (const shift of [6, 3, 0]) {
    const bits = (mode >> shift) & 7;
    out += `${bits & 4 ? 'r' : '-'}${bits & 2 ? 'w' : '-'}${bits & 1 ? 'x' : '-'}`;
  }
  return out;
}

/** A saved-info object as indented lines; a list of objects (tables) as aligned columns. */
function formatInfo(info: Record<string, unknown>, indent: string): string[] {
  const lines: string[] = [];
  for (const [key, value] of Object.entries(info)) {
    if (Array.isArray(value) && value.length > 0 && value.every(isStats)) {
      const rows = value as Record<string, unknown>[];
      const keys = [...new Set(rows.flatMap((r) => Object.keys(r)))];
      lines.push(`${indent}${key}:`);
      const table = columns(
        keys.map((k) => k.toUpperCase()),
        rows.map((r) => keys.map((k) => (r[k] === undefined ? '-' : String(r[k])))),
      );
      for (const line of table) lines.push(`${indent}  ${line}`);
    } else if (typeof value === 'object' && value !== null && !Array.isArray(value)) {
      lines.push(`${indent}${key}:`, ...formatInfo(value as Record<string, unknown>, `${indent}  `));
    } else {
      lines.push(`${indent}${key}: ${Array.isArray(value) ? value.join(', ') : String(value)}`);
    }
  }
  return lines;
}
