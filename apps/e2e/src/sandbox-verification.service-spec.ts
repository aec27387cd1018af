import { randomUUID } from 'node:crypto';
import { issueGrant } from '@govmesh/action-grants';
import { EventTypes, type RecordClaim } from '@govmesh/contracts';
import { ServiceKeys } from '@govmesh/nest-runtime';
import { TOOL_GATEWAY_DATABASE, ToolGatewayServiceModule } from '@govmesh/service-tool-gateway';
import { VERIFIER_DATABASE, VerifierServiceModule } from '@govmesh/service-verifier';
import { ServiceHarness } from '@govmesh/testing';

/**
 * Done means verified: each sandbox system of record's writes, made through the tool gateway, are
 * read back by the verifier through the gateway's read tools under its own identity, as the tool
 * manifest's checks say; a system that drops the write is caught.
 */
describe('tool gateway and verifier: the sandbox systems of record read back', () => {
  let h: ServiceHarness;

  beforeAll(async () => {
    h = await ServiceHarness.start({ modules: [ToolGatewayServiceModule, VerifierServiceModule], schemas: [TOOL_GATEWAY_DATABASE.schema, VERIFIER_DATABASE.schema] });
    // The verifier learns the built-in tools' checks from the gateway's registration events.
    await h.settle();
    for (const tool of ['invoices.lookup', 'invoices.approve_payment', 'contracts.lookup', 'contracts.draft_renewal', 'mail.send_external', 'tickets.lookup', 'tickets.update']) {
      await h.query(`INSERT INTO "tool_gateway"."tool_grants" (id, agent_id, agent_version, tool, status, granted_by) VALUES ($1, 'seed-agent', '*', $2, 'active', 'test')`, [randomUUID(), tool]);
    }
  });

  afterAll(async () => {
    await h?.close();
  });

  interface Call {
    claim: RecordClaim;
    tool: string;
    executionId: string;
    arguments: Record<string, unknown>;
    output: Record<string, unknown>;
  }
  const calls = new Map<RecordClaim, Call>();

  /** Runs a tool through the gateway under a grant for exactly this action and answers its claim. */
  async function act(runId: string, tool: string, args: Record<string, unknown>): Promise<RecordClaim> {
    const grant = issueGrant(h.app.get(ServiceKeys).signingKey('grant'), { agentId: 'seed-agent', agentVersion: '1.0.0', tool, arguments: args, policyVersion: 'p1' }, { runId, stepId: 'act' }, randomUUID(), new Date(), 30);
    await h.send(h.event(EventTypes.ToolRequested, { runId, stepId: 'act', agentId: 'seed-agent', agentVersion: '1.0.0', tool, arguments: args, grant, idempotencyKey: `${runId}:act-1` }));
    const [result] = h.emitted(EventTypes.ToolExecuted).filter((e) => e.data.runId === runId);
    expect({ tool, status: result.data.status, reasons: result.data.reasons }).toMatchObject({ tool, status: 'succeeded' });
    const claim = result.data.claim!;
    calls.set(claim, { claim, tool, executionId: result.data.executionId, arguments: args, output: result.data.output ?? {} });
    return claim;
  }

  /** Asks the verifier about a call (its claim and the call that made it), as the orchestrator does. */
  async function verify(runId: string, claim: RecordClaim, call?: Omit<Call, 'claim'>) {
    const made = call ?? calls.get(claim)!;
    await h.send(h.event(EventTypes.VerificationRequested, { runId, stepId: 'verify', claim, tool: made.tool, executionId: made.executionId, arguments: made.arguments, output: made.output }));
    const [completed] = h.emitted(EventTypes.VerificationCompleted).filter((e) => e.data.runId === runId);
    return completed.data;
  }

  it.each([
    ['invoices.approve_payment', { invoiceId: 'inv-1001', amount: 1200, currency: 'EUR' }, 'invoice', { status: 'approved', amount: 1200, paymentCount: 1 }],
    ['invoices.lookup', { invoiceId: 'inv-1002' }, 'invoice', { vendor: 'Globex Logistics', amount: 82000, currency: 'EUR', status: 'open', paymentCount: 0 }],
    ['contracts.draft_renewal', { contractId: 'ctr-2001', draft: 'Dear Umbrella Corp, your contract ends on 2027-01-31. Shall we renew?' }, 'contract', { status: 'renewal_drafted' }],
    ['contracts.lookup', { contractId: 'ctr-2002' }, 'contract', { customer: 'Vandelay Industries', endDate: '2027-03-15' }],
    ['mail.send_external', { to: 'legal@umbrella.example', subject: 'Your renewal', body: 'Draft attached.', contractId: 'ctr-2001' }, 'outbound_mail', { to: 'legal@umbrella.example', subject: 'Your renewal' }],
    ['tickets.update', { ticketId: 'tkt-3001', priority: 'high', status: 'triaged', assigneeGroup: 'identity' }, 'ticket', { priority: 'high', status: 'triaged', assigneeGroup: 'identity' }],
    ['tickets.lookup', { ticketId: 'tkt-3002' }, 'ticket', { subject: 'Invoice PDF shows wrong address', status: 'open' }],
  ])('%s: the verifier confirms the claim by reading the record', async (tool, args, entity, fields) => {
    const runId = `r-${randomUUID()}`;
    const claim = await act(runId, tool, args);
    expect(claim).toMatchObject({ system: 'sandbox', entity, fields });
    const verdict = await verify(runId, claim);
    expect(verdict.verdict).toBe('confirmed');
    expect(verdict.reasons.map((r) => r.code)).toContain('read_back_matches');
    expect(verdict.reasons.map((r) => r.code).filter((c) => !c.endsWith('_passed') && c !== 'read_back_matches')).toEqual([]);
    expect(verdict.observed).toMatchObject(claim.fields);
  });

  it('the renewal draft is compared by its digest: a draft changed afterwards no longer verifies', async () => {
    const runId = `r-${randomUUID()}`;
    const claim = await act(runId, 'contracts.draft_renewal', { contractId: 'ctr-2003', draft: 'Renewal terms v1' });
    await h.query(`UPDATE "sandbox"."contracts" SET renewal_draft = 'Renewal terms v2' WHERE id = 'ctr-2003'`);
    const verdict = await verify(runId, claim);
    expect(verdict.verdict).toBe('mismatch');
    expect(verdict.reasons.map((r) => r.message).join(' ')).toContain('renewalDraftSha256');
    expect(JSON.stringify(verdict.observed)).not.toContain('Renewal terms');
  });

  it('a sandbox that drops the write reports success, and the verifier says mismatch', async () => {
    const runId = `r-${randomUUID()}`;
    const claim = await act(runId, 'invoices.approve_payment', { invoiceId: 'inv-1009', amount: 2300, currency: 'EUR' });
    expect(claim.fields).toEqual({ status: 'approved', amount: 2300, paymentCount: 1 });
    const verdict = await verify(runId, claim);
    expect(verdict.verdict).toBe('mismatch');
    expect(verdict.observed).toMatchObject({ status: 'open', amount: 2300, paymentCount: 0 });
    expect(verdict.reasons.map((r) => r.code)).toEqual(['field_mismatch', 'field_mismatch', 'state_check_failed', 'grant_check_passed']);
  });

  it('a claim about a record that does not exist is not found', async () => {
    const runId = `r-${randomUUID()}`;
    const cases: Array<[string, string, Record<string, unknown>]> = [
      ['invoice', 'invoices.lookup', { invoiceId: 'inv-999999' }],
      ['contract', 'contracts.lookup', { contractId: 'ctr-999999' }],
      ['ticket', 'tickets.lookup', { ticketId: 'tkt-999999' }],
    ];
    for (const [entity, tool, args] of cases) {
      const claim = { system: 'sandbox', entity, id: 'nope-1', fields: { status: 'x' } };
      const verdict = await verify(`${runId}-${entity}`, claim, { tool, executionId: randomUUID(), arguments: args, output: {} });
      expect({ entity, verdict: verdict.verdict }).toEqual({ entity, verdict: 'not_found' });
    }
  });

  it('a claim with no tool, or a tool without checks, is never confirmed', async () => {
    const runId = `r-${randomUUID()}`;
    await h.send(h.event(EventTypes.VerificationRequested, { runId, stepId: 'verify', claim: { system: 'sandbox', entity: 'ticket', id: 'tkt-3001', fields: { status: 'open' } } }));
    const [completed] = h.emitted(EventTypes.VerificationCompleted).filter((e) => e.data.runId === runId);
    expect(completed.data).toMatchObject({ verdict: 'unsupported', reasons: [{ code: 'no_verification_spec' }] });
  });

  it('confirms a whole batch of claims about one system', async () => {
    const runId = `r-${randomUUID()}`;
    const rows = await h.query<{ id: string; subject: string }>(`SELECT id, subject FROM "sandbox"."tickets" ORDER BY id`);
    await h.send(
      ...rows.map((r, i) =>
        h.event(EventTypes.VerificationRequested, {
          runId: `${runId}-${i}`,
          stepId: 'verify',
          claim: { system: 'sandbox', entity: 'ticket', id: r.id, fields: { subject: r.subject } },
          tool: 'tickets.lookup',
          executionId: randomUUID(),
          arguments: { ticketId: r.id },
          output: {},
        }),
      ),
    );
    const verdicts = rows.map((_, i) => h.emitted(EventTypes.VerificationCompleted).find((e) => e.data.runId === `${runId}-${i}`)?.data.verdict);
    expect(verdicts).toEqual(rows.map(() => 'confirmed'));
  });
});
