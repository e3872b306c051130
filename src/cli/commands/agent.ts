import { readFileSync } from 'node:fs';
import type { Command } from 'commander';
import { InvalidArgumentError } from 'commander';
import { HoardError } from '../../errors.js';
import { queueSettings } from '../../queue/connection.js';
import { HOST_NAME } from '../../queue/hooks.js';
import type { Member } from '../../queue/registry.js';

import type { CliContext } from '../context.js';
import { positiveInt } from '../util.js';

/** Hoard's version (package.json), shown in the registry. */
export function hoardVersion(): string {
  try {
    const pkg = JSON.parse(readFileSync(new URL('../../../../package.json', import.meta.url), 'utf8'));
    return typeof pkg.version === 'string' ? pkg.version : 'unknown';
  } catch {
    return 'unknown';
  }
}

function hostName(value: string): string {
  if (!HOST_NAME.test(value))
    throw new InvalidArgumentError(
      'expected 1–63 letters, digits, ".", "_" or "-", starting with a letter or digit',
    );
  return value;
}

function settingsOf(ctx: CliContext) {
  const settings = queueSettings(ctx.io.env);
  if (!settings) {
    throw new HoardError(
      'QUEUE_INVALID',
      'HOARD_QUEUE_URL is not set: agents and workers meet through Redis (redis://HOST:PORT)',
      {
        details: { variable: 'HOARD_QUEUE_URL' },
      },
    );
  }
  return settings;
}

export function register(program: Command, context: (cmd: Command) => CliContext): void {
  program
    .command('agent')
    .description("Run the hooks of resources whose host is NAME, taken from that host's queue (SPEC §12)")
    .requiredOption('--host <name>', 'the plan host this agent serves', hostName)
    .option('--concurrency <n>', 'hooks at once', positiveInt, 1)
    .addHelpText(
      'after',
      `
Needs HOARD_QUEUE_URL (the Redis the coordinators use; HOARD_QUEUE_PREFIX as theirs) and
the same provider files as the coordinator, whose banks this machine can reach: an agent
writes into the shared bank. Runs until SIGINT/SIGTERM (hooks running are waited for;
again to cancel them).

Examples:
  HOARD_QUEUE_URL=redis://10.0.0.5:6379 hoard agent --host db1
  HOARD_QUEUE_URL=redis://10.0.0.5:6379 hoard agent --host files --concurrency 4`,
    )
    .action(async (opts: { host: string; concurrency: number }, cmd: Command) => {
      const ctx = context(cmd);
      const settings = settingsOf(ctx);
      const { providers } = await ctx.providers();
      const { Agent } = await import('../../queue/agent.js');
      const lockMs = Number(ctx.io.env.HOARD_AGENT_LOCK_MS) || undefined;
      const heartbeatMs = Number(ctx.io.env.HOARD_HEARTBEAT_MS) || undefined;
      const agent = await Agent.start({
        host: opts.host,
        concurrency: opts.concurrency,
        providers,
        settings,
        version: hoardVersion(),
        ...(lockMs ? { lockMs } : {}),
        ...(heartbeatMs ? { heartbeatMs } : {}),
        log: (line) => ctx.io.stderr.write(`${new Date().toISOString()} ${line}\n`),
      });
      ctx.print(
        { agent: agent.id, host: opts.host, concurrency: opts.concurrency },
        () =>
          `hoard agent ${agent.id}: serving host "${opts.host}" (${opts.concurrency} at once, providers: ${providers.map((p) => p.name).join(', ')})`,
      );
      await new Promise<void>((resolve) => {
        let stops = 0;
        const stop = (signal: NodeJS.Signals) => {
          stops++;
          ctx.io.stderr.write(
            stops === 1
              ? `\n${signal}: stopping (waiting for ${agent.running} running hook(s); again to cancel them)\n`
              : `\n${signal}: cancelling running hooks\n`,
          );
          void agent.close(stops > 1).finally(() => {
            process.off('SIGINT', stop);
            process.off('SIGTERM', stop);
            resolve();
          });
          if (stops > 1) void agent.close(true);
        };
        process.on('SIGINT', stop);
        process.on('SIGTERM', stop);
      });
    });

  const agents = program.command('agents').description('Agents and workers (SPEC §12)');
  agents
    .command('list')
    .description(
      'The agents and workers up now: host, kind, version, plugins, concurrency, last heartbeat, running',
    )
    .addHelpText(
      'after',
      `
Reads the registry in the Redis at HOARD_QUEUE_URL (HOARD_QUEUE_PREFIX); a member whose
heartbeat stopped disappears within three heartbeats.

Examples:
  HOARD_QUEUE_URL=redis://127.0.0.1:6379 hoard agents list
  HOARD_QUEUE_URL=redis://127.0.0.1:6379 hoard agents list --json`,
    )
    .action(async (_opts: unknown, cmd: Command) => {
      const ctx = context(cmd);
      const settings = settingsOf(ctx);
      const [{ connectQueue }, { listMembers }] = await Promise.all([
        import('../../queue/connection.js'),
        import('../../queue/registry.js'),
      ]);
      const redis = await connectQueue(settings);
      let members: Member[];
      try {
        members = await listMembers(redis, settings.prefix);
      } finally {
        redis.disconnect();
      }
      ctx.print({ agents: members }, () => formatMembers(members));
    });
}

function formatMembers(members: Member[]): string {
  if (members.length === 0) return 'no agents or workers are up';
  const rows = [
    ['HOST', 'KIND', 'VERSION', 'RUNNING', 'CONCURRENCY', 'LAST HEARTBEAT', 'PLUGINS', 'ID'],
    ...members.map((m) => [
      m.host,
      m.kind,
      m.version,
      String(m.running),
      String(m.concurrency),
      m.lastHeartbeat,
      m.plugins.join(','),
      m.id,
    ]),
  ];
  const widths = rows[0]!.map((_, i) => Math.max(...rows.map((r) => r[i]!.length)));
  return rows
    .map((r) =>
      r
        .map((cell, i) => cell.padEnd(widths[i]!))
        .join('  ')
        .trimEnd(),
    )
    .join('\n');
}
