// @ts-check
/**
 * Draws an operation's hook graph as SVG, laid out by dagre. Nodes are tasks
 * (`type#id:hook`); edges keep the hook graph's colours (SPEC §2). A node's fill follows its
 * `data-status` through style.css, so a status change is one attribute write.
 */

import { s } from './dom.js';
import dagre from './vendor/dagre.js';

/** Edge kinds of the hook graph and how they are drawn ("yellow" is goldenrod to be readable). */
export const EDGE_COLOURS = {
  green: '#15803d',
  indigo: '#4f46e5',
  purple: '#9333ea',
  yellow: 'goldenrod',
  red: '#dc2626',
  black: '#111827',
};

export const EDGE_MEANINGS = {
  green: 'prepareBegin of a parent → prepareBegin of its child',
  indigo: 'prepareBegin → prepareFinish',
  purple: 'prepareFinish of a child → prepareFinish of its parent',
  yellow: 'prepareFinish → main',
  red: 'main → complete',
  black: 'complete of a child → complete of its parent',
};

const HOOK_ORDER = ['prepareBegin', 'prepareFinish', 'main', 'complete'];
const CHAR_WIDTH = 7;
const NODE_HEIGHT = 40;

/**
 * @param {{tasks: {id: string, resource: string, hook: string, implemented?: boolean}[],
 *          edges: {from: string, to: string, kind: string}[]}} graph
 * @returns {{svg: SVGSVGElement, setStatus(id: string, status: string): void}}
 */
export function drawGraph(graph) {
  const tasks = graph.tasks ?? [];
  const known = new Set(tasks.map((t) => t.id));
  const edges = (graph.edges ?? []).filter((e) => known.has(e.from) && known.has(e.to));
  // Without edges, tasks are grouped in a box per resource, in hook order.
  const grouped = edges.length === 0;

  const g = new dagre.graphlib.Graph({ compound: grouped, multigraph: true });
  g.setGraph({ rankdir: 'TB', nodesep: 24, ranksep: 36, edgesep: 12, marginx: 12, marginy: 12 });
  g.setDefaultEdgeLabel(() => ({}));
  for (const task of tasks) {
    const width = Math.max(task.resource.length, task.hook.length) * CHAR_WIDTH + 24;
    g.setNode(task.id, { width, height: NODE_HEIGHT, task });
  }
  if (grouped) {
    const byResource = new Map();
    for (const task of tasks) {
      if (!byResource.has(task.resource)) byResource.set(task.resource, []);
      byResource.get(task.resource).push(task);
    }
    for (const [resource, list] of byResource) {
      const cluster = `cluster:${resource}`;
      g.setNode(cluster, { cluster: true });
      // The box's title is a node of its own, first in the column, so the layout makes room for it.
      const title = `title:${resource}`;
      g.setNode(title, { width: resource.length * CHAR_WIDTH, height: 12, title: resource });
      g.setParent(title, cluster);
      list.sort((a, b) => HOOK_ORDER.indexOf(a.hook) - HOOK_ORDER.indexOf(b.hook));
      for (const task of list) g.setParent(task.id, cluster);
      const column = [title, ...list.map((task) => task.id)];
      for (let i = 1; i < column.length; i++) g.setEdge(column[i - 1], column[i], { hidden: true }, 'order');
    }
  } else {
    for (const [i, edge] of edges.entries()) g.setEdge(edge.from, edge.to, { kind: edge.kind }, `e${i}`);
  }
  dagre.layout(g);

  const layout = g.graph();
  const width = Math.ceil(layout.width ?? 0);
  const height = Math.ceil(layout.height ?? 0);
  const svg = s('svg', {
    class: 'graph',
    width,
    height,
    viewBox: `0 0 ${width} ${height}`,
    role: 'img',
    'aria-label': `Hook graph: ${tasks.length} tasks, ${edges.length} edges`,
    'data-testid': 'operation-graph',
  });
  svg.append(markers());

  if (grouped) {
    for (const id of g.nodes()) {
      const node = g.node(id);
      if (node?.cluster) {
        const x = node.x - node.width / 2;
        const y = node.y - node.height / 2;
        svg.append(s('rect', { class: 'cluster', x, y, width: node.width, height: node.height, rx: 6 }));
      } else if (node?.title) {
        svg.append(
          s(
            'text',
            { class: 'cluster-title', x: node.x, y: node.y + 4, 'text-anchor': 'middle' },
            node.title,
          ),
        );
      }
    }
  }

  for (const e of g.edges()) {
    const label = g.edge(e);
    if (label.hidden) continue;
    const points = label.points ?? [];
    if (points.length < 2) continue;
    const d = points.map((p, i) => `${i ? 'L' : 'M'}${p.x.toFixed(1)},${p.y.toFixed(1)}`).join(' ');
    svg.append(
      s(
        'path',
        {
          class: `edge edge-${label.kind}`,
          d,
          stroke: EDGE_COLOURS[label.kind] ?? '#6b7280',
          'marker-end': `url(#arrow-${EDGE_COLOURS[label.kind] ? label.kind : 'other'})`,
          'data-kind': label.kind,
        },
        s('title', {}, `${e.v} → ${e.w} (${label.kind})`),
      ),
    );
  }

  const nodes = new Map();
  for (const task of tasks) {
    const node = g.node(task.id);
    const x = node.x - node.width / 2;
    const y = node.y - node.height / 2;
    const title = s('title', {}, `${task.id}: pending`);
    const el = s(
      'g',
      {
        class: task.implemented === false ? 'node not-implemented' : 'node',
        transform: `translate(${x.toFixed(1)},${y.toFixed(1)})`,
        'data-testid': 'graph-node',
        'data-task-id': task.id,
        'data-status': 'pending',
      },
      title,
      s('rect', { width: node.width, height: node.height, rx: 5 }),
      s('text', { x: node.width / 2, y: 16, 'text-anchor': 'middle' }, task.resource),
      s('text', { x: node.width / 2, y: 32, 'text-anchor': 'middle', class: 'hook' }, task.hook),
    );
    nodes.set(task.id, { el, title });
    svg.append(el);
  }

  return {
    svg,
    setStatus(id, status) {
      const node = nodes.get(id);
      if (!node) return;
      node.el.setAttribute('data-status', status);
      node.title.textContent = `${id}: ${status}`;
    },
  };
}

function markers() {
  const defs = s('defs');
  for (const [kind, colour] of [...Object.entries(EDGE_COLOURS), ['other', '#6b7280']]) {
    defs.append(
      s(
        'marker',
        {
          id: `arrow-${kind}`,
          viewBox: '0 0 10 10',
          refX: 9,
          refY: 5,
          markerWidth: 7,
          markerHeight: 7,
          orient: 'auto-start-reverse',
        },
        s('path', { d: 'M0,0 L10,5 L0,10 z', fill: colour }),
      ),
    );
  }
  return defs;
}
