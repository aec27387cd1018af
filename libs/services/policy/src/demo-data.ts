import type { AgentStatus, AutonomyTier } from '@govmesh/policy-engine';

/** Agents registered in a fresh installation so the demo and tests have identities to use. */
export const DEMO_AGENTS: Array<{ id: string; version: string; owner: string; tier: AutonomyTier; status: AgentStatus; description: string }> = [
  { id: 'support-assistant', version: '1.0.0', owner: 'support-operations', tier: 'execute_low', status: 'active', description: 'Answers account questions for the support desk' },
  { id: 'research-assistant', version: '0.3.0', owner: 'research', tier: 'assist', status: 'active', description: 'Drafts only: may read context but not use tools' },
  { id: 'legacy-batch-bot', version: '2.1.0', owner: 'finance-operations', tier: 'execute_low', status: 'retired', description: 'Retired: every request is refused' },
];

/** Tools policy knows of; mirrors the tool gateway's built-in catalog. */
export const BUILT_IN_TOOL_PROFILES: Array<{ name: string; sideEffect: 'read' | 'write' }> = [
  { name: 'sandbox.lookup_account', sideEffect: 'read' },
  { name: 'sandbox.freeze_account', sideEffect: 'write' },
];
