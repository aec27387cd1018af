import { randomUUID } from 'node:crypto';
import { approvalDigest, signApproval } from '@govmesh/action-grants';
import { Topics } from '@govmesh/contracts';
import { loadPrivateKey } from '@govmesh/signing';
import { expectEventually, startMeshFixture, type MeshFixture } from '@govmesh/testing';
import { INVOICE_EXCEPTION_WORKFLOW, type WorkflowSpec } from '@govmesh/workflow';

interface Reason {
  code: string;
  message: string;
}
interface RunView {
  runId: string;
  status: string;
  outcome: string | null;
  reasons: Reason[];
  agentVersion?: string;
  review?: { id: string; kind: string; level: number; link: string };
  steps: Array<{ execution: string; step: string; status: string }>;
  timeline: Array<{ kind: string; step: string | null }>;
}
interface ReviewItem {
  id: string;
  kind: string;
  status: string;
  runId: string;
  level: number;
  groups: string[];
  digest?: string;
  decisions: string[];
  case?: string;
  state?: Record<string, unknown>;
  code?: string;
}

const AGENT = 'invoice-exceptions-agent';

/**
 * The workflow scenarios of the invoice-exception seed, on the mesh as an operator runs it: seven
 * processes, the Kafka-protocol test broker and real Postgres. Agents submit through the HTTP
 * ingress with their keys, reviewers decide through the approvals and escalations API with
 * theirs; the sandbox ERP's payments table is the ground truth for "executed" and "executed once".
 */
