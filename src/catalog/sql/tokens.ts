/** API tokens: only a secret's SHA-256 is stored, compared in constant time. */
import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';
import { idTime, isId, newId } from '../ids.js';
import type { ListOptions, Page, ProjectScope, TokenRecord } from '../types.js';
import { bool, now, page, type Row, requireText, type SqlDb, scope, time } from './base.js';

const TOKEN_PREFIX = 'hrd_';

export async function createToken(
  db: SqlDb,
  input: { project: string; admin?: boolean; name?: string | null },
): Promise<{
  token: TokenRecord;
  secret: string;
}> {
  requireText(input.project, 'project');
  const id = newId();
  const at = idTime(id);
  const token: TokenRecord = {
    id,
    project: input.project,
    admin: input.admin ?? false,
    name: input.name ?? null,
    createdAt: at.toISOString(),
  };
  const secret = TOKEN_PREFIX + randomBytes(32).toString('base64url');
  await db.run(
    'INSERT INTO tokens (id, project, admin, name, secret_hash, created_at) VALUES (?, ?, ?, ?, ?, ?)',
    [token.id, token.project, token.admin, token.name, sha256(secret), token.createdAt],
  );
  return { token, secret };
}

export async function authenticate(db: SqlDb, secret: string): Promise<TokenRecord | undefined> {
  if (typeof secret !== 'string' || !secret.startsWith(TOKEN_PREFIX)) return undefined;
  const hash = sha256(secret);
  const [row] = await db.all('SELECT * FROM tokens WHERE secret_hash = ? AND revoked_at IS NULL', [hash]);
  if (!row) return undefined;
  const stored = Buffer.from(row.secret_hash as string, 'hex');
  const given = Buffer.from(hash, 'hex');
  return stored.length === given.length && timingSafeEqual(stored, given) ? tokenOf(row) : undefined;
}

export function listTokens(
  db: SqlDb,
  project: ProjectScope,
  options?: ListOptions,
): Promise<Page<TokenRecord>> {
  return page(db, 'tokens', scope(project).and('revoked_at IS NULL'), options, tokenOf);
}

export async function revokeToken(db: SqlDb, project: ProjectScope, id: string): Promise<boolean> {
  if (!isId(id)) return false;
  const where = scope(project).and('id = ?', id.toLowerCase()).and('revoked_at IS NULL');
  return (await db.run(`UPDATE tokens SET revoked_at = ?${where}`, [now(), ...where.params])) > 0;
}

function tokenOf(row: Row): TokenRecord {
  return {
    id: row.id as string,
    project: row.project as string,
    admin: bool(row.admin),
    name: (row.name as string | null) ?? null,
    createdAt: time(row.created_at),
  };
}

function sha256(text: string): string {
  return createHash('sha256').update(text).digest('hex');
}
