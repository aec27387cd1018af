import { randomUUID } from 'node:crypto';
import { EventTypes } from '@govmesh/contracts';
import { ServiceHarness } from '@govmesh/testing';
import { TELEMETRY_DATABASE } from './database';
import { TelemetryServiceModule } from './telemetry.module';

interface Timeline {
  runId: string;
  startedAt: string;
  next: number | null;
  events: Array<{ seq: number; type: string; topic: string; occurredAt: string; recordedAt: string; atMs: number; sincePreviousMs: number | null; summary: Record<string, unknown> }>;
}

describe('telemetry: a run\'s timeline, for an auditor or the run\'s own agent', () => {
  let h: ServiceHarness;
  let auditor: string;
  let ownAgent: string;
  let otherAgent: string;
  const runId = `r-${randomUUID()}`;
  const t0 = Date.parse('2026-11-21T10:00:00.000Z');
  const at = (ms: number) => new Date(t0 + ms).toISOString();

  beforeAll(async () => {
    h = await ServiceHarness.start({ modules: [TelemetryServiceModule], schemas: [TELEMETRY_DATABASE.schema] });
    auditor = await h.apiKey('auditor');
    ownAgent = await h.apiKey('agent', { agentId: 'invoice-exceptions-agent' });
    otherAgent = await h.apiKey('agent', { agentId: 'support-assistant' });
    const timed = <E extends { time?: string }>(event: E, ms: number): E => ({ ...event, time: at(ms) });
    await h.send(timed(h.event(EventTypes.IntentSubmitted, { intentId: runId, agentId: 'invoice-exceptions-agent', task: 'pay inv-1003', submittedAt: at(0) }), 0));
    await h.send(
      timed(
        h.event(EventTypes.IntentDecided, { runId, agentId: 'invoice-exceptions-agent', effect: 'allow', reasons: [{ code: 'permitted', message: 'ok' }], policyVersion: 'p1', intent: { intentId: runId, agentId: 'invoice-exceptions-agent', task: 'pay inv-1003' } }),
        40,
      ),
    );
    await h.send(timed(h.event(EventTypes.ActionDecided, { runId, stepId: 'pay#4', effect: 'require_approval', reasons: [{ code: 'require_approval_by_policy', message: 'finance-ops' }], policyVersion: 'p1', approvers: ['finance-ops'] }), 300));
    await h.send(timed(h.event(EventTypes.RunCompleted, { runId, agentId: 'invoice-exceptions-agent', outcome: 'verified', reasons: [{ code: 'verified', message: 'read back' }], result: {}, startedAt: at(0), completedAt: at(5300) }), 5300));
    await h.settle();
  });
  afterAll(async () => {
    await h?.close();
  });

  const timeline = (key: string | null, query = '', id = runId) => h.http<Timeline>('GET', `/v1/runs/${encodeURIComponent(id)}/timeline${query}`, { key });

  it('lists every event of the run in order with its timing and what it says', async () => {
    const res = await timeline(auditor);
    expect(res.status).toBe(200);
    expect(res.body.startedAt).toBe(at(0));
    expect(res.body.events.map((e) => [e.type, e.atMs, e.sincePreviousMs])).toEqual([
      [EventTypes.IntentSubmitted, 0, null],
      [EventTypes.IntentDecided, 40, 40],
      [EventTypes.ActionDecided, 300, 260],
      [EventTypes.RunCompleted, 5300, 5000],
    ]);
    expect(res.body.events[2].summary).toEqual({ stepId: 'pay#4', effect: 'require_approval', reason: 'require_approval_by_policy' });
    expect(res.body.events[3].summary).toMatchObject({ outcome: 'verified' });
    expect(JSON.stringify(res.body)).not.toContain('pay inv-1003');
    expect(res.body.next).toBeNull();
  });

  it('pages in ledger order with the same origin on every page', async () => {
    const first = await timeline(auditor, '?limit=3');
    expect(first.body.events).toHaveLength(3);
    expect(first.body.next).toBe(first.body.events[2].seq);
    const second = await timeline(auditor, `?limit=3&after=${first.body.next}`);
    expect(second.body.events.map((e) => [e.type, e.atMs])).toEqual([[EventTypes.RunCompleted, 5300]]);
    expect(second.body.next).toBeNull();
  });

  it('lets the run\'s own agent read it; any other agent, an operator, a reviewer or nobody may not', async () => {
    expect((await timeline(ownAgent)).status).toBe(200);
    expect(await timeline(otherAgent)).toMatchObject({ status: 404, body: { code: 'run_not_found' } });
    expect((await timeline(await h.apiKey('operator'))).status).toBe(403);
    expect((await timeline(await h.apiKey('reviewer', { groups: ['finance-ops'] }))).status).toBe(403);
    expect((await timeline(null)).status).toBe(401);
  });

  it('refuses a bad page and an unknown run with a code, never a 500', async () => {
    for (const query of ['?limit=0', '?limit=501', '?limit=abc', '?after=-1', '?after=1e3', `?after=${'9'.repeat(30)}`]) {
      expect({ query, res: await timeline(auditor, query) }).toMatchObject({ query, res: { status: 400, body: { code: 'invalid_query' } } });
    }
    expect(await timeline(auditor, '', 'no-such-run')).toMatchObject({ status: 404, body: { code: 'run_not_found' } });
    expect(await timeline(auditor, '', 'x'.repeat(300))).toMatchObject({ status: 404, body: { code: 'run_not_found' } });
    expect((await timeline(ownAgent, '', `no-such-${randomUUID()}`)).status).toBe(404);
  });
});
