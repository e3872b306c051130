/** A thing Hoard protects. Its identity is `type#id` everywhere, never `id` alone. */
export interface Resource {
  type: string;
  id: string;
  name?: string;
  /** Type-specific fields (e.g. `path`, `url`), validated by the plugin that handles the type. */
  extra?: Record<string, unknown>;
}

export function resourceKey(resource: Pick<Resource, 'type' | 'id'>): string {
  return `${resource.type}#${resource.id}`;
}

/** Splits `type#id` at the first `#` (types never contain one; ids may). */
export function parseResourceKey(key: string): { type: string; id: string } | undefined {
  const at = key.indexOf('#');
  if (at <= 0 || at === key.length - 1) return undefined;
  return { type: key.slice(0, at), id: key.slice(at + 1) };
}
