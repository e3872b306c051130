/**
 * The one YAML (and JSON) reader for user input: plan files, `--params` files, `--policy`.
 * One limit on aliases for all of them, so a "billion laughs" document (aliases of aliases
 * that expand exponentially) is refused at once instead of filling memory.
 */
import { createRequire } from 'node:module';
import { type ErrorCode, HoardError } from '../errors.js';

/**
 * How many alias nodes (`*name`) a document may resolve, each counted by the aliases inside
 * what it repeats (the `yaml` package's `maxAliasCount`), so nesting cannot multiply it.
 */
export const MAX_ALIAS_COUNT = 100;

/**
 * Parses `text` into plain values. Syntax errors, duplicate keys and too many aliases are
 * `code` errors naming `source` (with line and column where known).
 */
export function parseYaml(text: string, source: string, code: ErrorCode): unknown {
  const json = plainJson(text);
  if (json !== NOT_PLAIN) return json;
  // Required here, not imported above: loading the yaml package costs a protect of a JSON
  // plan ~0.1 s of its start.
  const { parseDocument } = createRequire(import.meta.url)('yaml') as typeof import('yaml');
  const doc = parseDocument(text, { prettyErrors: true, uniqueKeys: true });
  const [first] = doc.errors;
  if (first) {
    const pos = first.linePos?.[0];
    const where = pos ? `${source}:${pos.line}:${pos.col}` : source;
    throw new HoardError(
      code,
      `${where}: not valid YAML or JSON: ${first.message.split(' at line ')[0]?.split('\n')[0]}`,
      { details: { file: source, ...(pos ? { line: pos.line, column: pos.col } : {}) } },
    );
  }
  try {
    return doc.toJS({ maxAliasCount: MAX_ALIAS_COUNT });
  } catch (error) {
    // The yaml package throws a ReferenceError for too many aliases, and others for aliases
    // it cannot resolve; either way the document is refused, not half read.
    const excessive = /excessive alias count/i.test((error as Error).message);
    throw new HoardError(
      code,
      excessive
        ? `${source}: its aliases (*name) expand past the limit of ${MAX_ALIAS_COUNT}; refusing it (write the values out instead)`
        : `${source}: not valid YAML or JSON: ${(error as Error).message.split('\n')[0]}`,
      { details: { file: source, ...(excessive ? { maxAliasCount: MAX_ALIAS_COUNT } : {}) }, cause: error },
    );
  }
}

const NOT_PLAIN = Symbol('not plain JSON');

/**
 * `text` as JSON.parse reads it, where that is what the YAML reader would give: a JSON object
 * or array without a repeated key (YAML refuses those; JSON.parse keeps the last) and without
 * `__proto__`. Anything else, a syntax error included, is NOT_PLAIN, for the YAML reader to
 * read or to refuse with its message.
 */
function plainJson(text: string): unknown {
  const start = text.trimStart()[0];
  if ((start !== '{' && start !== '[') || text.includes('"__proto__"')) return NOT_PLAIN;
  let parsedKeys = 0;
  let value: unknown;
  try {
    value = JSON.parse(text, function (this: unknown, _key, v) {
      if (!Array.isArray(this)) parsedKeys++;
      return v;
    });
  } catch {
    return NOT_PLAIN;
  }
  parsedKeys--; // the reviver's last call: the root, under the key ''
  // Every string in the text, in order; those followed by a colon are keys.
  let writtenKeys = 0;
  for (const m of text.matchAll(/"(?:[^"\\]|\\.)*"(\s*:)?/g)) if (m[1] !== undefined) writtenKeys++;
  return writtenKeys === parsedKeys ? value : NOT_PLAIN;
}
