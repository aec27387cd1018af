import { SEED_AGENTS, SEED_TOOL_PROFILES, type Classification } from '@govmesh/policy-engine';

/** Agents registered in a fresh installation: the demo's, and the seeds' three example workflows. */
export const DEMO_AGENTS = SEED_AGENTS.map((a) => ({ id: a.id, version: a.version, owner: a.owner, tier: a.tier, status: a.status, clearance: a.clearance, purpose: a.purpose }));

/** Where a tool's resource comes from in its arguments, for the tools that act on one. */
const RESOURCE_ARGUMENTS: Record<string, { argument: string; kind: string }> = {
  'sandbox.lookup_account': { argument: 'accountId', kind: 'account' },
  'sandbox.freeze_account': { argument: 'accountId', kind: 'account' },
};

/** Tools policy knows of (the tool gateway's catalog takes them over with the tool manifest). */
export const BUILT_IN_TOOL_PROFILES = SEED_TOOL_PROFILES.map((t) => ({
  name: t.name,
  sideEffect: t.sideEffect,
  classification: t.classification,
  maxTier: t.maxTier ?? null,
  resourceArgument: RESOURCE_ARGUMENTS[t.name]?.argument ?? null,
  resourceKind: RESOURCE_ARGUMENTS[t.name]?.kind ?? null,
}));

/** The sandbox accounts' classifications: acc-003 is restricted, above the support desk's clearance. */
export const DEMO_RESOURCES: Array<{ kind: string; id: string; classification: Classification; owner: string | null }> = [
  { kind: 'account', id: 'acc-001', classification: 'confidential', owner: 'support-operations' },
  { kind: 'account', id: 'acc-002', classification: 'confidential', owner: 'support-operations' },
  { kind: 'account', id: 'acc-003', classification: 'restricted', owner: 'finance-operations' },
];
