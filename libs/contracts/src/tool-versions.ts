/**
 * How services that learn tools from `govmesh.tool.registered.v1` order what they hear: by the
 * manifest's semantic version, then by the event's time.
 */

/** Orders two `major.minor.patch` versions by number: negative when `a` is older, 0 when equal. */
export function compareVersions(a: string, b: string): number {
  const pa = a.split('.').map(Number);
  const pb = b.split('.').map(Number);
  for (let i = 0; i < 3; i++) {
    const d = (pa[i] ?? 0) - (pb[i] ?? 0);
    if (d !== 0) return d;
  }
  return 0;
}

/** One tool change as a consumer keeps it: the tool, the manifest's version, the event's time. */
export interface VersionedToolChange {
  name: string;
  version: string;
  /** ISO 8601. */
  changedAt: string;
}

/** Whether `a` replaces `b`: a newer version, or the same version said at the same time or later. */
export function supersedes(a: Pick<VersionedToolChange, 'version' | 'changedAt'>, b: Pick<VersionedToolChange, 'version' | 'changedAt'>): boolean {
  const byVersion = compareVersions(a.version, b.version);
  return byVersion > 0 || (byVersion === 0 && Date.parse(a.changedAt) >= Date.parse(b.changedAt));
}

/** The change that stands for each tool among these (in order of arrival): its newest. */
export function newestPerTool<T extends VersionedToolChange>(changes: readonly T[]): T[] {
  const newest = new Map<string, T>();
  for (const c of changes) {
    const seen = newest.get(c.name);
    if (!seen || supersedes(c, seen)) newest.set(c.name, c);
  }
  return [...newest.values()];
}
