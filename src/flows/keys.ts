/**
 * `hoard key`: the passwords of an encrypted bank. Each is a key file wrapping the same
 * repository secrets, so adding, removing or changing one never re-encrypts data.
 */
import {
  addKey,
  changeKey,
  type KeyInfo,
  type KeyStore,
  keyIds,
  listKeys,
  removeKey,
  unlock,
} from '../crypto/keyring.js';
import { HoardError } from '../errors.js';
import type { Provider } from '../providers/provider.js';

/** A new public-key identity (`hoard key new-identity`); from here so the CLI stays above crypto/. */
export { type Identity, newIdentity } from '../crypto/age.js';
export type { KeyInfo };

/** The key files of the provider's bank, and which one its password opens. */
export async function providerKeys(provider: Provider): Promise<{ keys: KeyInfo[]; current: string }> {
  const { store, password, where } = await keyring(provider);
  const { keyId } = await unlock(store, password, where);
  return { keys: await listKeys(store, where), current: keyId };
}

/** Adds a key for `newPassword` (the provider's password must open the bank); its id. */
export async function addProviderKey(provider: Provider, newPassword: string): Promise<string> {
  const { store, password, where } = await keyring(provider);
  return addKey(store, password, checkNew(newPassword), where);
}

/** Removes key `id`; not the last one, nor the one the provider's password opens. */
export async function removeProviderKey(provider: Provider, id: string): Promise<void> {
  const { store, password, where } = await keyring(provider);
  if ((await keyIds(store)).length <= 1) {
    throw new HoardError('USAGE', `${where} has one key only: removing it would leave the bank unreadable`);
  }
  await removeKey(store, password, id, where);
}

/** Replaces the key the provider's password opens with one for `newPassword`. */
export async function changeProviderKey(
  provider: Provider,
  newPassword: string,
): Promise<{ removed: string; added: string }> {
  const { store, password, where } = await keyring(provider);
  return changeKey(store, password, checkNew(newPassword), where);
}

function checkNew(password: string): string {
  if (password === '') throw new HoardError('USAGE', 'the new password is empty');
  return password;
}

async function keyring(provider: Provider): Promise<{ store: KeyStore; password: string; where: string }> {
  const where = `the bank of provider "${provider.name}"`;
  if (provider.encryption !== 'password' || provider.password === undefined) {
    throw new HoardError(
      'USAGE',
      provider.encryption === 'public-key'
        ? `provider "${provider.name}" is in public-key mode: it has an identity (age-keygen, or hoard key new-identity), not passwords`
        : `provider "${provider.name}" has no encryption: passwords belong to providers with "encryption = password"`,
    );
  }
  const password = await provider.password();
  if (!password) {
    throw new HoardError(
      'PROVIDER_INVALID',
      `${where} is encrypted with a password: give [encryption] password_file or set HOARD_PASSWORD`,
    );
  }
  const store = provider.bank.keyring();
  if (store === undefined) throw new HoardError('INTERNAL', `${where} was opened without its encryption`);
  return { store, password, where };
}
