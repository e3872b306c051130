import { readFile, writeFile } from 'node:fs/promises';
import type { Command } from 'commander';
import { HoardError } from '../../errors.js';
import type { CliContext } from '../context.js';

/** The key flows, loaded when a key command runs. */
const flows = () => import('../../flows/keys.js');

const ABOUT = `
An encrypted bank ("encryption = password" in the provider file) keeps its secrets in key
files under keys/, each opened by one password. The provider's own password
([encryption] password_file, or HOARD_PASSWORD) proves access; a new password comes from
--new-password-file, HOARD_NEW_PASSWORD, or is asked for twice on a terminal. No data is
re-encrypted: a removed password opens nothing afterwards, but whoever knew it and kept a
copy of the secrets (or of the bank) keeps what they had.`;

export function register(program: Command, context: (cmd: Command) => CliContext): void {
  const key = program
    .command('key')
    .description("List, add, remove and change the passwords of a provider's encrypted bank")
    .addHelpText(
      'after',
      `${ABOUT}

Examples:
  hoard key list --provider offsite
  hoard key add --provider offsite --new-password-file /etc/hoard/second.pass
  hoard key passwd --provider offsite --new-password-file /etc/hoard/new.pass
  hoard key remove 3f9c2a1b0d4e5f60 --provider offsite
  hoard key new-identity --out /root/offsite.key`,
    );

  key
    .command('list')
    .description('The key files of the bank: id, when, where and by whom each was made')
    .option('--provider <id>', 'provider name or id', 'local')
    .addHelpText(
      'after',
      '\nExamples:\n  hoard key list --provider offsite\n  hoard key list --provider offsite --json',
    )
    .action(async (opts: { provider: string }, cmd: Command) => {
      const ctx = context(cmd);
      const { keys, current } = await (await flows()).providerKeys(await ctx.provider(opts.provider));
      ctx.print({ keys: keys.map((k) => ({ ...k, current: k.id === current })) }, () =>
        keys
          .map((k) => `${k.id === current ? '*' : ' '} ${k.id}  ${k.createdAt}  ${k.user}@${k.host}`)
          .join('\n'),
      );
    });

  key
    .command('add')
    .description('Add a password: a new key file for the same secrets')
    .option('--provider <id>', 'provider name or id', 'local')
    .option('--new-password-file <file>', 'the new password: the first line of this file')
    .addHelpText(
      'after',
      '\nExamples:\n  hoard key add --provider offsite --new-password-file /etc/hoard/second.pass\n  HOARD_NEW_PASSWORD=… hoard key add --provider offsite',
    )
    .action(async (opts: { provider: string; newPasswordFile?: string }, cmd: Command) => {
      const ctx = context(cmd);
      const provider = await ctx.provider(opts.provider);
      const id = await (await flows()).addProviderKey(provider, await newPassword(ctx, opts.newPasswordFile));
      ctx.print({ key: { id, added: true } }, () => `added key ${id}`);
    });

  key
    .command('remove')
    .description('Remove a password (not the last one, nor the one this provider uses)')
    .argument('<id>', 'the key id, as "hoard key list" shows it')
    .option('--provider <id>', 'provider name or id', 'local')
    .addHelpText('after', '\nExamples:\n  hoard key remove 3f9c2a1b0d4e5f60 --provider offsite')
    .action(async (id: string, opts: { provider: string }, cmd: Command) => {
      const ctx = context(cmd);
      await (await flows()).removeProviderKey(await ctx.provider(opts.provider), id);
      ctx.print({ key: { id, removed: true } }, () => `removed key ${id}`);
    });

  key
    .command('new-identity')
    .description(
      'Make an age identity for public-key mode: the file to keep safe, and the recipient to give writers',
    )
    .requiredOption('--out <file>', 'where to write the identity (made 0600; never overwritten)')
    .addHelpText(
      'after',
      `
The identity reads everything a public-key provider stores (restore, verify, gc); writers
need only the recipient it prints ([encryption] recipient = age1…). It is an age X25519
identity, the same as age-keygen makes: "age -d -i FILE" opens any pack of such a bank.

Examples:
  hoard key new-identity --out /root/offsite.key
  hoard key new-identity --out offsite.key --json`,
    )
    .action(async (opts: { out: string }, cmd: Command) => {
      const ctx = context(cmd);
      const made = (await flows()).newIdentity();
      try {
        await writeFile(
          ctx.path(opts.out),
          `# created: ${new Date().toISOString()}\n# public key: ${made.recipient}\n${made.identity}\n`,
          { mode: 0o600, flag: 'wx' },
        );
      } catch (error) {
        throw new HoardError(
          'USAGE',
          `--out ${opts.out} cannot be written (${(error as NodeJS.ErrnoException).code ?? (error as Error).message}): an identity is never written over an existing file`,
        );
      }
      ctx.print({ identity: { file: opts.out, recipient: made.recipient } }, () =>
        [
          `wrote the identity to ${opts.out} (keep it safe, and a copy elsewhere)`,
          `recipient: ${made.recipient}`,
        ].join('\n'),
      );
    });

  key
    .command('passwd')
    .description("Change the provider's password: a new key file, then the old one removed")
    .option('--provider <id>', 'provider name or id', 'local')
    .option('--new-password-file <file>', 'the new password: the first line of this file')
    .addHelpText(
      'after',
      '\nAfterwards, point [encryption] password_file (or HOARD_PASSWORD) at the new password.\n\nExamples:\n  hoard key passwd --provider offsite --new-password-file /etc/hoard/new.pass',
    )
    .action(async (opts: { provider: string; newPasswordFile?: string }, cmd: Command) => {
      const ctx = context(cmd);
      const provider = await ctx.provider(opts.provider);
      const changed = await (await flows()).changeProviderKey(
        provider,
        await newPassword(ctx, opts.newPasswordFile),
      );
      ctx.print(
        { key: changed },
        () =>
          `added key ${changed.added}, removed key ${changed.removed}: now set the provider's password_file (or HOARD_PASSWORD) to the new password`,
      );
    });
}

