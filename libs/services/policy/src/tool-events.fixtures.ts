import { EventTypes, type GovmeshEvent, type ToolManifest, type ToolRegisteredV1 } from '@govmesh/contracts';
import type { ServiceHarness } from '@govmesh/testing';

/**
 * Tool manifests and `govmesh.tool.registered.v1` events as the tool gateway publishes them, for
 * policy's service tests: policy knows a tool only once it was told of it.
 */

type Profile = Pick<ToolManifest, 'sideEffect' | 'classification'> & Partial<ToolManifest>;

/** A valid manifest of a tool (a sandbox operation of the same name), version 1.0.0 unless told. */
export function toolManifest(name: string, profile: Profile): ToolManifest {
  return {
    name,
    version: '1.0.0',
    description: `${name} (service test)`,
    inputSchema: { type: 'object', additionalProperties: true },
    idempotent: true,
    operation: { connector: 'sandbox', operation: name },
    ...profile,
  };
}

/** The tools the seed workflows and the sandbox demo use, as the gateway's built-in manifest describes them. */
export const SEED_WORKFLOW_TOOLS: readonly ToolManifest[] = [
  toolManifest('sandbox.lookup_account', { sideEffect: 'read', classification: 'confidential', resource: { argument: 'accountId', kind: 'account' } }),
  toolManifest('invoices.lookup', { sideEffect: 'read', classification: 'confidential' }),
  toolManifest('invoices.approve_payment', { sideEffect: 'write', classification: 'confidential' }),
  toolManifest('contracts.lookup', { sideEffect: 'read', classification: 'internal' }),
  toolManifest('contracts.draft_renewal', { sideEffect: 'write', classification: 'internal' }),
  toolManifest('mail.send_external', { sideEffect: 'external_send', classification: 'internal' }),
  toolManifest('tickets.lookup', { sideEffect: 'read', classification: 'internal' }),
  toolManifest('tickets.update', { sideEffect: 'write', classification: 'internal' }),
];

/** A tool registry event for a manifest: `registered` and active unless told, at `time` (now unless told). */
export function toolRegistered(
  h: ServiceHarness,
  manifest: ToolManifest,
  options: { change?: ToolRegisteredV1['change']; time?: Date; previousVersion?: string } = {},
): GovmeshEvent<typeof EventTypes.ToolRegistered> {
  const change = options.change ?? 'registered';
  const event = h.event(EventTypes.ToolRegistered, {
    name: manifest.name,
    change,
    status: change === 'retired' ? 'retired' : 'active',
    manifest,
    ...(options.previousVersion ? { previousVersion: options.previousVersion } : {}),
    actor: { kind: 'system', id: 'system' },
  });
  return options.time ? { ...event, time: options.time.toISOString() } : event;
}

/** Tells policy of these tools (the seed workflows' unless told) as the gateway does at its start, and waits until it learned them. */
export async function learnTools(h: ServiceHarness, manifests: readonly ToolManifest[] = SEED_WORKFLOW_TOOLS): Promise<void> {
  await h.send(...manifests.map((m) => toolRegistered(h, m, { change: 'seeded' })));
}
