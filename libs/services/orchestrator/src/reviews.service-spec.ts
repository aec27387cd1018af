import { randomUUID } from 'node:crypto';
import { approvalDigest, verifyApproval } from '@govmesh/action-grants';
import { EventTypes } from '@govmesh/contracts';
import { ServiceBus, ServiceKeys } from '@govmesh/nest-runtime';
import { ServiceHarness } from '@govmesh/testing';
import { ORCHESTRATOR_DATABASE } from './database';
import { OrchestratorServiceModule } from './orchestrator.module';
import { heldInvoice, intentDecided, INVOICE_82000 as ARGS } from './runs/run-events.fixtures';

const SCHEMA = ORCHESTRATOR_DATABASE.schema;

describe('approvals, escalations and workflows over HTTP, as an attacker and as a reviewer', () => {
  let h: ServiceHarness;
  let financeLead: string;
  let financeOps: string;
  let legal: string;

  beforeAll(async () => {
    h = await ServiceHarness.start({ modules: [OrchestratorServiceModule], schemas: [SCHEMA] });
    financeLead = await h.apiKey('reviewer', { groups: ['finance-leads'], name: 'lead' });
    financeOps = await h.apiKey('reviewer', { groups: ['finance-ops'], name: 'ops' });
    legal = await h.apiKey('reviewer', { groups: ['legal'], name: 'legal' });
  });
  afterAll(async () => {
    await h?.close();
  });

  it('refuses no credential, the wrong role and other groups, each with a code, never a 500', async () => {
    const { approvalId } = await heldInvoice(h);
    const agent = await h.apiKey('agent', { agentId: 'invoice-exceptions-agent' });
    expect(await h.http('GET', '/v1/approvals', { key: null })).toMatchObject({ status: 401, body: { code: 'credential_missing' } });
    expect((await h.http('GET', '/v1/approvals', { key: agent })).status).toBe(403);
    expect((await h.http('POST', `/v1/approvals/${approvalId}/decision`, { key: agent, body: { decision: 'approve' } })).status).toBe(403);
    // An operator sees every item but decides none.
    expect((await h.http('POST', `/v1/approvals/${approvalId}/decision`, { body: { decision: 'approve' } })).status).toBe(403);
    // Another group neither sees nor decides it.
    const listed = await h.http<{ items: Array<{ id: string }> }>('GET', '/v1/approvals', { key: legal });
    expect(listed.body.items.map((i) => i.id)).not.toContain(approvalId);
    expect(await h.http('GET', `/v1/approvals/${approvalId}`, { key: legal })).toMatchObject({ status: 404, body: { code: 'review_not_found' } });
    expect((await h.http('POST', `/v1/approvals/${approvalId}/decision`, { key: legal, body: { decision: 'approve' } })).status).toBe(404);
    // finance-ops can see it (a lower level) but the item started at finance-leads (above 50,000).
    expect((await h.http('GET', `/v1/approvals/${approvalId}`, { key: financeOps })).status).toBe(200);
    expect(await h.http('POST', `/v1/approvals/${approvalId}/decision`, { key: financeOps, body: { decision: 'approve' } })).toMatchObject({ status: 403, body: { code: 'reviewer_not_in_group' } });
    expect((await h.http('GET', `/v1/escalations/${approvalId}`, { key: financeLead })).status).toBe(404);
  });

  it('refuses malformed queries and decisions with 400/413 and the reason, and changes nothing', async () => {
    const { runId, approvalId } = await heldInvoice(h);
    for (const query of ['limit=0', 'limit=abc', 'status=maybe', 'cursor=%%%', 'foo=bar', 'limit=1&limit=2']) {
      expect(await h.http('GET', `/v1/approvals?${query}`, { key: financeLead })).toMatchObject({ status: 400, body: { code: 'invalid_query' } });
    }
    const decide = (body: unknown) => h.http('POST', `/v1/approvals/${approvalId}/decision`, { key: financeLead, body });
    expect(await decide({ decision: 'maybe' })).toMatchObject({ status: 400, body: { code: 'invalid_decision' } });
    expect(await decide({ decision: 'approve', approver: 'someone-else' })).toMatchObject({ status: 400, body: { code: 'invalid_decision' } });
    expect(await decide({ decision: 'approve', reason: 'ok\u0000' })).toMatchObject({ status: 400, body: { code: 'unstorable_text' } });
    expect(await decide({ decision: 'edit', arguments: { blob: 'x'.repeat(70 * 1024) } })).toMatchObject({ status: 413, body: { code: 'decision_too_large' } });
    expect(await decide({ decision: 'supply', output: {} })).toMatchObject({ status: 400, body: { code: 'decision_not_allowed' } });
    expect(await decide({ decision: 'edit' })).toMatchObject({ status: 400, body: { code: 'arguments_required' } });
    expect((await h.http('GET', `/v1/approvals/${'x'.repeat(300)}`, { key: financeLead })).status).toBe(404);
    const [row] = await h.query<{ status: string }>(`SELECT status FROM "${SCHEMA}"."review_items" WHERE id = $1`, [approvalId]);
    expect(row.status).toBe('pending');
    expect(h.emittedFor(runId).filter((e) => e.type === EventTypes.ActionProposed)).toHaveLength(1);
  });

  it('an approval by the right reviewer re-proposes exactly the approved action with a signed attestation, once', async () => {
    const { runId, approvalId } = await heldInvoice(h);
    const shown = await h.http<{ digest: string; state: Record<string, unknown>; groups: string[] }>('GET', `/v1/approvals/${approvalId}`, { key: financeLead });
    expect(shown.body).toMatchObject({ groups: ['finance-leads'], state: { input: ARGS, proposedAction: { tool: 'invoices.approve_payment', arguments: ARGS } } });
    expect(shown.body.digest).toBe(approvalDigest({ agentId: 'invoice-exceptions-agent', agentVersion: '1.0.0', tool: 'invoices.approve_payment', arguments: ARGS }));
    const decided = await h.http('POST', `/v1/approvals/${approvalId}/decision`, { key: financeLead, body: { decision: 'approve', reason: 'duplicate PO cleared' } });
    expect(decided).toMatchObject({ status: 200, body: { status: 'approved', decidedBy: { name: 'lead', groups: ['finance-leads'] } } });
    await h.settle();
    const proposals = h.emittedFor(runId).filter((e) => e.type === EventTypes.ActionProposed) as Array<{ data: { arguments: unknown; approval?: Parameters<typeof verifyApproval>[1] } }>;
    expect(proposals).toHaveLength(2);
    const approval = proposals[1].data.approval!;
    expect(proposals[1].data.arguments).toEqual(ARGS);
    expect(approval.digest).toBe(shown.body.digest);
    expect(verifyApproval(h.app.get(ServiceKeys).publicKey('ingress'), approval)).toBe(true);
    expect(verifyApproval(h.app.get(ServiceKeys).publicKey('ingress'), { ...approval, digest: 'b'.repeat(64) })).toBe(false);
    expect(h.emitted(EventTypes.ApprovalDecided).find((e) => e.data.approvalId === approvalId)?.data).toMatchObject({ decision: 'approved', reviewer: { name: 'lead' } });
    expect(await h.http('POST', `/v1/approvals/${approvalId}/decision`, { key: financeLead, body: { decision: 'reject' } })).toMatchObject({ status: 409, body: { code: 'review_closed' } });
  });

  it('the review queue is measured: pending items by kind, time to decision, escalations by reason, the timer backlog', async () => {
    const value = async (metric: { get(): Promise<{ values: Array<{ labels: Record<string, unknown>; value: number; metricName?: string }> }> }, labels: Record<string, string>, metricName?: string) =>
      (await metric.get()).values.find((v) => (!metricName || v.metricName === metricName) && Object.entries(labels).every(([k, l]) => v.labels[k] === l))?.value ?? 0;
    const bus = h.app.get(ServiceBus, { strict: false });
    const pending = (kind: string) => value(h.metrics.approvalsPending, { service: 'orchestrator', kind });
    const decisions = () => value(h.metrics.approvalDecisionDuration, { kind: 'approval', decision: 'approved' }, 'govmesh_approval_decision_seconds_count');

    await bus.refreshGauges();
    const approvalsBefore = await pending('approval');
    const decidedBefore = await decisions();
    const { approvalId } = await heldInvoice(h);
    await bus.refreshGauges();
    expect(await pending('approval')).toBe(approvalsBefore + 1);
    // The item's SLA and expiry are timers still ahead; none is overdue.
    expect(await value(h.metrics.timersPending, { service: 'orchestrator', state: 'scheduled' })).toBeGreaterThanOrEqual(1);
    expect(await value(h.metrics.timersPending, { service: 'orchestrator', state: 'due' })).toBe(0);

    expect((await h.http('POST', `/v1/approvals/${approvalId}/decision`, { key: financeLead, body: { decision: 'approve' } })).status).toBe(200);
    await h.settle();
    await bus.refreshGauges();
    expect(await pending('approval')).toBe(approvalsBefore);
    expect(await decisions()).toBe(decidedBefore + 1);

    const heldBefore = await value(h.metrics.escalations, { reason: 'intent_held' });
    const escalationsPending = await pending('escalation');
    const runId = `r-${randomUUID()}`;
    await h.send(intentDecided(h, runId, 'support-assistant', { task: 'Status of acc-001' }, { effect: 'escalate', reasons: [{ code: 'needs_review', message: 'a human decides' }] }));
    await bus.refreshGauges();
    expect(await value(h.metrics.escalations, { reason: 'intent_held' })).toBe(heldBefore + 1);
    expect(await pending('escalation')).toBe(escalationsPending + 1);
    // Bounded labels only: no run or review id in any series.
    const text = await h.metrics.registry.metrics();
    expect(text).not.toContain(runId);
    expect(text).not.toContain(approvalId);
  });

  it('publishing workflows: operators only, every problem named, the same definition not a new version', async () => {
    const spec = {
      id: 'probe-flow',
      deadlineSeconds: 60,
      escalation: { levels: [{ name: 'ops', groups: ['operations'], slaSeconds: 60 }] },
      steps: [{ id: 'look', kind: 'context' }],
    };
    expect((await h.http('POST', '/v1/workflows', { key: financeLead, body: spec })).status).toBe(403);
    expect((await h.http('POST', '/v1/workflows', { key: null, body: spec })).status).toBe(401);
    const badCel = await h.http<{ code: string; fields: Array<{ field: string }> }>('POST', '/v1/workflows', { body: { ...spec, steps: [{ id: 'b', kind: 'branch', cases: [{ when: 'input.amount >', next: 'end' }], default: 'nowhere' }] } });
    expect(badCel.status).toBe(400);
    expect(badCel.body.fields.map((f) => f.field).sort()).toEqual(['/steps/0/cases/0/when', '/steps/0/default']);
    expect(await h.http('POST', '/v1/workflows', { body: { ...spec, steps: [] } })).toMatchObject({ status: 400, body: { code: 'invalid_workflow' } });
    expect(await h.http('POST', '/v1/workflows', { body: { ...spec, eval: 'process.exit()' } })).toMatchObject({ status: 400, body: { code: 'invalid_workflow' } });
    const first = await h.http<{ version: number; created: boolean }>('POST', '/v1/workflows', { body: spec });
    expect(first).toMatchObject({ status: 201, body: { version: 1, created: true } });
    expect(await h.http('POST', '/v1/workflows', { body: spec })).toMatchObject({ status: 200, body: { version: 1, created: false } });
    expect(await h.http('POST', '/v1/workflows', { body: { ...spec, deadlineSeconds: 120 } })).toMatchObject({ status: 201, body: { version: 2 } });
    expect((await h.http('GET', '/v1/workflows/probe-flow/versions/abc')).status).toBe(404);
    expect((await h.http('GET', '/v1/workflows/NOPE')).status).toBe(404);
    expect((await h.http<{ versions: unknown[] }>('GET', '/v1/workflows/probe-flow')).body.versions).toHaveLength(2);
  });
});