/** The new password: from the file, the environment, or asked twice on a terminal. */
async function newPassword(ctx: CliContext, file: string | undefined): Promise<string> {
  if (file !== undefined) {
    let text: string;
    try {
      text = await readFile(ctx.path(file), 'utf8');
    } catch (error) {
      throw new HoardError(
        'USAGE',
        `--new-password-file ${file} cannot be read (${(error as NodeJS.ErrnoException).code ?? (error as Error).message})`,
      );
    }
    return text.split(/\r?\n/)[0] ?? '';
  }
  const fromEnv = ctx.io.env.HOARD_NEW_PASSWORD;
  if (fromEnv !== undefined) return fromEnv;
  if (!ctx.io.stdin.isTTY) {
    throw new HoardError('USAGE', 'give the new password with --new-password-file or HOARD_NEW_PASSWORD');
  }
  const first = await ask(ctx, 'new password: ');
  const again = await ask(ctx, 'new password again: ');
  if (first !== again) throw new HoardError('USAGE', 'the two passwords differ');
  return first;
}

/** One line from the terminal, not echoed. */
async function ask(ctx: CliContext, prompt: string): Promise<string> {
  const { stdin, stderr } = ctx.io;
  const { createInterface } = await import('node:readline');
  return new Promise((resolve) => {
    const rl = createInterface({ input: stdin, output: stderr as NodeJS.WritableStream, terminal: true });
    stderr.write(prompt);
    // Echo nothing of what is typed.
    (rl as unknown as { _writeToOutput: (s: string) => void })._writeToOutput = () => {};
    rl.question('', (answer) => {
      rl.close();
      stderr.write('\n');
      resolve(answer);
    });
  });
}
