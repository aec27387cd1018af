import { randomUUID } from 'node:crypto';
import type { ServiceHarness } from '@govmesh/testing';

/** Grants tools to an agent (every version) as an operator would, for tests that call tools directly. */
export async function grantTools(h: ServiceHarness, agentId: string, tools: readonly string[]): Promise<void> {
  for (const tool of tools) {
    await h.query(
      `INSERT INTO "tool_gateway"."tool_grants" (id, agent_id, agent_version, tool, status, granted_by) VALUES ($1, $2, '*', $3, 'active', 'test')
       ON CONFLICT (agent_id, agent_version, tool) DO UPDATE SET status = 'active', constraints = NULL`,
      [randomUUID(), agentId, tool],
    );
  }
}

/** Every built-in tool an agent of the seed workflows may call. */
export const SANDBOX_TOOLS = ['sandbox.lookup_account', 'invoices.lookup', 'invoices.approve_payment', 'contracts.lookup', 'contracts.draft_renewal', 'mail.send_external', 'mail.lookup', 'tickets.lookup', 'tickets.update'];
