import { randomUUID } from 'node:crypto';
import { EventTypes, type AgentChangedV1, type EventType, type Reason } from '@govmesh/contracts';
import { ServiceHarness } from '@govmesh/testing';
import { ORCHESTRATOR_DATABASE } from '../database';
import { OrchestratorServiceModule } from '../orchestrator.module';
import { approvalRequired, contextRetrieved, heldInvoice, intentDecided, lookupAllowed, lookupExecuted, lookupProposed } from './run-events.fixtures';

const SCHEMA = ORCHESTRATOR_DATABASE.schema;
const OPERATOR = { kind: 'operator' as const, id: 'key:op-olga', name: 'Olga' };

/** Each case its own agent, so that a status change touches only that case's runs. */
const newAgent = () => `agent-${randomUUID().slice(0, 8)}`;

/** The registry's word on an agent, as policy emits it. */
function agentChanged(h: ServiceHarness, agentId: string, status: AgentChangedV1['agent']['status'], options: { change?: AgentChangedV1['change']; reason?: string; previous?: string } = {}) {
  return h.event(EventTypes.AgentChanged, {
    agentId,
    change: options.change ?? 'status_changed',
    agent: { version: '1.0.0', owner: 'finance-ops', tier: 'execute_low', status, revokedVersions: [] },
    previous: { version: '1.0.0', tier: 'execute_low', status: options.previous ?? (status === 'active' ? 'suspended' : 'active') },
    ...(options.reason ? { reason: options.reason } : {}),
    actor: OPERATOR,
  });
}

/** A run of the default workflow (retrieve, plan, act, verify) admitted by policy and asking for context. */
const admitted = (h: ServiceHarness, agentId: string, runId = `r-${randomUUID()}`) => intentDecided(h, runId, agentId, { task: 'What is the status of acc-001?', input: { accountId: 'acc-001' } });
const context = contextRetrieved;
const toolCall = lookupProposed;
const requireApproval = approvalRequired;

async function runRow(h: ServiceHarness, runId: string) {
  const [row] = await h.query<{ status: string; outcome: string | null; current_step: string | null; reasons: Reason[]; workflow_state: { paused?: boolean } }>(
    `SELECT status, outcome, current_step, reasons, workflow_state FROM "${SCHEMA}"."runs" WHERE id = $1`,
    [runId],
  );
  return row;
}

const timeline = (h: ServiceHarness, runId: string) =>
  h.query<{ kind: string; event_type: string | null; detail: Record<string, unknown> }>(`SELECT kind, event_type, detail FROM "${SCHEMA}"."run_timeline" WHERE run_id = $1 ORDER BY seq`, [runId]);

const typesFor = (h: ServiceHarness, runId: string): EventType[] => h.emittedFor(runId).map((e) => e.type);

const signals = async (h: ServiceHarness, signal: string) => (await h.metrics.agentRunSignals.get()).values.find((v) => v.labels['signal'] === signal)?.value ?? 0;

