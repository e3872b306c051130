import type { Resource } from './resource.js';

/**
 * A resource-type plugin that knows how to find resources of its type (Karbor's
 * protectable). `getDependentResources` is how the resource graph grows beyond the plan:
 * a PostgreSQL server, say, returns its databases.
 */
export interface Protectable {
  /** The resource type this protectable describes. */
  type: string;
  /** Types whose resources may have resources of this type as dependents. */
  parentTypes?: readonly string[];
  /** Every resource of this type the protectable can see (for `protectables` listings). */
  listResources?(options: { signal?: AbortSignal }): Promise<Resource[]>;
  showResource?(id: string, options: { signal?: AbortSignal }): Promise<Resource | undefined>;
  /** Resources that `parent` depends on and that must be protected with it. */
  getDependentResources?(parent: Resource, options: { signal?: AbortSignal }): Promise<Resource[]>;
}
