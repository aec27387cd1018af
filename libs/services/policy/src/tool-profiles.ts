import type { EventTypes, GovmeshEvent } from '@govmesh/contracts';
import type { AutonomyTier, Classification, SideEffect } from '@govmesh/policy-engine';

/** A tool's profile as one `govmesh.tool.registered.v1` event states it. */
export interface ToolProfileChange {
  name: string;
  /** The manifest's semantic version. */
  version: string;
  status: 'active' | 'retired';
  sideEffect: SideEffect;
  classification: Classification;
  maxTier: AutonomyTier | null;
  resourceArgument: string | null;
  resourceKind: string | null;
  /** The event's time (ISO 8601). */
  changedAt: string;
}

/** What policy keeps of a tool registry event: the profile, retired when the event says so either way. */
export function toolProfileChange(event: GovmeshEvent<typeof EventTypes.ToolRegistered>): ToolProfileChange {
  const { manifest } = event.data;
  return {
    name: event.data.name,
    version: manifest.version,
    status: event.data.status === 'retired' || event.data.change === 'retired' ? 'retired' : 'active',
    sideEffect: manifest.sideEffect,
    classification: manifest.classification,
    maxTier: manifest.maxTier ?? null,
    resourceArgument: manifest.resource?.argument ?? null,
    resourceKind: manifest.resource?.kind ?? null,
    changedAt: new Date(event.time).toISOString(),
  };
}

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

/** Whether `a` replaces `b`: a newer version, or the same version said at the same time or later. */
export function supersedes(a: Pick<ToolProfileChange, 'version' | 'changedAt'>, b: Pick<ToolProfileChange, 'version' | 'changedAt'>): boolean {
  const byVersion = compareVersions(a.version, b.version);
  return byVersion > 0 || (byVersion === 0 && Date.parse(a.changedAt) >= Date.parse(b.changedAt));
}

/** The change that stands for each tool among these (in order of arrival): its newest. */
export function newestPerTool(changes: readonly ToolProfileChange[]): ToolProfileChange[] {
  const newest = new Map<string, ToolProfileChange>();
  for (const c of changes) {
    const seen = newest.get(c.name);
    if (!seen || supersedes(c, seen)) newest.set(c.name, c);
  }
  return [...newest.values()];
}
