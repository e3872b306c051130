/**
 * Action lists, after rsbackup's concurrency design: actions are named by paths
 * (`backup/h1/home/d1`) and ordered by relations between name templates, written as on
 * rsbackup's design page: `live/HOST < mounted/HOST/VOLUME`,
 * `backup/HOST/VOLUME/DEVICE < post-access-hook (even if backup/ fails)`.
 *
 * An action's kind is its first segment and its number of further segments (`backup` with
 * three). A template names a kind the same way; its capitalised (`HOST`) or `:`-prefixed
 * (`:host`) segments are parameters, others literals. A relation orders every pair of actions
 * of the kinds it names whose shared parameters agree, so a parameter only one side names
 * ranges over all values (`check-stores < identify/HOST/VOLUME/DEVICE`), and so does a
 * trailing parameter that the template leaves out (`check-stores <
 * remove-prunable/HOST/VOLUME/DEVICE` orders every `remove-prunable/HOST/VOLUME/DEVICE/DATE`).
 * `even if A fails` makes the relation a `done` edge.
 *
 * The list compiles to an ordinary {@link TaskGraph}, so everything the engine offers
 * (resources, priorities, timeouts, journals) applies to actions too.
 */
import { HoardError } from '../errors.js';
import { TaskGraph } from './graph.js';
import type { RetryPolicy, Semaphore, TaskContext, TaskSpec } from './types.js';

/** One action: what it runs and the engine options of its task (see `TaskSpec`). */
export interface ActionOptions<D = unknown> {
  /** The work; absent: an action that only orders others (it succeeds at once). */
  run?: (ctx: TaskContext<D>) => unknown;
  /** Ends the action `skipped` the moment it is ready, with this reason (rsbackup's "nothing to do"). */
  skip?: string;
  /** Exclusive resources, e.g. the device an action writes to. */
  uses?: readonly string[];
  semaphores?: readonly Semaphore[];
  priority?: number;
  estimate?: number;
  timeout?: number;
  retry?: RetryPolicy;
  data?: D;
}

/** How one relation orders its actions. */
export interface RelationOptions {
  /** B runs after A whatever A's outcome (rsbackup's "even if A fails"). */
  evenIfFails?: boolean;
}

interface Segment {
  literal?: string;
  param?: string;
}

interface ActionEntry<D> {
  path: string;
  segments: string[];
  options: ActionOptions<D>;
}

interface Relation {
  text: string;
  left: Segment[];
  right: Segment[];
  evenIfFails: boolean;
}

const PARAM = /^:[A-Za-z_][A-Za-z0-9_-]*$/;
const CAPS = /^[A-Z][A-Z0-9_]*$/;
// rsbackup writes `(even if backup/ fails)`, naming the left side by its kind.
const EVEN_IF = /\s*[(,]?\s*even if (\S+) fails\s*\)?\s*$/i;

/**
 * A list of actions named by paths and the relations between their kinds (rsbackup's
 * "Concurrency" page); `toGraph()` gives the task graph the engine runs.
 */
export class ActionList<D = unknown> {
  private readonly actions: ActionEntry<D>[] = [];
  private readonly paths = new Set<string>();
  /** Declared kinds: name → numbers of parameters. */
  private readonly kinds = new Map<string, Set<number>>();
  private readonly relations: Relation[] = [];

  /**
   * Declares a kind of action, `remove-prunable/HOST/VOLUME/DEVICE/DATE`, so that relations
   * may name it in a run that has no action of it. Once a list declares kinds, every action
   * must be of one; a list that declares none takes its kinds from its actions.
   */
  kind(template: string): this {
    const segments = parseTemplate(template, `kind "${template}"`, { template });
    if (segments.slice(1).some((s) => s.param === undefined)) {
      throw new HoardError(
        'ACTIONS_INVALID',
        `kind "${template}": after its name, a kind has only parameters (HOST or :host)`,
        { details: { kind: template } },
      );
    }
    addKind(this.kinds, segments[0]!.literal!, segments.length - 1);
    return this;
  }

