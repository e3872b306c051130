export { buildGraph, discoverGraph, type GraphInput, ResourceGraph, type ResourceNode } from './graph.js';
export type { Protectable } from './protectable.js';
export { parseResourceKey, type Resource, resourceKey } from './resource.js';
