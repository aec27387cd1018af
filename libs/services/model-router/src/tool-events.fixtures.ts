import { EventTypes, type GovmeshEvent, type ToolManifest, type ToolRegisteredV1 } from '@govmesh/contracts';
import type { ServiceHarness } from '@govmesh/testing';
import { TOOL_MANIFEST_SOURCE } from './tool-catalog';

/**
 * Tool manifests and `govmesh.tool.registered.v1` events as the tool gateway publishes them, for
 * the model router's service tests: the router offers (and accepts proposals of) a tool only once
 * it was told of it.
 */

type Profile = Pick<ToolManifest, 'sideEffect' | 'inputSchema'> & Partial<ToolManifest>;

/** A valid manifest of a tool (a sandbox operation of the same name), version 1.0.0 unless told. */
export function toolManifest(name: string, profile: Profile): ToolManifest {
  return {
    name,
    version: '1.0.0',
    description: `${name} (service test)`,
    classification: 'internal',
    idempotent: true,
    operation: { connector: 'sandbox', operation: name },
    ...profile,
  };
}

const INVOICE_ID = { type: 'string', pattern: '^inv-[0-9]{3,12}$' };
const TICKET_ID = { type: 'string', pattern: '^tkt-[0-9]{3,12}$' };

/** The tools the built-in provider proposes for the seed workflows, with the input schemas of the gateway's built-in manifest. */
export const SEED_WORKFLOW_TOOLS: readonly ToolManifest[] = [
  toolManifest('sandbox.lookup_account', {
    sideEffect: 'read',
    description: 'Read an account (holder, status, balance) from the sandbox system of record',
    inputSchema: { type: 'object', required: ['accountId'], additionalProperties: false, properties: { accountId: { type: 'string', pattern: '^acc-[0-9]{3,12}$' } } },
  }),
  toolManifest('invoices.lookup', { sideEffect: 'read', inputSchema: { type: 'object', required: ['invoiceId'], additionalProperties: false, properties: { invoiceId: INVOICE_ID } } }),
  toolManifest('invoices.approve_payment', {
    sideEffect: 'write',
    description: 'Approve an open or on-hold invoice for payment',
    inputSchema: {
      type: 'object',
      required: ['invoiceId', 'amount', 'currency'],
      additionalProperties: false,
      properties: { invoiceId: INVOICE_ID, amount: { type: 'number', exclusiveMinimum: 0, maximum: 999999999999 }, currency: { type: 'string', pattern: '^[A-Z]{3}$' } },
    },
  }),
  toolManifest('tickets.lookup', { sideEffect: 'read', inputSchema: { type: 'object', required: ['ticketId'], additionalProperties: false, properties: { ticketId: TICKET_ID } } }),
  toolManifest('tickets.update', {
    sideEffect: 'write',
    inputSchema: {
      type: 'object',
      required: ['ticketId'],
      minProperties: 2,
      additionalProperties: false,
      properties: {
        ticketId: TICKET_ID,
        priority: { type: 'string', enum: ['low', 'normal', 'high', 'urgent'] },
        status: { type: 'string', enum: ['open', 'triaged', 'closed'] },
        assigneeGroup: { type: 'string', pattern: '^[a-z0-9][a-z0-9._-]{0,127}$' },
      },
    },
  }),
];

/** A tool registry event for a manifest from the tool gateway (unless `source` says otherwise): `registered` and active unless told, at `time` (now unless told). */
export function toolRegistered(
  h: ServiceHarness,
  manifest: ToolManifest,
  options: { change?: ToolRegisteredV1['change']; time?: Date; previousVersion?: string; source?: string } = {},
): GovmeshEvent<typeof EventTypes.ToolRegistered> {
  const change = options.change ?? 'registered';
  const event = h.event(
    EventTypes.ToolRegistered,
    {
      name: manifest.name,
      change,
      status: change === 'retired' ? 'retired' : 'active',
      manifest,
      ...(options.previousVersion ? { previousVersion: options.previousVersion } : {}),
      actor: { kind: 'system', id: 'system' },
    },
    { source: options.source ?? TOOL_MANIFEST_SOURCE },
  );
  return options.time ? { ...event, time: options.time.toISOString() } : event;
}

/** Tells the router of these tools (the seed workflows' unless told) as the gateway does at its start, and waits until it learned them. */
export async function learnTools(h: ServiceHarness, manifests: readonly ToolManifest[] = SEED_WORKFLOW_TOOLS): Promise<void> {
  await h.send(...manifests.map((m) => toolRegistered(h, m, { change: 'seeded' })));
}
