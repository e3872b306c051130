/**
 * Which bank a hook run elsewhere must write into (SPEC §12): an agent finds the coordinator's
 * provider by id among its own provider files, and nothing else says that its file points at the
 * same bank. One that does not would store a resource's data where the checkpoint never looks.
 * So each hook carries the coordinator's bank identity, and the agent checks it against its own
 * bank before it runs the hook:
 * - the checkpoint's record (`checkpoints/<id>/meta.json`) is there: the coordinator wrote it
 *   before its first hook (protect, copy) or it is what the operation reads (restore, verify,
 *   delete). Checkpoint ids carry the time and 32 random bits, so another bank holding one of
 *   that id is a copy of this very checkpoint;
 * - for an encrypted bank, the repository id (`keys/repository.json`) is the same, which tells a
 *   copy apart too.
 */
import type { Bank } from '../bank/index.js';
import { metaKey } from '../checkpoints/keys.js';
import { readRecord } from '../crypto/keyring.js';
import { HoardError } from '../errors.js';
import type { Provider } from '../providers/provider.js';

export interface BankIdentity {
  /** Where the provider keeps its bank, for messages: `fs /srv/bank`, `s3 <endpoint> bucket/prefix`. */
  location: string;
  /** An encrypted bank's repository id; absent for a bank without encryption. */
  repository?: string;
}

/** Where a provider's bank is, from its (masked) settings: safe to show. */
export function bankLocation(provider: Pick<Provider, 'bankType' | 'settings'>): string {
  if (provider.bankType === 's3') {
    const s3 = provider.settings.s3 ?? {};
    const one = (v: string | string[] | undefined) => (Array.isArray(v) ? v[0] : v);
    const prefix = one(s3.prefix);
    return `s3 ${one(s3.endpoint) ?? 'AWS'} ${one(s3.bucket) ?? '?'}${prefix ? `/${prefix}` : ''}`;
  }
  const path = provider.settings.fs?.path;
  return `${provider.bankType} ${Array.isArray(path) ? path[0] : (path ?? '?')}`;
}

/** The repository id of an encrypted bank (undefined without encryption). */
export async function repositoryId(bank: Bank, where: string): Promise<string | undefined> {
  const keys = bank.keyring();
  if (keys === undefined) return undefined;
  return (await readRecord(keys, where))?.id;
}

/** The identity of `bank`, which `location` names. */
export async function bankIdentity(bank: Bank, location: string): Promise<BankIdentity> {
  const repository = await repositoryId(bank, location);
  return { location, ...(repository ? { repository } : {}) };
}

/**
 * AGENT_BANK_MISMATCH unless `provider`'s bank is the one `expected` names and holds checkpoint
 * `checkpoint`'s record. `who` names the agent and its host in the message.
 */
export async function checkSameBank(
  provider: Provider,
  expected: BankIdentity | undefined,
  checkpoint: string,
  who: { host: string; agent: string },
): Promise<void> {
  const mine = bankLocation(provider);
  const fail = (why: string) =>
    new HoardError(
      'AGENT_BANK_MISMATCH',
      `the agent on host "${who.host}" (${who.agent}) opened bank ${mine} for provider "${provider.name}", but the coordinator's checkpoint ${checkpoint} is in ${expected?.location ?? 'a bank it did not name'} (${why}); point the agent's provider at the same bank`,
      {
        details: {
          host: who.host,
          agent: who.agent,
          provider: provider.name,
          agentBank: mine,
          coordinatorBank: expected?.location,
          checkpoint,
        },
      },
    );
  if (expected === undefined) {
    throw new HoardError(
      'AGENT_BANK_MISMATCH',
      `the agent on host "${who.host}" (${who.agent}) got a hook of checkpoint ${checkpoint} without its coordinator's bank, so it cannot check that its own (${mine}) is the same: the coordinator is older than this agent; upgrade it`,
      { details: { host: who.host, agent: who.agent, provider: provider.name, agentBank: mine, checkpoint } },
    );
  }
  const repository = await repositoryId(provider.bank, `the bank of provider "${provider.name}"`);
  if (repository !== expected.repository) {
    throw fail(
      `repository ${expected.repository ?? '(no encryption)'} there, ${repository ?? '(no encryption)'} here`,
    );
  }
  if (!(await provider.bank.exists(metaKey(checkpoint)))) throw fail(`no ${metaKey(checkpoint)} here`);
}