  /** Adds an action; its path is slash-separated, non-empty segments. */
  action(path: string, options: ActionOptions<D> = {}): this {
    const segments = path.split('/');
    if (segments.some((s) => s === '' || s.startsWith(':'))) {
      throw new HoardError(
        'ACTIONS_INVALID',
        `action "${path}": a path is non-empty segments separated by "/", none starting with ":"`,
        {
          details: { action: path },
        },
      );
    }
    if (this.paths.has(path)) {
      throw new HoardError('ACTIONS_INVALID', `action "${path}" is added twice`, {
        details: { action: path },
      });
    }
    this.paths.add(path);
    this.actions.push({ path, segments, options });
    return this;
  }

  /**
   * Adds `A < B`: every action matching B runs after the matching actions of A. Written
   * `A < B even if A fails` (or with `{evenIfFails: true}`), B runs whatever A's outcome;
   * otherwise a failure of A makes B `upstream_failed`. The `A` of `even if A fails` is the
   * left side as written, or its kind's name (`backup/` or `backup`); a trailing `;` is
   * ignored.
   */
  relation(text: string, options: RelationOptions = {}): this {
    const details = { relation: text };
    let body = text.trim().replace(/;$/, '');
    let evenIfFails = options.evenIfFails ?? false;
    const suffix = EVEN_IF.exec(body);
    if (suffix) {
      evenIfFails = true;
      body = body.slice(0, suffix.index);
    }
    const sides = body.split('<').map((s) => s.trim());
    if (sides.length !== 2 || !sides[0] || !sides[1]) {
      throw new HoardError(
        'ACTIONS_INVALID',
        `relation "${text}": expected "A < B" or "A < B even if A fails"`,
        { details },
      );
    }
    const [left, right] = sides.map((side) => parseTemplate(side, `relation "${text}"`, details)) as [
      Segment[],
      Segment[],
    ];
    const failing = suffix?.[1];
    if (failing !== undefined && !namesSide(failing, sides[0], left)) {
      throw new HoardError(
        'ACTIONS_INVALID',
        `relation "${text}": "even if ${failing} fails" must name the left side, "${sides[0]}"`,
        { details },
      );
    }
    this.relations.push({ text, left, right, evenIfFails });
    return this;
  }

  /**
   * Builds the task graph: one task per action (id = path), edges from every relation. A
   * relation naming a kind the list does not know is an error; a known kind with no actions
   * this run (no prunable backups, say) just orders nothing.
   */
  toGraph(): TaskGraph<D> {
    const g = new TaskGraph<D>();
    for (const { path, options } of this.actions) {
      const { skip, run, ...rest } = options;
      const spec: TaskSpec<D> = { id: path, ...rest };
      if (skip !== undefined) spec.run = (ctx) => ctx.skip(skip);
      else if (run) spec.run = run;
      g.add(spec);
    }
    // Actions by kind, so a relation only looks at the kinds it names.
    const byKind = new Map<string, ActionEntry<D>[]>();
    const kinds = new Map<string, Set<number>>();
    for (const entry of this.actions) {
      const [name] = entry.segments as [string];
      const arity = entry.segments.length - 1;
      if (this.kinds.size > 0 && !this.kinds.get(name)?.has(arity)) {
        throw new HoardError(
          'ACTIONS_INVALID',
          `action "${entry.path}" is of no declared kind ("${name}" with ${arity} parameters)`,
          { details: { action: entry.path } },
        );
      }
      addKind(kinds, name, arity);
      const key = `${arity}/${name}`;
      const list = byKind.get(key);
      if (list) list.push(entry);
      else byKind.set(key, [entry]);
    }
    const known = this.kinds.size > 0 ? this.kinds : kinds;
    const candidates = (relation: Relation, t: Segment[]) =>
      resolveKind(known, relation, t).flatMap((arity) => byKind.get(`${arity}/${t[0]!.literal}`) ?? []);
    for (const relation of this.relations) {
      const condition = relation.evenIfFails ? 'done' : 'success';
      const shared = params(relation.left).filter((p) => params(relation.right).includes(p));
      // Join the two sides on the parameters they share: O(matches + edges), not all pairs.
      const byKey = new Map<string, string[]>();
      for (const { path, segments } of candidates(relation, relation.left)) {
        const binding = match(relation.left, segments);
        if (!binding) continue;
        const key = shared.map((p) => binding.get(p)).join('\u0000');
        const list = byKey.get(key);
        if (list) list.push(path);
        else byKey.set(key, [path]);
      }
      for (const { path, segments } of candidates(relation, relation.right)) {
        const binding = match(relation.right, segments);
        if (!binding) continue;
        const key = shared.map((p) => binding.get(p)).join('\u0000');
        for (const before of byKey.get(key) ?? []) if (before !== path) g.edge(before, path, condition);
      }
    }
    return g;
  }
}

