/** Reading a built-in plugin's `info.json` for `hoard ls` and `hoard diff` (the browse capability). */
import type { Bank } from '../bank/index.js';
import { HoardError } from '../errors.js';
import type { ResourceBrowser } from './sdk.js';

/**
 * The JSON object stored at `key` in a resource's section, or {} when there is none (a
 * checkpoint taken before it was kept); STORE_CORRUPT naming it when it is not a JSON object.
 */
export async function storedInfo(bank: Bank, key = 'info.json'): Promise<Record<string, unknown>> {
  let bytes: Buffer;
  try {
    bytes = await bank.get(key);
  } catch (error) {
    if (error instanceof HoardError && error.code === 'BANK_NOT_FOUND') return {};
    throw error;
  }
  let info: unknown;
  try {
    info = JSON.parse(bytes.toString('utf8'));
  } catch (error) {
    throw new HoardError(
      'STORE_CORRUPT',
      `${key} of the checkpoint is not JSON: ${(error as Error).message}`,
      {
        details: { object: key },
        cause: error,
      },
    );
  }
  if (typeof info !== 'object' || info === null || Array.isArray(info))
    throw new HoardError('STORE_CORRUPT', `${key} of the checkpoint is not a JSON object`, {
      details: { object: key },
    });
  return info as Record<string, unknown>;
}

/**
 * The browse capability of a type whose data is one stored object described by `info.json`:
 * `ls` shows the info, `diff` compares its `sha256` (when `exact`: the object is the same
 * bytes exactly when the data is the same).
 */
export function infoBrowser(options: { exact: boolean }): ResourceBrowser {
  return {
    info: (ctx) => storedInfo(ctx.bank),
    fingerprint: async (ctx) => {
      if (!options.exact) return undefined;
      const sha = (await storedInfo(ctx.bank)).sha256;
      return typeof sha === 'string' ? sha : undefined;
    },
  };
}
