import { randomUUID } from 'node:crypto';
import { EventTypes, type GovmeshEvent, type RunOutcome } from '@govmesh/contracts';
import { ServiceBus } from '@govmesh/nest-runtime';
import { ServiceHarness } from '@govmesh/testing';
import { TELEMETRY_DATABASE } from '../database';
import { TelemetryServiceModule } from '../telemetry.module';

const MIN_RUNS = 5;
const actor = { kind: 'system' as const, id: 'system' };
const grant = (runId: string, stepId: string, agentId: string) => ({
  grantId: 'g-1',
  digest: 'a'.repeat(64),
  runId,
  stepId,
  agentId,
  agentVersion: '1',
  policyVersion: 'p1',
  issuedAt: new Date().toISOString(),
  expiresAt: new Date(Date.now() + 30_000).toISOString(),
  keyId: '0'.repeat(16),
  signature: 'A'.repeat(86),
});

describe('telemetry: behaviour baselines per agent and outcome KPIs per workflow', () => {
  let h: ServiceHarness;
  let auditor: string;

  beforeAll(async () => {
    h = await ServiceHarness.start({ modules: [TelemetryServiceModule], schemas: [TELEMETRY_DATABASE.schema], env: { GOVMESH_BASELINE_MIN_RUNS: String(MIN_RUNS) } });
    auditor = await h.apiKey('auditor');
  });
  afterAll(async () => {
    await h?.close();
  });

  const toolCall = (runId: string, agentId: string, tool: string, stepId = 'act#1') => h.event(EventTypes.ToolRequested, { runId, stepId, agentId, tool, arguments: {}, grant: grant(runId, stepId, agentId) });
  const modelCall = (runId: string, tokens: number) =>
    h.event(EventTypes.ModelCompleted, { runId, stepId: 'plan#1', model: 'builtin-small', provider: 'builtin', confidence: 0.9, proposal: { kind: 'no_action', rationale: 'ok' }, usage: { inputTokens: tokens - 100, outputTokens: 100 } });
  const completed = (runId: string, agentId: string, outcome: RunOutcome = 'verified', startedMsAgo = 60_000, endedMsAgo = 0) =>
    h.event(EventTypes.RunCompleted, { runId, agentId, outcome, reasons: [{ code: outcome, message: 'done' }], startedAt: new Date(Date.now() - startedMsAgo).toISOString(), completedAt: new Date(Date.now() - endedMsAgo).toISOString() });
  const submitted = (runId: string, agentId: string, workflow?: string) => h.event(EventTypes.IntentSubmitted, { intentId: runId, agentId, task: 'look up a ticket', ...(workflow ? { workflow } : {}) });

  /** A usual run of an agent: submitted, one model call, one call of each tool, completed. */
  async function usualRun(agentId: string, tools: string[], tokens = 1000): Promise<string> {
    const runId = `r-${randomUUID()}`;
    const events: GovmeshEvent[] = [submitted(runId, agentId), modelCall(runId, tokens), ...tools.map((tool, i) => toolCall(runId, agentId, tool, `act#${i + 1}`)), completed(runId, agentId)];
    await h.send(...events);
    return runId;
  }

  const flagged = (agentId: string) => h.emitted(EventTypes.BehaviourFlagged).filter((e) => e.data.agentId === agentId);
  const anomalies = async (agent: string, kind: string) => (await h.metrics.behaviourAnomalies.get()).values.find((v) => v.labels['agent'] === agent && v.labels['kind'] === kind)?.value ?? 0;

  it('raises nothing while an agent warms up, however new its tools', async () => {
    for (let i = 0; i < MIN_RUNS - 1; i++) await usualRun('warming-agent', ['tickets.lookup']);
    const runId = `r-${randomUUID()}`;
    await h.send(submitted(runId, 'warming-agent'), toolCall(runId, 'warming-agent', 'mail.send_external'), modelCall(runId, 90_000), completed(runId, 'warming-agent'));
    expect(flagged('warming-agent')).toEqual([]);
    expect(await anomalies('warming-agent', 'first_seen_tool')).toBe(0);
  });

  it('flags a tool an agent never used after its warm-up: one event, one count, one line on the run\'s timeline', async () => {
    for (let i = 0; i < MIN_RUNS; i++) await usualRun('steady-agent', ['tickets.lookup']);
    expect(flagged('steady-agent')).toEqual([]);
    const runId = `r-${randomUUID()}`;
    await h.send(submitted(runId, 'steady-agent'), toolCall(runId, 'steady-agent', 'tickets.lookup', 'look#1'), toolCall(runId, 'steady-agent', 'mail.send_external', 'send#1'));
    await h.send(toolCall(runId, 'steady-agent', 'mail.send_external', 'send#2'));
    const [alert, ...more] = flagged('steady-agent');
    expect(more).toEqual([]);
    expect(alert.data).toMatchObject({ runId, agentId: 'steady-agent', kind: 'first_seen_tool', subject: 'mail.send_external', tool: 'mail.send_external', stepId: 'send#1', baselineRuns: MIN_RUNS, windowDays: 30 });
    expect(alert.subject).toBe(runId);
    expect(alert.data.reasons[0].code).toBe('first_seen_tool');
    expect(await anomalies('steady-agent', 'first_seen_tool')).toBe(1);

    const timeline = await h.http<{ events: Array<{ type: string; summary: Record<string, unknown> }> }>('GET', `/v1/runs/${runId}/timeline`, { key: auditor });
    const lines = timeline.body.events.filter((e) => e.type === EventTypes.BehaviourFlagged);
    expect(lines).toHaveLength(1);
    expect(lines[0].summary).toMatchObject({ stepId: 'send#1', tool: 'mail.send_external', reason: 'first_seen_tool' });

    const baseline = await h.http<{ warmedUp: boolean; tools: Array<{ tool: string; calls: number }>; alerts: Array<{ kind: string; subject: string; runId: string }> }>('GET', '/v1/agents/steady-agent/baseline', { key: auditor });
    expect(baseline.status).toBe(200);
    expect(baseline.body.warmedUp).toBe(true);
    expect(baseline.body.tools).toEqual([expect.objectContaining({ tool: 'tickets.lookup', calls: MIN_RUNS + 1 }), expect.objectContaining({ tool: 'mail.send_external', calls: 2 })]);
    expect(baseline.body.alerts).toEqual([expect.objectContaining({ kind: 'first_seen_tool', subject: 'mail.send_external', runId })]);
  });

  it('flags a call that reaches an egress destination the agent never reached, learned from the registry', async () => {
    const connection = (connectionId: string, endpoint: string) =>
      h.event(EventTypes.ConnectionChanged, { connectionId, change: 'created', connection: { kind: 'http', endpoint, authMethod: 'none', status: 'active', version: 1 }, actor });
    const tool = (connectionId: string, version: string) =>
      h.event(EventTypes.ToolRegistered, {
        name: 'billing.get_invoice',
        change: 'registered',
        status: 'active',
        manifest: { name: 'billing.get_invoice', version, description: 'Read one invoice', inputSchema: { type: 'object' }, sideEffect: 'read', classification: 'internal', idempotent: true, operation: { connector: 'http', method: 'GET', path: '/invoices' }, connection: connectionId },
        actor,
      });
    await h.send(connection('billing', 'https://billing.example.com/api'), tool('billing', '1.0.0'));
    for (let i = 0; i < MIN_RUNS; i++) await usualRun('billing-agent', ['billing.get_invoice']);
    expect(flagged('billing-agent')).toEqual([]);

    await h.send(connection('billing-eu', 'https://eu.billing.example.net:8443/api'), tool('billing-eu', '1.1.0'));
    const runId = `r-${randomUUID()}`;
    await h.send(submitted(runId, 'billing-agent'), toolCall(runId, 'billing-agent', 'billing.get_invoice'));
    expect(flagged('billing-agent').map((e) => e.data)).toEqual([
      expect.objectContaining({ runId, kind: 'unseen_egress', subject: 'eu.billing.example.net:8443', tool: 'billing.get_invoice' }),
    ]);
    expect(await anomalies('billing-agent', 'unseen_egress')).toBe(1);
  });

  it('flags a run costing far more than the agent\'s usual runs, and not a usual one', async () => {
    for (const tokens of [950, 1000, 1050, 980, 1020, 1000]) await usualRun('costly-agent', ['tickets.lookup'], tokens);
    await usualRun('costly-agent', ['tickets.lookup'], 1100);
    expect(flagged('costly-agent')).toEqual([]);
    const runId = await usualRun('costly-agent', ['tickets.lookup'], 5000);
    expect(flagged('costly-agent').map((e) => e.data)).toEqual([expect.objectContaining({ runId, kind: 'cost_outlier', subject: 'cost', observed: 5000, baselineRuns: 7 })]);
    const [alert] = flagged('costly-agent');
    expect(alert.data.threshold).toBeLessThan(5000);
    expect(alert.data.expected).toBeCloseTo(1014.286, 2);
    expect(await anomalies('costly-agent', 'cost_outlier')).toBe(1);
  });

  it('counts the tokens of a call escalated from the small model in the run\'s cost', async () => {
    for (const tokens of [950, 1000, 1050, 980, 1020, 1000, 1100]) await usualRun('escalating-agent', ['tickets.lookup'], tokens);
    const runId = `r-${randomUUID()}`;
    const escalated = h.event(EventTypes.ModelCompleted, {
      runId,
      stepId: 'plan#1',
      model: 'builtin-large',
      provider: 'builtin',
      confidence: 0.9,
      proposal: { kind: 'no_action', rationale: 'ok' },
      usage: { inputTokens: 900, outputTokens: 100 },
      escalatedFrom: { model: 'builtin-small', provider: 'builtin', confidence: 0.2, usage: { inputTokens: 3900, outputTokens: 100 } },
    });
    await h.send(submitted(runId, 'escalating-agent'), escalated, completed(runId, 'escalating-agent'));
    expect(flagged('escalating-agent').map((e) => e.data)).toEqual([expect.objectContaining({ runId, kind: 'cost_outlier', observed: 5000 })]);
  });

  it('computes a workflow\'s KPIs from its cases: outcomes, cycle time, overrides and escalations', async () => {
    const workflow = 'invoice-exception';
    const reviewer = { id: 'key:reviewer', groups: ['finance-ops'] };
    const cases: Array<{ outcome: RunOutcome; seconds: number; escalated?: boolean; decision?: 'rejected' | 'taken_over' | 'approved' }> = [
      { outcome: 'verified', seconds: 60 },
      { outcome: 'verified', seconds: 120, escalated: true, decision: 'approved' },
      { outcome: 'rejected', seconds: 300, decision: 'rejected' },
      { outcome: 'succeeded', seconds: 600, escalated: true, decision: 'taken_over' },
    ];
    for (const c of cases) {
      const runId = `r-${randomUUID()}`;
      const events: GovmeshEvent[] = [submitted(runId, 'invoice-agent', workflow)];
      if (c.escalated) events.push(h.event(EventTypes.ApprovalRequested, { runId, stepId: 'pay#1', agentId: 'invoice-agent', effect: 'edge_case', kind: 'escalation', reasons: [{ code: 'tool_failed', message: 'failed' }], state: {}, approvalId: `a-${runId}` }));
      if (c.decision) events.push(h.event(EventTypes.ApprovalDecided, { runId, stepId: 'pay#1', approvalId: `a-${runId}`, kind: c.escalated ? 'escalation' : 'approval', decision: c.decision, reviewer }));
      events.push(completed(runId, 'invoice-agent', c.outcome, c.seconds * 1000 + 5000, 5000));
      await h.send(...events);
    }
    // Another workflow's case does not count.
    const other = `r-${randomUUID()}`;
    await h.send(submitted(other, 'invoice-agent', 'contract-renewal'), completed(other, 'invoice-agent'));

    const res = await h.http<Record<string, unknown>>('GET', `/v1/workflows/${workflow}/kpis?window=1d`, { key: auditor });
    expect(res.status).toBe(200);
    expect(res.body).toMatchObject({
      workflowId: workflow,
      window: '1d',
      casesCompleted: 4,
      byOutcome: { verified: 2, rejected: 1, succeeded: 1 },
      cycleTimeSeconds: { mean: 270, p50: 210, max: 600 },
      overrides: 2,
      overrideRate: 0.5,
      escalations: 2,
      escalationRate: 0.5,
    });
    const value = async (metric: { get(): Promise<{ values: Array<{ labels: Record<string, unknown>; value: number }> }> }, labels: Record<string, string>) =>
      (await metric.get()).values.find((v) => Object.entries(labels).every(([k, l]) => v.labels[k] === l))?.value;
    expect(await value(h.metrics.workflowCases, { workflow, outcome: 'verified' })).toBe(2);
    expect(await value(h.metrics.workflowCases, { workflow, outcome: 'rejected' })).toBe(1);
    expect(await value(h.metrics.workflowOverrides, { workflow })).toBe(2);
    expect(await value(h.metrics.workflowEscalations, { workflow })).toBe(2);
    expect(await h.metrics.registry.getSingleMetricAsString('govmesh_workflow_cycle_time_seconds')).toContain(`govmesh_workflow_cycle_time_seconds_count{service="telemetry",workflow="${workflow}"} 4`);
    const none = await h.http<Record<string, unknown>>('GET', '/v1/workflows/no-such-flow/kpis', { key: auditor });
    expect(none).toMatchObject({ status: 200, body: { casesCompleted: 0, overrideRate: null, window: '7d' } });
  });

  it('refuses the baseline and KPI APIs without a credential, for the wrong role and with malformed input, never a 500', async () => {
    const reviewer = await h.apiKey('reviewer', { groups: ['finance-ops'] });
    const agent = await h.apiKey('agent', { agentId: 'steady-agent' });
    for (const path of ['/v1/agents/steady-agent/baseline', '/v1/workflows/invoice-exception/kpis']) {
      expect({ path, status: (await h.http('GET', path, { key: null })).status }).toEqual({ path, status: 401 });
      expect({ path, status: (await h.http('GET', path, { key: reviewer })).status }).toEqual({ path, status: 403 });
      expect({ path, status: (await h.http('GET', path, { key: agent })).status }).toEqual({ path, status: 403 });
      expect({ path, status: (await h.http('GET', path, { key: await h.apiKey('operator') })).status }).toEqual({ path, status: 200 });
    }
    expect(await h.http('GET', `/v1/agents/${encodeURIComponent('-no/such')}/baseline`, { key: auditor })).toMatchObject({ status: 400, body: { code: 'invalid_agent_id' } });
    expect(await h.http('GET', `/v1/agents/${'a'.repeat(129)}/baseline`, { key: auditor })).toMatchObject({ status: 400, body: { code: 'invalid_agent_id' } });
    expect(await h.http('GET', '/v1/agents/never-seen-agent/baseline', { key: auditor })).toMatchObject({ status: 404, body: { code: 'baseline_not_found' } });
    for (const window of ['0d', '91d', 'abc', '7w', '1.5d']) {
      expect({ window, res: await h.http('GET', `/v1/workflows/invoice-exception/kpis?window=${encodeURIComponent(window)}`, { key: auditor }) }).toMatchObject({ window, res: { status: 400, body: { code: 'invalid_query' } } });
    }
    expect(await h.http('GET', '/v1/workflows/Bad_Id/kpis', { key: auditor })).toMatchObject({ status: 400, body: { code: 'invalid_workflow_id' } });

    const operator = await h.apiKey('operator');
    const ack = (body: unknown, key = operator, agentId = 'steady-agent') => h.http('POST', `/v1/agents/${agentId}/baseline/acknowledge`, { key, body });
    expect((await ack({ kind: 'first_seen_tool', subject: 'mail.send_external' }, auditor)).status).toBe(403);
    expect(await ack({ kind: 'bored', subject: 'x' })).toMatchObject({ status: 400, body: { code: 'invalid_acknowledgement' } });
    expect(await ack({ kind: 'first_seen_tool', subject: 'x', extra: 1 })).toMatchObject({ status: 400, body: { code: 'invalid_acknowledgement' } });
    expect(await ack({ kind: 'first_seen_tool', subject: 'tickets.lookup' })).toMatchObject({ status: 404, body: { code: 'alert_not_found' } });
    expect(await ack({ kind: 'first_seen_tool', subject: 'mail.send_external' })).toMatchObject({ status: 200, body: { acknowledged: true } });
  });

  it('prunes old inbox ids, dead letters and baseline state in batches, and never the audit ledger', async () => {
    const S = TELEMETRY_DATABASE.schema;
    const old = new Date(Date.now() - 400 * 86_400_000).toISOString();
    await h.query(`INSERT INTO "${S}"."inbox" (event_id, topic, received_at) SELECT 'old-' || g, 'govmesh.intents', $1 FROM generate_series(1, 1500) g`, [old]);
    await h.query(`INSERT INTO "${S}"."inbox" (event_id, topic) VALUES ('fresh-1', 'govmesh.intents')`);
    const letter = (id: string, at: string) =>
      h.query(
        `INSERT INTO "${S}"."dead_letters" (id, reason_code, reason, original_topic, original_partition, original_offset, consumer_group, message_key, headers, value, value_encoding, failed_at, recorded_at)
         VALUES ($1, 'malformed_json', 'bad', 'govmesh.intents', 0, '1', 'g', NULL, '{}', 'x', 'utf8', NULL, $2)`,
        [id, at],
      );
    await letter('dlq-old', old);
    await letter('dlq-new', new Date().toISOString());
    const oldRun = `r-${randomUUID()}`;
    await h.query(`INSERT INTO "${S}"."run_profiles" (run_id, agent_id, first_seen_at, completed_at) VALUES ($1, 'gone-agent', $2, $2)`, [oldRun, old]);
    const count = async (sql: string) => Number((await h.query<{ n: string }>(sql))[0].n);
    const ledgerBefore = await count(`SELECT count(*) AS n FROM "${S}"."audit_records"`);
    expect(ledgerBefore).toBeGreaterThan(0);

    const deleted = await h.app.get(ServiceBus, { strict: false }).retention.runOnce();
    expect(deleted).toMatchObject({ inbox: 1500, dead_letters: 1, run_profiles: 1 });
    expect(await count(`SELECT count(*) AS n FROM "${S}"."inbox" WHERE event_id LIKE 'old-%'`)).toBe(0);
    expect(await count(`SELECT count(*) AS n FROM "${S}"."inbox" WHERE event_id = 'fresh-1'`)).toBe(1);
    expect(await count(`SELECT count(*) AS n FROM "${S}"."inbox"`)).toBeGreaterThan(1);
    expect((await h.query<{ id: string }>(`SELECT id FROM "${S}"."dead_letters" WHERE id LIKE 'dlq-%'`)).map((r) => r.id)).toEqual(['dlq-new']);
    expect(await count(`SELECT count(*) AS n FROM "${S}"."run_profiles" WHERE run_id = '${oldRun}'`)).toBe(0);
    expect(await count(`SELECT count(*) AS n FROM "${S}"."run_profiles" WHERE agent_id = 'steady-agent'`)).toBe(MIN_RUNS + 1);
    expect(await count(`SELECT count(*) AS n FROM "${S}"."audit_records"`)).toBe(ledgerBefore);
    expect((await h.http<{ ok?: boolean; intact?: boolean }>('GET', '/v1/audit/verify', { key: auditor })).status).toBe(200);
    const counted = (await h.metrics.retentionDeleted.get()).values.find((v) => v.labels['store'] === 'inbox' && v.labels['service'] === 'telemetry')?.value;
    expect(counted).toBe(1500);
  });
});
