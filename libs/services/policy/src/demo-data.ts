import { SEED_AGENTS, type Classification } from '@govmesh/policy-engine';

/** Agents registered in a fresh installation: the demo's, and the seeds' three example workflows. */
export const DEMO_AGENTS = SEED_AGENTS.map((a) => ({ id: a.id, version: a.version, owner: a.owner, tier: a.tier, status: a.status, clearance: a.clearance, purpose: a.purpose }));

/** The sandbox accounts' classifications: acc-003 is restricted, above the support desk's clearance. */
export const DEMO_RESOURCES: Array<{ kind: string; id: string; classification: Classification; owner: string | null }> = [
  { kind: 'account', id: 'acc-001', classification: 'confidential', owner: 'support-operations' },
  { kind: 'account', id: 'acc-002', classification: 'confidential', owner: 'support-operations' },
  { kind: 'account', id: 'acc-003', classification: 'restricted', owner: 'finance-operations' },
];
