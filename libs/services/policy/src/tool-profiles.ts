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