describe('workflows and human checkpoints on Postgres and Kafka', () => {
  let fixture: MeshFixture;
  let mesh: MeshFixture['mesh'];
  let db: MeshFixture['db'];
  let client: MeshFixture['client'];
  let agentKey: string;
  let financeOps: string;
  let financeLeads: string;
  let support: string;

  /** A copy of the invoice-exception workflow under another id, with review timings a test can wait for. */
  function fastInvoiceWorkflow(id: string, review: { slaSeconds: number; expiresAfterSeconds: number; onExpiry: 'fail' | 'escalate' }): WorkflowSpec {
    const levels = [
      { name: 'finance-ops', groups: ['finance-ops'], slaSeconds: review.slaSeconds },
      { name: 'finance-leads', groups: ['finance-leads'], slaSeconds: 600 },
    ];
    const { version, ...seed } = structuredClone(INVOICE_EXCEPTION_WORKFLOW);
    expect(version).toBe(1);
    return {
      ...seed,
      id,
      steps: INVOICE_EXCEPTION_WORKFLOW.steps.map((s) => (s.id === 'pay' && s.kind === 'action' ? { ...s, approval: { levels, expiresAfterSeconds: review.expiresAfterSeconds, onExpiry: review.onExpiry } } : s)),
    };
  }

  beforeAll(async () => {
    fixture = await startMeshFixture('workflows', [Topics.actions, Topics.actionDecisions]);
    ({ mesh, db, client } = fixture);
    agentKey = await mesh.apiKey('agent', { agentId: AGENT });
    financeOps = await mesh.apiKey('reviewer', { groups: ['finance-ops'], name: 'Fiona (finance-ops)' });
    financeLeads = await mesh.apiKey('reviewer', { groups: ['finance-leads'], name: 'Lena (finance-leads)' });
    support = await mesh.apiKey('reviewer', { groups: ['support'], name: 'Sam (support)' });
    for (const wf of [fastInvoiceWorkflow('invoice-sla', { slaSeconds: 2, expiresAfterSeconds: 600, onExpiry: 'escalate' }), fastInvoiceWorkflow('invoice-expiry', { slaSeconds: 600, expiresAfterSeconds: 3, onExpiry: 'fail' })]) {
      const published = await mesh.http('orchestrator', 'POST', '/v1/workflows', { body: wf });
      expect({ id: wf.id, status: published.status }).toEqual({ id: wf.id, status: 201 });
    }
  });

  afterAll(async () => {
    await fixture?.stop();
  });

  async function submit(input: Record<string, unknown>, workflow = 'invoice-exception'): Promise<string> {
    const res = await mesh.http<{ runId: string }>('orchestrator', 'POST', '/v1/intents', {
      key: agentKey,
      body: { agentId: AGENT, workflow, task: `Invoice ${String(input['invoiceId'])} is on hold: resolve the exception and pay it`, input },
    });
    expect(res.status).toBe(202);
    return res.body.runId;
  }

  const view = async (runId: string) => (await mesh.http<RunView>('orchestrator', 'GET', `/v1/runs/${runId}`)).body;

  async function until(runId: string, predicate: (v: RunView) => boolean, timeoutMs = 60000): Promise<RunView> {
    return expectEventually(async () => {
      const v = await view(runId);
      expect({ status: v.status, outcome: v.outcome, ok: predicate(v) }).toMatchObject({ ok: true });
      return v;
    }, { timeoutMs, intervalMs: 200 });
  }

  const completed = (runId: string, timeoutMs?: number) => until(runId, (v) => v.status === 'completed', timeoutMs);

  async function pending(runId: string, kind: 'approvals' | 'escalations', key: string): Promise<ReviewItem> {
    return expectEventually(async () => {
      const res = await mesh.http<{ items: ReviewItem[] }>('orchestrator', 'GET', `/v1/${kind}?status=pending&runId=${runId}`, { key });
      expect(res.status).toBe(200);
      expect(res.body.items).toHaveLength(1);
      return res.body.items[0];
    }, { timeoutMs: 60000, intervalMs: 200 });
  }

  const decide = (kind: 'approvals' | 'escalations', id: string, key: string, body: Record<string, unknown>) => mesh.http<ReviewItem>('orchestrator', 'POST', `/v1/${kind}/${id}/decision`, { key, body });

  async function payments(invoiceId: string): Promise<number> {
    const rows = await db.query<{ n: number }>('SELECT count(*)::int AS n FROM sandbox.payments WHERE invoice_id = $1', [invoiceId]);
    return rows[0].n;
  }

  /** The action.proposed events of a run on Kafka, as policy received them. */
  const proposals = (runId: string) =>
    client
      .messages(Topics.actions)
      .filter((m) => m.key === runId)
      .map((m) => m.json as { data: { stepId: string; arguments: Record<string, unknown>; agentVersion?: string; approval?: { approvalId: string; digest: string; requester: string; reviewer: { id: string } } } });

  const decisionsOf = (runId: string) =>
    client
      .messages(Topics.actionDecisions)
      .filter((m) => m.key === runId)
      .map((m) => (m.json as { data: { stepId: string; effect: string; reasons: Reason[]; grant?: unknown } }).data);

  /** An action.proposed CloudEvent as a producer on the internal topic would write it. */
  const proposedEvent = (runId: string, data: Record<string, unknown>) =>
    JSON.stringify({ specversion: '1.0', id: randomUUID(), source: 'urn:test:forger', type: 'govmesh.action.proposed.v1', time: new Date().toISOString(), subject: runId, datacontenttype: 'application/json', data: { runId, ...data } });

  it('below the threshold the invoice is paid and verified with no human', async () => {
    const runId = await submit({ invoiceId: 'inv-1001', amount: 1200, currency: 'EUR' });
    const done = await completed(runId);
    expect(done.outcome).toBe('verified');
    expect(done.reasons.map((r) => r.code)).toEqual(['verified', 'read_back_matches', 'state_check_passed', 'grant_check_passed']);
    expect(done.timeline.map((t) => t.kind)).not.toContain('approval_requested');
    expect(await payments('inv-1001')).toBe(1);
  });

  it('above the threshold it waits for finance-ops, executes nothing before the approval, and exactly once after it', async () => {
    const runId = await submit({ invoiceId: 'inv-1003', amount: 7400, currency: 'EUR' });
    const item = await pending(runId, 'approvals', financeOps);
    expect(item).toMatchObject({ kind: 'approval', level: 1, groups: expect.arrayContaining(['finance-ops']), digest: expect.stringMatching(/^[a-f0-9]{64}$/) });
    const full = await mesh.http<ReviewItem>('orchestrator', 'GET', `/v1/approvals/${item.id}`, { key: financeOps });
    expect(full.status).toBe(200);
    // The full state: inputs, retrieved context, the model's rationale and confidence, the action with its digest, policy's reasons and version, who asked.
    expect(JSON.stringify(full.body.state)).toContain('inv-1003');
    expect(full.body.state).toMatchObject({ proposedAction: { tool: 'invoices.approve_payment', arguments: { invoiceId: 'inv-1003', amount: 7400 }, digest: item.digest }, policy: { effect: 'require_approval' } });
    expect((await view(runId)).status).toBe('awaiting_approval');
    expect(await payments('inv-1003')).toBe(0);

    // Refused: a reviewer outside the group (who does not even see the item), the agent itself, no credential; nothing changes.
    expect(await decide('approvals', item.id, support, { decision: 'approve' })).toMatchObject({ status: 404, body: { code: 'review_not_found' } });
    expect((await mesh.http<{ items: ReviewItem[] }>('orchestrator', 'GET', `/v1/approvals?status=pending&runId=${runId}`, { key: support })).body.items).toEqual([]);
    expect((await decide('approvals', item.id, agentKey, { decision: 'approve' })).status).toBe(403);
    expect((await mesh.http('orchestrator', 'POST', `/v1/approvals/${item.id}/decision`, { key: null, body: { decision: 'approve' } })).status).toBe(401);
    expect(await payments('inv-1003')).toBe(0);

    expect(await decide('approvals', item.id, financeOps, { decision: 'approve', reason: 'matches the purchase order' })).toMatchObject({ status: 200, body: { status: 'approved' } });
    const done = await completed(runId);
    expect(done.outcome).toBe('verified');
    expect(await payments('inv-1003')).toBe(1);
    // Policy granted exactly the approved digest, naming the reviewer's approval; the approval is decided once.
    const approved = proposals(runId).find((p) => p.data.approval);
    expect(approved?.data.approval).toMatchObject({ digest: item.digest, reviewer: { id: expect.stringMatching(/^key:/) } });
    expect(decisionsOf(runId).map((d) => d.effect)).toEqual(['require_approval', 'allow']);
    expect(decisionsOf(runId)[1].reasons[0].code).toBe('approved_by_reviewer');
    expect((await decide('approvals', item.id, financeOps, { decision: 'approve' })).status).toBe(409);
  });

  it('an approval replayed for a different amount, or attested for the requester, executes nothing; finance-ops may not decide above 50,000', async () => {
    const runId = await submit({ invoiceId: 'inv-1002', amount: 82000, currency: 'EUR' });
    const item = await pending(runId, 'approvals', financeLeads);
    expect(item.level).toBe(2);
    expect(await decide('approvals', item.id, financeOps, { decision: 'approve' })).toMatchObject({ status: 403, body: { code: 'reviewer_not_in_group' } });

    // A genuine approval of another run's 7400 payment, replayed onto this run with this run's 82,000.
    const genuine = client.messages(Topics.actions).map((m) => m.json as { data: { approval?: Record<string, unknown>; agentVersion?: string } }).find((e) => e.data.approval)!;
    expect(genuine).toBeDefined();
    const version = genuine.data.agentVersion;
    const args = { invoiceId: 'inv-1002', amount: 82000, currency: 'EUR' };
    await client.send(Topics.actions, [{ key: runId, value: proposedEvent(runId, { stepId: 'pay#90', agentId: AGENT, ...(version ? { agentVersion: version } : {}), tool: 'invoices.approve_payment', arguments: args, approval: genuine.data.approval }) }]);
    // An attestation with the orchestrator's key itself, but by the principal that asked for the work.
    const fields = { approvalId: `forged-${randomUUID()}`, digest: approvalDigest({ agentId: AGENT, agentVersion: version ?? '', tool: 'invoices.approve_payment', arguments: args }), reviewer: { id: 'key:self', groups: ['finance-leads'] }, requester: 'key:self', decidedAt: new Date().toISOString() };
    const selfApproval = { ...fields, signature: signApproval(loadPrivateKey(mesh.keys.GOVMESH_INGRESS_SIGNING_KEY), fields) };
    await client.send(Topics.actions, [{ key: runId, value: proposedEvent(runId, { stepId: 'pay#91', agentId: AGENT, ...(version ? { agentVersion: version } : {}), tool: 'invoices.approve_payment', arguments: args, approval: selfApproval }) }]);

    const refused = await expectEventually(() => {
      const found = decisionsOf(runId).filter((d) => d.stepId === 'pay#90' || d.stepId === 'pay#91');
      expect(found).toHaveLength(2);
      return found;
    }, { timeoutMs: 30000 });
    expect(refused.map((d) => [d.stepId, d.effect, d.reasons[0].code]).sort()).toEqual([
      ['pay#90', 'deny', 'approval_digest_mismatch'],
      ['pay#91', 'deny', 'approver_is_requester'],
    ]);
    expect(refused.every((d) => d.grant === undefined)).toBe(true);
    // The forged replies match no step the run waits for: it still waits, and nothing was paid.
    expect((await view(runId)).status).toBe('awaiting_approval');
    expect(await payments('inv-1002')).toBe(0);

    expect((await decide('approvals', item.id, financeLeads, { decision: 'approve', reason: 'CFO sign-off attached' })).status).toBe(200);
    expect((await completed(runId)).outcome).toBe('verified');
    expect(await payments('inv-1002')).toBe(1);
  });

  it('an edit-and-approve is a new action that policy decides again', async () => {
    const runId = await submit({ invoiceId: 'inv-1007', amount: 12500, currency: 'EUR' });
    const item = await pending(runId, 'approvals', financeOps);
    const edited = await decide('approvals', item.id, financeOps, { decision: 'edit', arguments: { invoiceId: 'inv-1007', amount: -12500, currency: 'EUR' }, reason: 'credit note instead' });
    expect(edited).toMatchObject({ status: 200, body: { status: 'edited' } });
    const done = await completed(runId);
    expect(done.outcome).toBe('denied');
    const decisions = decisionsOf(runId);
    expect(decisions.map((d) => d.effect)).toEqual(['require_approval', 'deny']);
    expect(proposals(runId)[1].data).toMatchObject({ arguments: { amount: -12500 }, approval: { digest: expect.not.stringMatching(item.digest!) } });
    expect(await payments('inv-1007')).toBe(0);
  });

  it('an unanswered approval moves up a level when its SLA passes, and the next level decides', async () => {
    const runId = await submit({ invoiceId: 'inv-1007', amount: 12500, currency: 'EUR' }, 'invoice-sla');
    const first = await pending(runId, 'approvals', financeOps);
    expect(first.level).toBe(1);
    const moved = await expectEventually(async () => {
      const item = (await mesh.http<ReviewItem>('orchestrator', 'GET', `/v1/approvals/${first.id}`, { key: financeLeads })).body;
      expect(item.level).toBe(2);
      return item;
    }, { timeoutMs: 30000, intervalMs: 250 });
    expect(moved.groups).toEqual(['finance-leads']);
    expect(await decide('approvals', first.id, financeOps, { decision: 'approve' })).toMatchObject({ status: 403, body: { code: 'reviewer_not_in_group' } });
    expect((await decide('approvals', first.id, financeLeads, { decision: 'approve' })).status).toBe(200);
    expect((await completed(runId)).outcome).toBe('verified');
    expect(await payments('inv-1007')).toBe(1);
  });

  it('an approval nobody gives expires and the run fails closed, never approved', async () => {
    const runId = await submit({ invoiceId: 'inv-1003', amount: 7400, currency: 'EUR' }, 'invoice-expiry');
    const item = await pending(runId, 'approvals', financeOps);
    const done = await completed(runId, 30000);
    expect(done.outcome).toBe('expired');
    expect(done.reasons[0].code).toBe('approval_expired');
    expect(decisionsOf(runId).map((d) => d.effect)).toEqual(['require_approval']);
    expect(await decide('approvals', item.id, financeOps, { decision: 'approve' })).toMatchObject({ status: 409 });
  });

  it('a tool that still fails after its retries escalates with its state; a reviewer retries once the ERP is back and the run is verified', async () => {
    const runId = await submit({ invoiceId: 'inv-1010', amount: 640, currency: 'EUR' });
    const item = await pending(runId, 'escalations', financeOps);
    const full = (await mesh.http<ReviewItem>('orchestrator', 'GET', `/v1/escalations/${item.id}`, { key: financeOps })).body;
    expect(full).toMatchObject({ case: 'tool_failed', decisions: expect.arrayContaining(['retry', 'take_over', 'abort']) });
    expect(JSON.stringify(full.state)).toContain('system_unavailable');
    const attempts = (await view(runId)).steps.filter((s) => s.step === 'pay');
    expect(attempts.map((s) => s.status)).toEqual(['failed', 'failed', 'escalated']);
    expect((await view(runId)).status).toBe('escalated');

    await db.query(`UPDATE sandbox.invoices SET unavailable_calls = 0 WHERE id = 'inv-1010'`);
    expect((await decide('escalations', item.id, financeOps, { decision: 'retry', reason: 'ERP is back' })).status).toBe(200);
    expect((await completed(runId)).outcome).toBe('verified');
    expect(await payments('inv-1010')).toBe(1);
  });

  it('a low-confidence model answer escalates; the reviewer accepts it and the run goes on to verified', async () => {
    const runId = await submit({ invoiceId: 'inv-1004', amount: 450, currency: 'EUR', _confidence: 0.2 });
    const item = await pending(runId, 'escalations', financeOps);
    const full = (await mesh.http<ReviewItem>('orchestrator', 'GET', `/v1/escalations/${item.id}`, { key: financeOps })).body;
    expect(full).toMatchObject({ case: 'model_low_confidence', decisions: expect.arrayContaining(['approve', 'supply', 'retry', 'abort']) });
    expect(JSON.stringify(full.state)).toContain('0.2');
    expect(await payments('inv-1004')).toBe(0);
    expect((await decide('escalations', item.id, financeOps, { decision: 'approve', reason: 'checked the invoice myself' })).status).toBe(200);
    expect((await completed(runId)).outcome).toBe('verified');
    expect(await payments('inv-1004')).toBe(1);
  });

  it('a run whose orchestrator is killed and restarted between every two steps completes with no duplicated side effect', async () => {
    const runId = await submit({ invoiceId: 'inv-1005', amount: 3100, currency: 'EUR' });
    let seen = 0;
    let restarts = 0;
    for (;;) {
      const rows = await expectEventually(async () => {
        const r = await db.query<{ n: number; done: boolean }>(`SELECT (SELECT count(*)::int FROM orchestrator.run_steps WHERE run_id = $1) AS n, (SELECT status = 'completed' FROM orchestrator.runs WHERE id = $1) AS done`, [runId]);
        expect(r[0].n > seen || r[0].done === true).toBe(true);
        return r[0];
      }, { timeoutMs: 60000, intervalMs: 50 });
      if (rows.done) break;
      seen = rows.n;
      await mesh.kill('orchestrator', 'SIGKILL');
      await mesh.startApp('orchestrator');
      restarts += 1;
    }
    expect(restarts).toBeGreaterThanOrEqual(3);
    const done = await completed(runId);
    expect(done.outcome).toBe('verified');
    expect(await payments('inv-1005')).toBe(1);
  });
});
