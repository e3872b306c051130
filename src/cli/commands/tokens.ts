import type { Command } from 'commander';
import type { TokenRecord } from '../../catalog/index.js';
import { HoardError } from '../../errors.js';
import type { CliContext } from '../context.js';

export function register(program: Command, context: (cmd: Command) => CliContext): void {
  const tokens = program
    .command('tokens')
    .description("Manage the API's bearer tokens (each bound to a project)")
    .addHelpText(
      'after',
      `
A token acts only in its project (/v1/PROJECT/…); an --admin token acts in every project and
may list them (GET /v1/projects). Only the token's SHA-256 is kept in the catalog.

Examples:
  hoard tokens create --project shop                 # prints the secret once
  TOKEN=$(hoard tokens create --project shop --json | jq -r .secret)
  curl -H "Authorization: Bearer $TOKEN" http://127.0.0.1:8420/v1/shop/plans
  hoard tokens create --project ops --admin --name oncall
  hoard tokens list --project shop
  hoard tokens revoke 0193a5c2-…                     # the id from tokens list`,
    );

  tokens
    .command('create')
    .description('Make a token; its secret is printed once and only its hash is kept')
    .requiredOption('--project <name>', 'the project the token may act in')
    .option('--admin', 'may act in every project and list them')
    .option('--name <text>', 'a label, e.g. who uses it')
    .addHelpText(
      'after',
      `
Examples:
  hoard tokens create --project shop --name ci
  TOKEN=$(hoard tokens create --project shop --json | jq -r .secret)`,
    )
    .action(async (opts: { project: string; admin?: boolean; name?: string }, cmd: Command) => {
      const ctx = context(cmd);
      if (!/^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$/.test(opts.project))
        throw new HoardError(
          'USAGE',
          `--project "${opts.project}": use letters, digits, '.', '_' and '-' (at most 64)`,
        );
      const catalog = await openCatalog(ctx.home);
      try {
        const { token, secret } = await catalog.createToken({
          project: opts.project,
          admin: opts.admin === true,
          name: opts.name ?? null,
        });
        ctx.print({ token, secret }, () =>
          [
            `token ${token.id} for project ${token.project}${token.admin ? ' (admin)' : ''}:`,
            secret,
            'Keep it now: it is not shown again. Use it as "Authorization: Bearer <token>".',
          ].join('\n'),
        );
      } finally {
        await catalog.close();
      }
    });

  tokens
    .command('list')
    .description('List tokens (never their secrets)')
    .option('--project <name>', 'only this project')
    .addHelpText('after', '\nExample:\n  hoard tokens list --project shop --json')
    .action(async (opts: { project?: string }, cmd: Command) => {
      const ctx = context(cmd);
      const catalog = await openCatalog(ctx.home);
      try {
        const all: TokenRecord[] = [];
        for (let marker: string | undefined; ; ) {
          const page = await catalog.listTokens(opts.project ?? null, {
            limit: 1000,
            ...(marker ? { marker } : {}),
          });
          all.push(...page.items);
          if (!page.next) break;
          marker = page.next;
        }
        ctx.print({ tokens: all }, () =>
          all.length
            ? all
                .map(
                  (t) =>
                    `${t.id}  ${t.project.padEnd(16)} ${t.admin ? 'admin ' : '      '}${t.name ?? ''}  ${t.createdAt}`,
                )
                .join('\n')
            : 'no tokens (make one with: hoard tokens create --project NAME)',
        );
      } finally {
        await catalog.close();
      }
    });

  tokens
    .command('revoke')
    .description('Revoke a token at once')
    .argument('<id>', 'token id (from tokens list)')
    .addHelpText('after', '\nExample:\n  hoard tokens revoke 0193a5c2-…')
    .action(async (id: string, _opts: unknown, cmd: Command) => {
      const ctx = context(cmd);
      const catalog = await openCatalog(ctx.home);
      try {
        if (!(await catalog.revokeToken(null, id)))
          throw new HoardError('USAGE', `no token ${id} (see hoard tokens list)`);
        ctx.print({ revoked: id }, () => `revoked ${id}`);
      } finally {
        await catalog.close();
      }
    });
}

/** The catalog, loaded when a tokens command runs rather than whenever hoard starts. */
async function openCatalog(home: string) {
  return (await import('../../catalog/index.js')).openCatalog(home);
}
