/** A thing Hoard protects. Its identity is `type#id` everywhere, never `id` alone. */
export interface Resource {
  type: string;
  id: string;
  name?: string;
  /**
   * The machine whose agent runs this resource's hooks (`hoard agent --host NAME`, SPEC §12);
   * absent: the process that runs the operation. Discovered dependents inherit their parent's.
   */
  host?: string;
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

/** A host name as plans give it: 1–63 letters, digits, ".", "_", "-", starting with a letter or digit. */
export const HOST_NAME = /^[A-Za-z0-9][A-Za-z0-9._-]{0,62}$/;
