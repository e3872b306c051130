/**
 * Action lists, after rsbackup's concurrency design: actions are named by paths
 * (`backup/HOST/VOLUME/DEVICE`) and ordered by relations between name templates
 * (`live/:host < mounted/:host/:volume`). A relation holds for every pair of actions whose
 * shared parameters agree; a parameter only one side names is a wildcard, so
 * `check-stores < identify/:host/:volume/:device` puts check-stores before every identify.
 * `even if A fails` makes the relation a `done` edge.
 *
 * The list compiles to an ordinary {@link TaskGraph}, so everything the engine offers
 * (resources, priorities, timeouts, journals) applies to actions too.
 */
import { HoardError } from '../errors.js';
import { TaskGraph } from './graph.js';
import type { RetryPolicy, Semaphore, TaskContext, TaskSpec } from './types.js';

export interface ActionOptions<D = unknown> {
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
const EVEN_IF = /\s*[(,]?\s*even if (\S+) fails\s*\)?\s*$/i;

export class ActionList<D = unknown> {
  private readonly actions: ActionEntry<D>[] = [];
  private readonly paths = new Set<string>();
  private readonly relations: Relation[] = [];

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
   * otherwise a failure of A makes B `upstream_failed`.
   */
  relation(text: string, options: RelationOptions = {}): this {
    let body = text.trim();
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
        {
          details: { relation: text },
        },
      );
    }
    const [left, right] = sides.map((side) => parseTemplate(side, text)) as [Segment[], Segment[]];
    this.relations.push({ text, left, right, evenIfFails });
    return this;
  }

  /** Builds the task graph: one task per action (id = path), edges from every relation. */
  toGraph(): TaskGraph<D> {
    const g = new TaskGraph<D>();
    for (const { path, options } of this.actions) {
      const { skip, run, ...rest } = options;
      const spec: TaskSpec<D> = { id: path, ...rest };
      if (skip !== undefined) spec.run = (ctx) => ctx.skip(skip);
      else if (run) spec.run = run;
      g.add(spec);
    }
    // Actions by segment count and first segment, so a relation only looks at candidates.
    const index = new Map<string, ActionEntry<D>[]>();
    for (const entry of this.actions) {
      for (const key of [`${entry.segments.length}`, `${entry.segments.length}/${entry.segments[0]}`]) {
        const list = index.get(key);
        if (list) list.push(entry);
        else index.set(key, [entry]);
      }
    }
    const candidates = (t: Segment[]) =>
      index.get(t[0]!.literal === undefined ? `${t.length}` : `${t.length}/${t[0]!.literal}`) ?? [];
    for (const relation of this.relations) {
      const condition = relation.evenIfFails ? 'done' : 'success';
      const shared = params(relation.left).filter((p) => params(relation.right).includes(p));
      // Join the two sides on the parameters they share: O(matches + edges), not all pairs.
      const byKey = new Map<string, string[]>();
      for (const { path, segments } of candidates(relation.left)) {
        const binding = match(relation.left, segments);
        if (!binding) continue;
        const key = shared.map((p) => binding.get(p)).join('\u0000');
        const list = byKey.get(key);
        if (list) list.push(path);
        else byKey.set(key, [path]);
      }
      for (const { path, segments } of candidates(relation.right)) {
        const binding = match(relation.right, segments);
        if (!binding) continue;
        const key = shared.map((p) => binding.get(p)).join('\u0000');
        for (const before of byKey.get(key) ?? []) if (before !== path) g.edge(before, path, condition);
      }
    }
    return g;
  }
}

function parseTemplate(side: string, relation: string): Segment[] {
  return side.split('/').map((segment) => {
    if (segment.startsWith(':')) {
      if (!PARAM.test(segment)) {
        throw new HoardError(
          'ACTIONS_INVALID',
          `relation "${relation}": "${segment}" is not a parameter name`,
          {
            details: { relation },
          },
        );
      }
      return { param: segment.slice(1) };
    }
    if (segment === '') {
      throw new HoardError('ACTIONS_INVALID', `relation "${relation}": "${side}" has an empty segment`, {
        details: { relation },
      });
    }
    return { literal: segment };
  });
}

function params(template: Segment[]): string[] {
  return template.flatMap((s) => (s.param ? [s.param] : []));
}

/** The parameter values that make `segments` match `template`, or undefined. */
function match(template: Segment[], segments: string[]): Map<string, string> | undefined {
  if (template.length !== segments.length) return undefined;
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
