#!/usr/bin/env node
/**
 * The README's layer rule ("Architecture"), checked: every import between src/ folders must
 * be an arrow the table below allows, and no two src/ files may need each other at run time.
 * Run by `npm run lint`; exits 1 naming each file, line and arrow that breaks the rule.
 *
 * Why a script and not dependency-cruiser or madge: the rule is one table and a cycle search,
 * and the TypeScript parser already installed reads the imports exactly (comments, strings
 * and re-exports included); a tool with its own dependency tree would only add to that.
 *
 * What counts: `import` and `export … from` (`import type` and `export type` too: a type
 * pointing up ties the lower layer's vocabulary to the upper one as surely as a call), and
 * `import('…')` with a literal path. Cycles are searched among run-time imports only (type-only
 * ones are erased by tsc and cannot make a module load before its dependency is ready).
 *
 * Usage: node scripts/check-layers.mjs [ROOT]   (ROOT defaults to the repository; its src/ is read)
 */
import { readdirSync, readFileSync } from 'node:fs';
import { dirname, join, relative, resolve, sep } from 'node:path';
import { fileURLToPath } from 'node:url';
import ts from 'typescript';

/**
 * Which layers each layer may import (besides itself). A layer is a folder of src/, or a
 * top-level file by its name. Keep in step with the README's "Architecture" section.
 */
export const ALLOWED = {
  cli: ['service', 'queue', 'flows', 'catalog', 'plans', 'providers', 'plugins', 'engine', 'errors'],
  service: [
    'queue',
    'flows',
    'catalog',
    'plans',
    'providers',
    'resources',
    'plugins',
    'engine',
    'bank',
    'errors',
  ],
  index: ['flows', 'plugins', 'resources', 'store', 'bank', 'errors'],
  testkit: ['flows', 'bank'],
  flows: [
    'plans',
    'providers',
    'checkpoints',
    'plugins',
    'resources',
    'store',
    'engine',
    'bank',
    'crypto',
    'errors',
  ],
  queue: ['flows', 'catalog', 'plans', 'providers', 'resources', 'plugins', 'engine', 'bank', 'errors'],
  catalog: ['errors'],
  plans: ['checkpoints', 'plugins', 'resources', 'errors'],
  providers: ['plugins', 'bank', 'errors'],
  checkpoints: ['plugins', 'resources', 'engine', 'bank', 'errors'],
  plugins: ['resources', 'store', 'bank', 'errors'],
  resources: ['engine', 'errors'],
  store: ['bank', 'errors'],
  bank: ['crypto', 'errors'],
  engine: ['errors'],
  crypto: ['errors'],
  errors: [],
};

/** The layer of a path relative to src/: its first folder, or a top-level file's name. */
function layerOf(path) {
  const [first, ...rest] = path.split(sep);
  return rest.length ? first : first.replace(/\.ts$/, '');
}

function* tsFiles(dir) {
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    const path = join(dir, entry.name);
    if (entry.isDirectory()) yield* tsFiles(path);
    else if (entry.name.endsWith('.ts') && !entry.name.endsWith('.d.ts')) yield path;
  }
}

/** Every relative import of a file: where it points, its line, and whether it is type-only. */
function importsOf(file) {
  const source = ts.createSourceFile(file, readFileSync(file, 'utf8'), ts.ScriptTarget.Latest, true);
  const found = [];
  const add = (specifier, node, typeOnly) => {
    if (!ts.isStringLiteral(specifier) || !specifier.text.startsWith('.')) return;
    const line = source.getLineAndCharacterOfPosition(node.getStart()).line + 1;
    const target = resolve(dirname(file), specifier.text).replace(/\.js$/, '.ts');
    found.push({ target, line, typeOnly });
  };
  const visit = (node) => {
    if (ts.isImportDeclaration(node)) {
      const clause = node.importClause;
      const named = clause?.namedBindings;
      const allTypes =
        clause !== undefined &&
        (clause.isTypeOnly ||
          (!clause.name &&
            named !== undefined &&
            ts.isNamedImports(named) &&
            named.elements.length > 0 &&
            named.elements.every((e) => e.isTypeOnly)));
      add(node.moduleSpecifier, node, allTypes);
    } else if (ts.isExportDeclaration(node) && node.moduleSpecifier) {
      const clause = node.exportClause;
      const allTypes =
        node.isTypeOnly ||
        (clause !== undefined &&
          ts.isNamedExports(clause) &&
          clause.elements.length > 0 &&
          clause.elements.every((e) => e.isTypeOnly));
      add(node.moduleSpecifier, node, allTypes);
    } else if (ts.isCallExpression(node) && node.expression.kind === ts.SyntaxKind.ImportKeyword) {
      const [specifier] = node.arguments;
      if (specifier) add(specifier, node, false);
    } else if (ts.isImportTypeNode(node) && ts.isLiteralTypeNode(node.argument)) {
      add(node.argument.literal, node, true);
    }
    ts.forEachChild(node, visit);
  };
  visit(source);
  return found;
}