describe('the kill switch: an agent suspended, reactivated or retired, as the orchestrator sees it on govmesh.registry', () => {
  let h: ServiceHarness;
  let financeLead: string;

  beforeAll(async () => {
    h = await ServiceHarness.start({ modules: [OrchestratorServiceModule], schemas: [SCHEMA] });
    financeLead = await h.apiKey('reviewer', { groups: ['finance-leads'], name: 'lead' });
  });
  afterAll(async () => {
    await h?.close();
  });

  it('suspension pauses a run at its next step, and only that agent\'s runs; reactivation resumes it and it completes verified', async () => {
    const agent = newAgent();
    const other = newAgent();
    const mine = admitted(h, agent);
    const theirs = admitted(h, other);
    const runId = mine.data.runId;
    const otherRun = theirs.data.runId;
    await h.send(mine, theirs);
    const pausedBefore = await signals(h, 'pause');

    const suspension = agentChanged(h, agent, 'suspended', { reason: 'investigating odd refunds' });
    await h.send(suspension);
    // the step in flight (retrieve#1) goes on; the run is marked to stop before its next one
    expect(await runRow(h, runId)).toMatchObject({ status: 'running', workflow_state: { paused: true } });
    expect(await signals(h, 'pause')).toBe(pausedBefore + 1);
    const requested = (await timeline(h, runId)).find((l) => l.kind === 'run_pause_requested')!;
    expect(requested).toMatchObject({
      event_type: EventTypes.AgentChanged,
      detail: { by: OPERATOR, reason: { code: 'agent_suspended', message: `agent "${agent}" was suspended by Olga (key:op-olga): investigating odd refunds` } },
    });

    // its pending reply arrives: no further command; the run stops before plan
    await h.send(context(h, runId), context(h, otherRun));
    expect(typesFor(h, runId)).toEqual([EventTypes.ContextRequested]);
    expect(await runRow(h, runId)).toMatchObject({ status: 'paused', current_step: 'plan' });
    expect((await timeline(h, runId)).map((l) => l.kind)).toContain('run_paused_before_step');
    // the other agent's run was not touched
    expect(typesFor(h, otherRun)).toEqual([EventTypes.ContextRequested, EventTypes.ModelRequested]);
    expect((await timeline(h, otherRun)).map((l) => l.kind)).not.toContain('run_pause_requested');

    // the same event again (the inbox), and a second word that the agent is suspended: nothing changes
    const lines = (await timeline(h, runId)).length;
    await h.send(suspension, agentChanged(h, agent, 'suspended', { change: 'updated', previous: 'suspended' }));
    expect((await timeline(h, runId)).length).toBe(lines);
    expect(await signals(h, 'pause')).toBe(pausedBefore + 1);

    // reactivated: the run resumes where it stopped and goes to the end
    await h.send(agentChanged(h, agent, 'active'));
    expect(typesFor(h, runId)).toEqual([EventTypes.ContextRequested, EventTypes.ModelRequested]);
    expect((await timeline(h, runId)).find((l) => l.kind === 'run_resumed')).toMatchObject({ event_type: EventTypes.AgentChanged, detail: { by: OPERATOR } });
    await h.send(toolCall(h, runId));
    await h.send(lookupAllowed(h, runId, agent));
    await h.send(lookupExecuted(h, runId));
    await h.send(h.event(EventTypes.VerificationCompleted, { runId, stepId: 'verify#4', verdict: 'confirmed', reasons: [{ code: 'read_back_matches', message: 'matches' }] }));
    expect(await runRow(h, runId)).toMatchObject({ status: 'completed', outcome: 'verified', workflow_state: { paused: false } });

    // a registry change of an active agent with nothing paused does nothing
    const after = (await timeline(h, otherRun)).length;
    await h.send(agentChanged(h, other, 'active', { change: 'version_added', previous: 'active' }));
    expect((await timeline(h, otherRun)).length).toBe(after);
  });

  it('suspension withdraws a pending approval: shown withdrawn, its decision refused; on reactivation policy is asked again and a new approval opens', async () => {
    const agent = newAgent();
    const { runId, approvalId } = await heldInvoice(h, agent);
    expect((await h.http('GET', `/v1/approvals/${approvalId}`, { key: financeLead })).body).toMatchObject({ status: 'pending' });

    await h.send(agentChanged(h, agent, 'suspended'));
    const shown = await h.http<{ status: string; decisionReason: string; history: Array<{ event: string }> }>('GET', `/v1/approvals/${approvalId}`, { key: financeLead });
    expect(shown.body).toMatchObject({ status: 'withdrawn', decisionReason: `agent "${agent}" was suspended by Olga (key:op-olga)` });
    expect(shown.body.history.map((e) => e.event)).toEqual(['requested', 'withdrawn']);
    expect(h.emitted(EventTypes.ApprovalDecided).find((e) => e.data.approvalId === approvalId)?.data).toMatchObject({ decision: 'withdrawn', stepId: 'pay#4' });
    expect(await h.http('POST', `/v1/approvals/${approvalId}/decision`, { key: financeLead, body: { decision: 'approve' } })).toMatchObject({ status: 409, body: { code: 'review_closed' } });
    expect(await runRow(h, runId)).toMatchObject({ status: 'paused', current_step: 'pay' });
    const listed = await h.http<{ items: Array<{ id: string }> }>('GET', `/v1/approvals?runId=${runId}`, { key: financeLead });
    expect(listed.body.items).toEqual([]);
    const proposals = () => h.emittedFor(runId).filter((e) => e.type === EventTypes.ActionProposed) as Array<{ data: { stepId: string; approval?: unknown } }>;
    expect(proposals()).toHaveLength(1);

    // reactivated: the action is proposed to policy again (a new execution, no approval carried over)
    await h.send(agentChanged(h, agent, 'active'));
    expect(proposals()).toHaveLength(2);
    expect(proposals()[1].data).toMatchObject({ stepId: 'pay#5' });
    expect(proposals()[1].data.approval).toBeUndefined();
    await h.send(requireApproval(h, runId, 'pay#5'));
    const [fresh] = await h.query<{ id: string }>(`SELECT id FROM "${SCHEMA}"."review_items" WHERE run_id = $1 AND status = 'pending'`, [runId]);
    expect(fresh.id).not.toBe(approvalId);
    const decided = await h.http('POST', `/v1/approvals/${fresh.id}/decision`, { key: financeLead, body: { decision: 'approve', reason: 'checked again after the suspension' } });
    expect(decided).toMatchObject({ status: 200, body: { status: 'approved' } });
    await h.settle();
    expect(proposals()).toHaveLength(3);
    expect(proposals()[2].data).toMatchObject({ stepId: 'pay#5', approval: { digest: expect.stringMatching(/^[a-f0-9]{64}$/) } });
  });

  it('retirement cancels every run of the agent that has not ended, paused or not, with agent_retired; later replies change nothing', async () => {
    const agent = newAgent();
    const running = admitted(h, agent);
    await h.send(running);
    const { runId: held, approvalId } = await heldInvoice(h, agent);
    const done = h.event(EventTypes.IntentDecided, { ...admitted(h, agent).data, effect: 'deny', reasons: [{ code: 'no', message: 'no' }] });
    await h.send(done);
    await h.send(agentChanged(h, agent, 'suspended'));
    const cancelledBefore = await signals(h, 'cancel');

    await h.send(agentChanged(h, agent, 'retired', { previous: 'suspended', reason: 'replaced by v2' }));
    for (const runId of [running.data.runId, held]) {
      expect(await runRow(h, runId)).toMatchObject({ status: 'completed', outcome: 'cancelled', reasons: [{ code: 'agent_retired', message: `agent "${agent}" was retired by Olga (key:op-olga): replaced by v2` }] });
      const completed = h.emitted(EventTypes.RunCompleted).find((e) => e.data.runId === runId)!;
      expect(completed.data).toMatchObject({ outcome: 'cancelled', reasons: [{ code: 'agent_retired' }] });
      expect((await timeline(h, runId)).find((l) => l.kind === 'run_cancelled')).toMatchObject({ detail: { by: OPERATOR } });
    }
    expect(await signals(h, 'cancel')).toBe(cancelledBefore + 2);
    // the approval had been withdrawn by the suspension already; the deadline timers are gone
    expect((await h.http('GET', `/v1/approvals/${approvalId}`, { key: financeLead })).body).toMatchObject({ status: 'withdrawn' });
    expect(await h.query(`SELECT 1 FROM "${SCHEMA}"."timers" WHERE run_id = ANY($1)`, [[running.data.runId, held]])).toHaveLength(0);
    // a run that had ended before is left as it was
    expect(await runRow(h, done.data.runId)).toMatchObject({ outcome: 'denied' });
    expect((await timeline(h, done.data.runId)).map((l) => l.kind)).not.toContain('run_cancelled');

    const before = typesFor(h, running.data.runId).length;
    await h.send(context(h, running.data.runId), agentChanged(h, agent, 'retired', { change: 'updated', previous: 'retired' }));
    expect(typesFor(h, running.data.runId)).toHaveLength(before);
    expect(await signals(h, 'cancel')).toBe(cancelledBefore + 2);
  });

  it('retirement of an active agent withdraws an open approval and cancels the run in one step', async () => {
    const agent = newAgent();
    const { runId, approvalId } = await heldInvoice(h, agent);
    await h.send(agentChanged(h, agent, 'retired'));
    expect(await runRow(h, runId)).toMatchObject({ outcome: 'cancelled', reasons: [{ code: 'agent_retired' }] });
    expect((await h.http('GET', `/v1/approvals/${approvalId}`, { key: financeLead })).body).toMatchObject({ status: 'withdrawn', decisionReason: 'the run ended cancelled' });
    expect(await h.http('POST', `/v1/approvals/${approvalId}/decision`, { key: financeLead, body: { decision: 'approve' } })).toMatchObject({ status: 409, body: { code: 'review_closed' } });
  });
});
