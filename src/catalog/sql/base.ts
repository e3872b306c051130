/**
 * What the SQL catalog's record modules share: the statement runner they are given, WHERE and
 * SET builders, paging, row decoding and argument checks. Placeholders are `?`, bound in order.
 */
import { HoardError } from '../../errors.js';
import { isId } from '../ids.js';
import type { ListOptions, Page, ProjectScope } from '../types.js';

export type SqlValue = string | number | boolean | null;
export type Row = Record<string, unknown>;

/** A constraint a statement broke. */
export type Violation = 'unique' | 'foreign-key';

export const DEFAULT_LIMIT = 100;
export const MAX_LIMIT = 1000;

/**
 * How the record modules reach the database: each catalog (SQLite, PostgreSQL) supplies
 * these three, and every statement is one both dialects accept.
 */
export interface SqlDb {
  /** Rows of a SELECT or of a statement with RETURNING. */
  all(sql: string, params?: readonly SqlValue[]): Promise<Row[]>;
  /** Runs a statement; the number of rows it inserted, updated or deleted. */
  run(sql: string, params?: readonly SqlValue[]): Promise<number>;
  /** Which constraint `error` reports broken, if it is a constraint violation. */
  violation(error: unknown): Violation | undefined;
}

/** One page of `table`, newest first, fetching one row more than asked to know if there is a next. */
export async function page<T extends { id: string }>(
  db: SqlDb,
  table: string,
  where: Where,
  options: ListOptions | undefined,
  decode: (row: Row) => T,
): Promise<Page<T>> {
  const { limit, marker } = pageOptions(options);
  if (marker !== undefined) where.and('id < ?', marker);
  const rows = await db.all(`SELECT * FROM ${table}${where} ORDER BY id DESC LIMIT ?`, [
    ...where.params,
    limit + 1,
  ]);
  const items = rows.slice(0, limit).map(decode);
  return { items, next: rows.length > limit ? items.at(-1)!.id : null };
}

/** The row of `table` with this id in the project's scope (`where` may add conditions), decoded. */
export async function byId<T>(
  db: SqlDb,
  table: string,
  project: ProjectScope,
  id: string,
  decode: (row: Row) => T,
  where: (where: Where) => Where = (w) => w,
): Promise<T | undefined> {
  if (!isId(id)) return undefined;
  const conditions = where(scope(project).and('id = ?', id.toLowerCase()));
  const [row] = await db.all(`SELECT * FROM ${table}${conditions}`, conditions.params);
  return row && decode(row);
}

/** Validates `limit` (integers are clamped to 1..1000) and `marker` (an id). */
export function pageOptions(options: ListOptions | undefined): { limit: number; marker: string | undefined } {
  let limit = DEFAULT_LIMIT;
  const given = options?.limit;
  if (given !== undefined) {
    if (typeof given !== 'number' || !Number.isInteger(given)) {
      throw invalid('limit', given, `an integer from 1 to ${MAX_LIMIT}`);
    }
    limit = Math.min(MAX_LIMIT, Math.max(1, given));
  }
  const marker = options?.marker;
  if (marker !== undefined && !isId(marker)) {
    throw invalid('marker', marker, 'the id of the last item of the previous page');
  }
  return { limit, marker: marker?.toLowerCase() };
}

/** A WHERE clause built one condition at a time; renders as `''` or `' WHERE …'`. */
export class Where {
  readonly params: SqlValue[] = [];
  private readonly conditions: string[] = [];

  and(condition: string, ...params: SqlValue[]): this {
    this.conditions.push(condition);
    this.params.push(...params);
    return this;
  }

  toString(): string {
    return this.conditions.length === 0 ? '' : ` WHERE ${this.conditions.join(' AND ')}`;
  }
}

/** `project: null` is every project. */
export function scope(project: ProjectScope): Where {
  const where = new Where();
  if (project !== null) where.and('project = ?', requireText(project, 'project'));
  return where;
}

/** The SET list of an UPDATE. */
export class Assignments {
  readonly params: SqlValue[] = [];
  private readonly columns: string[] = [];

  add(column: string, value: SqlValue): void {
    this.columns.push(`${column} = ?`);
    this.params.push(value);
  }

  toString(): string {
    return this.columns.join(', ');
  }
}

export function marks(count: number): string {
  return Array.from({ length: count }, () => '?').join(', ');
}

// Rows to records. SQLite gives 0/1 and ISO text; PostgreSQL booleans and Dates. Both give
// JSON as text (the PostgreSQL catalog turns off pg's JSON parsing), so values that are JSON
// strings come back as strings.

export function bool(value: unknown): boolean {
  return value === true || value === 1 || value === 1n;
}

export function time(value: unknown): string {
  return value instanceof Date ? value.toISOString() : String(value);
}

export function maybeTime(value: unknown): string | null {
  return value == null ? null : time(value);
}

export function parse(value: unknown): unknown {
  return value == null ? null : JSON.parse(value as string);
}

export function json(value: unknown): string {
  return JSON.stringify(value);
}

// Arguments.

export function now(): string {
  return new Date().toISOString();
}

export function invalid(field: string, value: unknown, expected: string): HoardError {
  const shown = typeof value === 'string' ? JSON.stringify(value) : String(value);
  return new HoardError('CATALOG_INVALID', `invalid ${field} ${shown}: expected ${expected}`, {
    details: { field },
  });
}

export function requireText(value: unknown, field: string): string {
  if (typeof value !== 'string' || value === '') throw invalid(field, value, 'a non-empty string');
  return value;
}

export function requireArray(value: unknown, field: string): unknown[] {
  if (!Array.isArray(value)) throw invalid(field, typeof value, 'an array');
  return value;
}

export function requireObject(value: unknown, field: string): Record<string, unknown> {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    throw invalid(
      field,
      Array.isArray(value) ? 'array' : value === null ? 'null' : typeof value,
      'an object',
    );
  }
  return value as Record<string, unknown>;
}

/** A time as `toISOString` writes it, so stored times compare as text in SQLite. */
export function requireTime(value: unknown, field: string): string {
  const date = typeof value === 'string' ? new Date(value) : undefined;
  if (!date || Number.isNaN(date.getTime())) throw invalid(field, value, 'an ISO 8601 time');
  return date.toISOString();
}

export function optionalTime(value: unknown, field: string): string | null {
  return value == null ? null : requireTime(value, field);
}

export function byCodeUnits(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}