/** The problems in `root`/src: upward (or unlisted) arrows, then run-time cycles. */
export function checkLayers(root) {
  const src = join(root, 'src');
  // The table itself must point one way: a layer reachable from itself is no layer.
  const problems = cycles(new Map(Object.entries(ALLOWED))).map(
    (loop) => `the table in scripts/check-layers.mjs lets layers import each other: ${loop.join(' → ')}`,
  );
  const runtime = new Map();
  for (const file of tsFiles(src)) {
    const from = relative(src, file);
    const fromLayer = layerOf(from);
    const allowed = ALLOWED[fromLayer];
    if (!allowed) {
      problems.push(
        `${join('src', from)}: layer "${fromLayer}" is not in the table (scripts/check-layers.mjs)`,
      );
      continue;
    }
    const edges = [];
    for (const { target, line, typeOnly } of importsOf(file)) {
      const to = relative(src, target);
      if (to.startsWith('..')) continue; // outside src/ (package.json and the like)
      const toLayer = layerOf(to);
      if (toLayer !== fromLayer && !allowed.includes(toLayer)) {
        problems.push(
          `${join('src', from)}:${line}: ${fromLayer} → ${toLayer} (${join('src', to)})${typeOnly ? ' [type]' : ''}: ` +
            `${fromLayer} may import only ${allowed.join(', ') || 'nothing of Hoard'}`,
        );
      }
      if (!typeOnly) edges.push(to);
    }
    runtime.set(from, edges);
  }
  for (const cycle of cycles(runtime)) {
    problems.push(`run-time import cycle: ${cycle.map((f) => join('src', f)).join(' → ')}`);
  }
  return problems;
}

/** Each strongly connected group of more than one file (or a file importing itself), as a loop. */
function cycles(graph) {
  const index = new Map();
  const low = new Map();
  const stack = [];
  const onStack = new Set();
  const found = [];
  let next = 0;
  const connect = (v) => {
    index.set(v, next);
    low.set(v, next++);
    stack.push(v);
    onStack.add(v);
    for (const w of graph.get(v) ?? []) {
      if (!graph.has(w)) continue;
      if (!index.has(w)) {
        connect(w);
        low.set(v, Math.min(low.get(v), low.get(w)));
      } else if (onStack.has(w)) low.set(v, Math.min(low.get(v), index.get(w)));
    }
    if (low.get(v) !== index.get(v)) return;
    const group = [];
    for (let w; w !== v; ) {
      w = stack.pop();
      onStack.delete(w);
      group.push(w);
    }
    if (group.length > 1 || graph.get(v).includes(v)) found.push(loopThrough(graph, new Set(group), v));
  };
  for (const v of graph.keys()) if (!index.has(v)) connect(v);
  return found;
}

/** One loop from `start` back to it inside `group`, for the message. */
function loopThrough(graph, group, start) {
  const previous = new Map([[start, null]]);
  const queue = [start];
  while (queue.length) {
    const v = queue.shift();
    for (const w of graph.get(v)) {
      if (!group.has(w)) continue;
      if (w === start) {
        const path = [start];
        for (let u = v; u !== start; u = previous.get(u)) path.splice(1, 0, u);
        return [...path, start];
      }
      if (!previous.has(w)) {
        previous.set(w, v);
        queue.push(w);
      }
    }
  }
  return [start, start];
}

if (process.argv[1] && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  const root = resolve(process.argv[2] ?? join(dirname(fileURLToPath(import.meta.url)), '..'));
  const problems = checkLayers(root);
  for (const problem of problems) process.stderr.write(`${problem}\n`);
  if (problems.length) {
    process.stderr.write(`${problems.length} problem(s) with the layer rule (README "Architecture")\n`);
    process.exit(1);
  }
  process.stdout.write('layers: every import points down, no run-time cycles\n');
}
