/**
 * The provider file format (Karbor's): INI sections with `key = value` lines, where a key
 * may repeat (`plugin = a`, `plugin = b`) and then collects a list.
 *
 * Written by hand rather than with the `ini` package: that package turns a repeated key
 * into the last value (lists need a `key[]` spelling the seed format does not use) and
 * reports no line numbers, and a broken file must be reported with its line.
 */
import { HoardError } from '../errors.js';

export type ConfSection = Record<string, string | string[]>;
export type Conf = Record<string, ConfSection>;

export function parseConf(text: string, file: string): Conf {
  const conf: Conf = {};
  let section: ConfSection | undefined;
  const lines = text.split(/\r?\n/);
  for (let i = 0; i < lines.length; i++) {
    const line = lines[i]!.trim();
    const where = `${file}:${i + 1}`;
    if (line === '' || line.startsWith('#') || line.startsWith(';')) continue;
    const header = /^\[([^\]]+)\]$/.exec(line);
    if (header) {
      const name = header[1]!.trim();
      if (conf[name]) throw invalid(where, `section [${name}] appears twice`);
      section = {};
      conf[name] = section;
      continue;
    }
    const eq = line.indexOf('=');
    if (eq <= 0) throw invalid(where, `expected "[section]" or "key = value", got "${line.slice(0, 60)}"`);
    if (!section) throw invalid(where, 'a "key = value" line before any [section]');
    const key = line.slice(0, eq).trim();
    const value = line.slice(eq + 1).trim();
    const existing = section[key];
    if (existing === undefined) section[key] = value;
    else if (Array.isArray(existing)) existing.push(value);
    else section[key] = [existing, value];
  }
  return conf;
}

function invalid(where: string, problem: string): HoardError {
  const [file, line] = [
    where.slice(0, where.lastIndexOf(':')),
    Number(where.slice(where.lastIndexOf(':') + 1)),
  ];
  return new HoardError('PROVIDER_INVALID', `${where}: ${problem}`, { details: { file, line } });
}

/** Names of settings whose values are never shown or logged. */
export const SECRET_KEY = /pass(word)?|secret|token|credential|private|(^|[_.-])key$|api[_-]?key/i;

export function maskSecrets(section: ConfSection): ConfSection {
  const out: ConfSection = {};
  for (const [k, v] of Object.entries(section)) out[k] = SECRET_KEY.test(k) ? '********' : v;
  return out;
}