function addKind(kinds: Map<string, Set<number>>, name: string, arity: number): void {
  const arities = kinds.get(name);
  if (arities) arities.add(arity);
  else kinds.set(name, new Set([arity]));
}

/**
 * The numbers of parameters of the kinds a template names: its own if its kind has that
 * many, else every larger one, the missing trailing parameters ranging over all values.
 * Preferring the exact kind keeps `identify/HOST/VOLUME < identify/HOST/VOLUME/DEVICE` from
 * ordering the per-device identifies among themselves.
 */
function resolveKind(kinds: Map<string, Set<number>>, relation: Relation, t: Segment[]): number[] {
  const name = t[0]!.literal!;
  const arity = t.length - 1;
  const arities = kinds.get(name);
  if (arities?.has(arity)) return [arity];
  const longer = [...(arities ?? [])].filter((n) => n > arity);
  if (longer.length === 0) {
    throw new HoardError(
      'ACTIONS_INVALID',
      arities
        ? `relation "${relation.text}": no kind of action "${name}" has ${arity} or more parameters`
        : `relation "${relation.text}": no kind of action is named "${name}"`,
      { details: { relation: relation.text } },
    );
  }
  return longer;
}

/** Whether the `A` of `even if A fails` is the relation's left side. */
function namesSide(failing: string, written: string, left: Segment[]): boolean {
  return failing === written || failing.replace(/\/$/, '') === left[0]!.literal;
}

function parseTemplate(side: string, where: string, details: Record<string, string>): Segment[] {
  const segments = side.split('/').map((segment): Segment => {
    if (segment.startsWith(':')) {
      if (!PARAM.test(segment)) {
        throw new HoardError('ACTIONS_INVALID', `${where}: "${segment}" is not a parameter name`, {
          details,
        });
      }
      return { param: segment.slice(1) };
    }
    if (segment === '') {
      throw new HoardError('ACTIONS_INVALID', `${where}: "${side}" has an empty segment`, { details });
    }
    return CAPS.test(segment) ? { param: segment } : { literal: segment };
  });
  if (segments[0]!.literal === undefined) {
    throw new HoardError(
      'ACTIONS_INVALID',
      `${where}: "${side}" must start with the name of a kind of action, not a parameter`,
      { details },
    );
  }
  return segments;
}

function params(template: Segment[]): string[] {
  return template.flatMap((s) => (s.param ? [s.param] : []));
}

/**
 * The parameter values that make `segments` match `template`, or undefined; segments past
 * the template's end are free (the caller picked the kinds).
 */
function match(template: Segment[], segments: string[]): Map<string, string> | undefined {
  if (template.length > segments.length) return undefined;
  const binding = new Map<string, string>();
  for (let i = 0; i < template.length; i++) {
    const t = template[i]!;
    const value = segments[i]!;
    if (t.literal !== undefined) {
      if (t.literal !== value) return undefined;
    } else {
      const bound = binding.get(t.param!);
      if (bound !== undefined && bound !== value) return undefined;
      binding.set(t.param!, value);
    }
  }
  return binding;
}
