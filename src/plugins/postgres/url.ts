/**
 * libpq connection URIs (`postgresql://user:password@host:port/dbname?param=value`), handled
 * textually rather than with WHATWG `URL`: libpq allows host lists and percent-encoded socket
 * paths that `URL` rejects, and database names may hold any character. Everything that shows
 * a URI to people goes through {@link maskUrl}, so passwords never reach messages or logs.
 */
import { userInfo } from 'node:os';
import { HoardError } from '../../errors.js';

/** What stands in for a password wherever a URI is shown. */
export const MASK = '****';

interface PgUrl {
  /** `postgresql://` or `postgres://`, as written. */
  scheme: string;
  user: string | undefined;
  /** Still percent-encoded, as written. */
  password: string | undefined;
  /** Host list and ports, as written. */
  hosts: string;
  /** The path without its `/`, still percent-encoded; undefined if there is no path. */
  path: string | undefined;
  /** Query parameters, still percent-encoded, in order. */
  query: [string, string][];
}

const URI = /^(postgres(?:ql)?:\/\/)([^/?]*)(?:\/([^?]*))?(?:\?(.*))?$/i;

/** True if `url` is a libpq connection URI this plugin can work with. */
export function isPgUrl(url: string): boolean {
  return URI.test(url);
}

function parse(url: string): PgUrl {
  const m = URI.exec(url);
  if (!m)
    throw invalid(url, 'expected postgresql://[user[:password]@][host][:port][/dbname][?param=value&…]');
  const authority = m[2]!;
  const at = authority.lastIndexOf('@');
  const userinfo = at === -1 ? undefined : authority.slice(0, at);
  const colon = userinfo?.indexOf(':') ?? -1;
  const query: [string, string][] = [];
  for (const pair of (m[4] ?? '').split('&')) {
    if (pair === '') continue;
    const eq = pair.indexOf('=');
    query.push(eq === -1 ? [pair, ''] : [pair.slice(0, eq), pair.slice(eq + 1)]);
  }
  return {
    scheme: m[1]!,
    user: userinfo === undefined ? undefined : colon === -1 ? userinfo : userinfo.slice(0, colon),
    password: colon === -1 ? undefined : userinfo!.slice(colon + 1),
    hosts: at === -1 ? authority : authority.slice(at + 1),
    path: m[3],
    query,
  };
}

function format(u: PgUrl): string {
  const userinfo =
    u.user === undefined ? '' : `${u.user}${u.password === undefined ? '' : `:${u.password}`}@`;
  const path = u.path === undefined ? '' : `/${u.path}`;
  const query = u.query.length === 0 ? '' : `?${u.query.map(([k, v]) => `${k}=${v}`).join('&')}`;
  return `${u.scheme}${userinfo}${u.hosts}${path}${query}`;
}

function decode(url: string, text: string): string {
  try {
    return decodeURIComponent(text);
  } catch {
    throw invalid(url, `"${text}" is not valid percent-encoding`);
  }
}

function invalid(url: string, why: string): HoardError {
  const shown = maskUrl(url);
  return new HoardError('PARAMS_INVALID', `invalid PostgreSQL connection URI "${shown}": ${why}`, {
    details: { url: shown },
  });
}

/**
 * `url` with its password replaced by {@link MASK}, in the user part and in a `password`
 * query parameter. Works on text that does not parse too, so error paths can use it.
 */
export function maskUrl(url: string): string {
  if (!URI.test(url)) {
    return url.replace(/(\/\/[^/?@]*?:)[^/?]*@/, `$1${MASK}@`).replace(/([?&]password=)[^&]*/gi, `$1${MASK}`);
  }
  const u = parse(url);
  if (u.password !== undefined) u.password = MASK;
  u.query = u.query.map(([k, v]) => [k, k.toLowerCase() === 'password' ? MASK : v]);
  return format(u);
}

/**
 * Splits the password off `url`: the URI to put on a command line (where `ps` shows it),
 * and the password, for the tool's `PGPASSWORD`.
 */
export function splitPassword(url: string): { url: string; password: string | undefined } {
  const u = parse(url);
  let password = u.password === undefined ? undefined : decode(url, u.password);
  for (const [k, v] of u.query) if (k === 'password') password = decode(url, v);
  u.password = undefined;
  u.query = u.query.filter(([k]) => k !== 'password');
  return { url: format(u), password };
}

/** The strings that must never appear in output: the password, raw and decoded. */
export function secretsOf(url: string): string[] {
  if (!URI.test(url)) return [];
  const u = parse(url);
  const raw = [u.password, ...u.query.filter(([k]) => k.toLowerCase() === 'password').map(([, v]) => v)];
  const out = new Set<string>();
  for (const secret of raw) {
    if (!secret) continue;
    out.add(secret);
    try {
      out.add(decodeURIComponent(secret));
    } catch {
      // Not valid percent-encoding: the raw form is all there is.
    }
  }
  return [...out].filter((s) => s.length > 0);
}

/** Replaces every secret in `text` with {@link MASK}. */
export function scrub(text: string, secrets: readonly string[]): string {
  let out = text;
  // Longest first, so that a secret containing another is masked whole.
  for (const secret of [...secrets].sort((a, b) => b.length - a.length)) out = out.split(secret).join(MASK);
  return out;
}

/** The database `url` names (a `dbname` parameter overrides the path, as in libpq), decoded. */
export function databaseOf(url: string): string | undefined {
  const u = parse(url);
  const param = u.query.findLast(([k]) => k === 'dbname');
  if (param) return decode(url, param[1]);
  return u.path ? decode(url, u.path) : undefined;
}

/** The server part of `url`, masked, for messages about the server rather than a database. */
export function serverLabel(url: string): string {
  const u = parse(url);
  u.path = undefined;
  u.query = u.query.filter(([k]) => k !== 'dbname');
  return maskUrl(format(u));
}

/** `url` pointing at `database` on the same server, with the same user and parameters. */
export function withDatabase(url: string, database: string): string {
  const u = parse(url);
  u.path = encodeURIComponent(database);
  u.query = u.query.filter(([k]) => k !== 'dbname');
  return format(u);
}

/**
 * The URI node-postgres would connect to with no connection string: `PGHOST`, `PGPORT`,
 * `PGUSER`, `PGDATABASE` or its defaults. Spelt out, so that pg_dump (libpq, whose defaults
 * differ: a Unix socket, the OS user) reaches the same server. The password is left to
 * `PGPASSWORD` or `~/.pgpass`, which both read.
 */
export function defaultUrl(database?: string): string {
  const env = process.env;
  // node-postgres's own defaults (pg.defaults), without loading it: $USER, localhost, 5432.
  const user = env.PGUSER || env.USER || osUser();
  const host = env.PGHOST || 'localhost';
  const port = env.PGPORT || '5432';
  const db = database ?? (env.PGDATABASE || user);
  const hostPart = host.startsWith('/') ? encodeURIComponent(host) : host.includes(':') ? `[${host}]` : host;
  return `postgresql://${encodeURIComponent(user)}@${hostPart}:${port}/${encodeURIComponent(db)}`;
}

function osUser(): string {
  try {
    return userInfo().username;
  } catch {
    return 'postgres';
  }
}
