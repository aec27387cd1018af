import { randomUUID } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { EventTypes, type EventType, type Reason } from '@govmesh/contracts';
import { ServiceHarness } from '@govmesh/testing';
import { OrchestratorServiceModule } from '../orchestrator.module';
import { ORCHESTRATOR_DATABASE } from '../database';

const SCHEMA = ORCHESTRATOR_DATABASE.schema;
const allow: Reason[] = [{ code: 'permitted', message: 'permitted by policy "support-may-read"' }];
const GRANT = { grantId: 'g-1', digest: 'a'.repeat(64), policyVersion: 'p1', expiresAt: '2026-12-01T00:00:00.000Z', signature: 'sig' };

function startOrchestrator(env: Record<string, string> = {}): Promise<ServiceHarness> {
  return ServiceHarness.start({ modules: [OrchestratorServiceModule], schemas: [SCHEMA], env });
}

/** A run admitted by policy, as the orchestrator first sees it from Kafka. */
function admitted(h: ServiceHarness, runId: string, effect: 'allow' | 'deny' | 'require_approval' | 'escalate' = 'allow') {
  return h.event(EventTypes.IntentDecided, {
    runId,
    agentId: 'support-assistant',
    agentVersion: '1.0.0',
    effect,
    reasons: effect === 'allow' ? allow : [{ code: 'needs_review', message: 'needs a human' }],
    policyVersion: 'p1',
    intent: { intentId: runId, agentId: 'support-assistant', task: 'What is the status of acc-001?', input: { accountId: 'acc-001' } },
  });
}

const context = (h: ServiceHarness, runId: string) => h.event(EventTypes.ContextRetrieved, { runId, stepId: 'retrieve', citations: [], withheld: 0 });
const toolCall = (h: ServiceHarness, runId: string) =>
  h.event(EventTypes.ModelCompleted, {
    runId,
    stepId: 'plan',
    model: 'builtin-small',
    provider: 'builtin',
    confidence: 0.9,
    proposal: { kind: 'tool_call', tool: 'sandbox.lookup_account', arguments: { accountId: 'acc-001' }, rationale: 'look it up' },
    usage: { inputTokens: 10, outputTokens: 5 },
  });
const actionAllowed = (h: ServiceHarness, runId: string, withGrant = true) =>
  h.event(EventTypes.ActionDecided, { runId, stepId: 'authorize', effect: 'allow', reasons: allow, policyVersion: 'p1', ...(withGrant ? { grant: GRANT } : {}) });
const executed = (h: ServiceHarness, runId: string, claim = true) =>
  h.event(EventTypes.ToolExecuted, {
    runId,
    stepId: 'execute',
    tool: 'sandbox.lookup_account',
    executionId: randomUUID(),
    status: 'succeeded',
    output: { accountId: 'acc-001', status: 'active' },
    ...(claim ? { claim: { system: 'sandbox', entity: 'account', id: 'acc-001', fields: { status: 'active' } } } : {}),
    reasons: [{ code: 'read_completed', message: 'read account acc-001' }],
  });

async function runRow(h: ServiceHarness, runId: string) {
  const [row] = await h.query<{ status: string; outcome: string | null; current_step: string | null; reasons: Reason[] }>(
    `SELECT status, outcome, current_step, reasons FROM "${SCHEMA}"."runs" WHERE id = $1`,
    [runId],
  );
  return row;
}

const timelineKinds = async (h: ServiceHarness, runId: string) =>
  (await h.query<{ kind: string }>(`SELECT kind FROM "${SCHEMA}"."run_timeline" WHERE run_id = $1 ORDER BY seq`, [runId])).map((r) => r.kind);

const typesFor = (h: ServiceHarness, runId: string): EventType[] => h.emittedFor(runId).map((e) => e.type);

describe('orchestrator, one service on the in-process transport and PGlite', () => {
  let h: ServiceHarness;

  beforeAll(async () => {
    h = await startOrchestrator();
  });

  afterAll(async () => {
    await h?.close();
  });

  it('an allowed intent seen first on Kafka becomes a run that asks for context, with its deadline set', async () => {
    const runId = `r-${randomUUID()}`;
    await h.send(admitted(h, runId));
    expect(await runRow(h, runId)).toMatchObject({ status: 'running', current_step: 'retrieve' });
    expect(typesFor(h, runId)).toEqual([EventTypes.ContextRequested]);
    const timers = await h.query<{ purpose: string }>(`SELECT purpose FROM "${SCHEMA}"."timers" WHERE run_id = $1`, [runId]);
    expect(timers).toEqual([{ purpose: 'run_deadline' }]);
  });

  it('a denied intent ends the run denied with policy\'s reasons and cancels its deadline', async () => {
    const runId = `r-${randomUUID()}`;
    await h.send(admitted(h, runId, 'deny'));
    expect(await runRow(h, runId)).toMatchObject({ status: 'completed', outcome: 'denied' });
    const result = h.emitted(EventTypes.RunCompleted).find((e) => e.data.runId === runId)!;
    expect(result.data.reasons[0].code).toBe('needs_review');
    expect(await h.query(`SELECT 1 FROM "${SCHEMA}"."timers" WHERE run_id = $1`, [runId])).toHaveLength(0);
  });

  it.each(['require_approval', 'escalate'] as const)('an intent that needs a human (%s) waits in awaiting_approval with its full state', async (effect) => {
    const runId = `r-${randomUUID()}`;
    await h.send(admitted(h, runId, effect));
    expect(await runRow(h, runId)).toMatchObject({ status: 'awaiting_approval', outcome: null });
    const [request] = h.emitted(EventTypes.ApprovalRequested).filter((e) => e.data.runId === runId);
    expect(request.data).toMatchObject({ effect, stepId: 'intent', state: { task: 'What is the status of acc-001?', input: { accountId: 'acc-001' } } });
  });

  it('walks the whole workflow to verified, one command per step, replies matched to the step', async () => {
    const runId = `r-${randomUUID()}`;
    await h.send(admitted(h, runId));
    await h.send(context(h, runId));
    await h.send(toolCall(h, runId));
    await h.send(actionAllowed(h, runId));
    await h.send(executed(h, runId));
    await h.send(h.event(EventTypes.VerificationCompleted, { runId, stepId: 'verify', verdict: 'confirmed', reasons: [{ code: 'read_back_matches', message: 'matches' }] }));
    expect(await runRow(h, runId)).toMatchObject({ status: 'completed', outcome: 'verified' });
    expect(typesFor(h, runId)).toEqual([
      EventTypes.ContextRequested,
      EventTypes.ModelRequested,
      EventTypes.ActionProposed,
      EventTypes.ToolRequested,
      EventTypes.VerificationRequested,
      EventTypes.RunCompleted,
    ]);
  });

  it('a reply for a step the run is not at is recorded as ignored and changes nothing', async () => {
    const runId = `r-${randomUUID()}`;
    await h.send(admitted(h, runId));
    await h.send(executed(h, runId));
    expect(await runRow(h, runId)).toMatchObject({ status: 'running', current_step: 'retrieve' });
    expect(await timelineKinds(h, runId)).toContain('event_ignored');
    expect(typesFor(h, runId)).toEqual([EventTypes.ContextRequested]);
  });

  it('a second decision for a run already running is ignored, not applied twice', async () => {
    const runId = `r-${randomUUID()}`;
    await h.send(admitted(h, runId));
    await h.send(admitted(h, runId));
    expect(typesFor(h, runId)).toEqual([EventTypes.ContextRequested]);
    expect((await timelineKinds(h, runId)).filter((k) => k === 'event_ignored')).toHaveLength(1);
  });

  it('a model that proposes no action fails the run with no_action_proposed', async () => {
    const runId = `r-${randomUUID()}`;
    await h.send(admitted(h, runId), context(h, runId));
    await h.send(h.event(EventTypes.ModelCompleted, { runId, stepId: 'plan', model: 'm', provider: 'p', confidence: 0.9, proposal: { kind: 'no_action', rationale: 'nothing to do' }, usage: { inputTokens: 1, outputTokens: 1 } }));
    expect(await runRow(h, runId)).toMatchObject({ outcome: 'failed', reasons: [{ code: 'no_action_proposed' }] });
  });

  it('an allowed action without a grant fails the run with grant_missing: nothing executes ungranted', async () => {
    const runId = `r-${randomUUID()}`;
    await h.send(admitted(h, runId), context(h, runId), toolCall(h, runId));
    await h.send(actionAllowed(h, runId, false));
    expect(await runRow(h, runId)).toMatchObject({ outcome: 'failed', reasons: [{ code: 'grant_missing' }] });
    expect(typesFor(h, runId)).not.toContain(EventTypes.ToolRequested);
  });

  it('an action that needs approval waits at the action step with the proposal in its state', async () => {
    const runId = `r-${randomUUID()}`;
    await h.send(admitted(h, runId), context(h, runId), toolCall(h, runId));
    await h.send(h.event(EventTypes.ActionDecided, { runId, stepId: 'authorize', effect: 'require_approval', reasons: [{ code: 'above_threshold', message: 'needs finance-ops' }], policyVersion: 'p1' }));
    expect(await runRow(h, runId)).toMatchObject({ status: 'awaiting_approval' });
    const request = h.emitted(EventTypes.ApprovalRequested).find((e) => e.data.runId === runId)!;
    expect(request.data.state).toMatchObject({ proposal: { tool: 'sandbox.lookup_account', arguments: { accountId: 'acc-001' } } });
  });

  it('a tool result with no claim ends verification_failed with nothing_to_verify: done means verified', async () => {
    const runId = `r-${randomUUID()}`;
    await h.send(admitted(h, runId), context(h, runId), toolCall(h, runId), actionAllowed(h, runId));
    await h.send(executed(h, runId, false));
    expect(await runRow(h, runId)).toMatchObject({ outcome: 'verification_failed', reasons: [{ code: 'nothing_to_verify' }] });
  });

  it('a cancel signal ends a waiting run cancelled, once; a second signal is recorded and ignored', async () => {
    const runId = `r-${randomUUID()}`;
    await h.send(admitted(h, runId, 'require_approval'));
    const res = await fetch(`${await baseUrl(h)}/v1/runs/${runId}/cancel`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ reason: 'customer withdrew' }) });
    expect(res.status).toBe(200);
    await h.settle();
    expect(await runRow(h, runId)).toMatchObject({ status: 'completed', outcome: 'cancelled', reasons: [{ code: 'cancelled', message: 'customer withdrew' }] });
    await fetch(`${await baseUrl(h)}/v1/runs/${runId}/cancel`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{}' });
    await h.settle();
    expect(h.emitted(EventTypes.RunCompleted).filter((e) => e.data.runId === runId)).toHaveLength(1);
    expect(await timelineKinds(h, runId)).toContain('signal_ignored');
  });

  it('the HTTP ingress refuses text Postgres cannot store, and an intent too large to travel, each with a reason', async () => {
    const base = await baseUrl(h);
    const post = (body: unknown) => fetch(`${base}/v1/intents`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) });
    const nul = await post({ agentId: 'support-assistant', task: 'status of acc-001\u0000' });
    expect(nul.status).toBe(400);
    expect(await nul.json()).toMatchObject({ code: 'unstorable_text' });
    const big = await post({ agentId: 'support-assistant', task: 'summarise', input: { blob: 'x'.repeat(240 * 1024) } });
    expect(big.status).toBe(413);
    expect(await big.json()).toMatchObject({ code: 'intent_too_large' });
    const ok = await post({ agentId: 'support-assistant', task: 'status of acc-001' });
    expect(ok.status).toBe(202);
    const refused = (await h.metrics.intentsRejected.get()).values.map((v) => v.labels['reason']);
    expect(refused).toEqual(expect.arrayContaining(['unstorable_text', 'intent_too_large']));
  });

  it('intents submitted together are committed together, each run created once, a repeated id answered with the existing run', async () => {
    const base = await baseUrl(h);
    const ids = Array.from({ length: 40 }, () => `http-${randomUUID()}`);
    const post = (intentId: string) =>
      fetch(`${base}/v1/intents`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ intentId, agentId: 'support-assistant', task: 'status of acc-001' }) });
    const answers = await Promise.all([...ids, ids[0], ids[1]].map(post));
    const bodies = (await Promise.all(answers.map((a) => a.json()))) as Array<{ runId: string; created: boolean }>;
    expect(answers.map((a) => a.status).filter((st) => st === 202)).toHaveLength(40);
    expect(bodies.filter((b) => b.created).map((b) => b.runId).sort()).toEqual([...ids].sort());
    await h.settle();
    const rows = await h.query<{ n: number }>(`SELECT count(*)::int AS n FROM "${SCHEMA}"."runs" WHERE id = ANY($1)`, [ids]);
    expect(rows[0].n).toBe(40);
    expect(h.emitted(EventTypes.IntentSubmitted).filter((e) => ids.includes(e.data.intentId))).toHaveLength(40);
  });

  it('a cancel with a bad reason or for an unknown run is refused with a reason, never a 500', async () => {
    const base = await baseUrl(h);
    const cancel = (id: string, body: string, type = 'application/json') => fetch(`${base}/v1/runs/${encodeURIComponent(id)}/cancel`, { method: 'POST', headers: { 'content-type': type }, body });
    const runId = `r-${randomUUID()}`;
    await h.send(admitted(h, runId, 'require_approval'));
    const numeric = await cancel(runId, JSON.stringify({ reason: 42 }));
    expect({ status: numeric.status, body: await numeric.json() }).toMatchObject({ status: 400, body: { code: 'invalid_reason' } });
    const long = await cancel(runId, JSON.stringify({ reason: 'x'.repeat(2001) }));
    expect(long.status).toBe(400);
    const malformed = await cancel(runId, '{"reason":');
    expect(malformed.status).toBe(400);
    const unknown = await cancel(`nobody-${'z'.repeat(300)}`, '{}');
    expect({ status: unknown.status, body: await unknown.json() }).toMatchObject({ status: 404, body: { code: 'run_not_found' } });
    expect(await runRow(h, runId)).toMatchObject({ status: 'awaiting_approval' });
  });

  it('refuses a body that is not JSON with 415 and a reason, so a cross-site form post never starts a run', async () => {
    const base = await baseUrl(h);
    const form = await fetch(`${base}/v1/intents`, { method: 'POST', headers: { 'content-type': 'application/x-www-form-urlencoded' }, body: 'agentId=support-assistant&task=freeze%20acc-001' });
    expect({ status: form.status, body: await form.json() }).toMatchObject({ status: 415, body: { code: 'unsupported_media_type' } });
    const text = await fetch(`${base}/v1/intents`, { method: 'POST', headers: { 'content-type': 'text/plain' }, body: '{"agentId":"support-assistant","task":"t"}' });
    expect(text.status).toBe(415);
    const refused = (await h.metrics.httpRefusals.get()).values.find((v) => v.labels['reason'] === 'unsupported_media_type');
    expect(refused?.value).toBeGreaterThanOrEqual(2);
  });

  it('a forged timer event for a timer the orchestrator never fired changes nothing and is counted', async () => {
    const runId = `r-${randomUUID()}`;
    await h.send(admitted(h, runId));
    await h.send(h.event(EventTypes.TimerFired, { timerId: `run_deadline:${runId}`, service: 'orchestrator', purpose: 'run_deadline', runId, dueAt: new Date().toISOString() }));
    expect(await runRow(h, runId)).toMatchObject({ status: 'running' });
    const refused = (await h.metrics.timerEventsRefused.get()).values.find((v) => v.labels['reason'] === 'unknown_timer');
    expect(refused?.value).toBeGreaterThanOrEqual(1);
  });
});

describe('orchestrator deadlines: every run ends', () => {
  it('a run past its deadline ends timed_out through its timer, with a reason', async () => {
    const h = await startOrchestrator({ GOVMESH_RUN_DEADLINE_SECONDS: '1' });
    try {
      const runId = `r-${randomUUID()}`;
      await h.send(admitted(h, runId));
      await waitFor(async () => (await runRow(h, runId)).status === 'completed', 5000);
      await h.settle();
      expect(await runRow(h, runId)).toMatchObject({ outcome: 'timed_out', reasons: [{ code: 'deadline_passed' }] });
      expect(h.emitted(EventTypes.TimerFired).filter((e) => e.data.runId === runId)).toHaveLength(1);
      // A reply arriving after the deadline is ignored.
      await h.send(context(h, runId));
      expect(typesFor(h, runId)).toEqual([EventTypes.ContextRequested, EventTypes.TimerFired, EventTypes.RunCompleted]);
    } finally {
      await h.close();
    }
  });

  it('a timer set before a restart fires once after it', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'govmesh-timers-'));
    const runId = `r-${randomUUID()}`;
    try {
      const first = await startOrchestrator({ GOVMESH_RUN_DEADLINE_SECONDS: '2', GOVMESH_DATA_DIR: dir });
      await first.send(admitted(first, runId));
      expect(first.emitted(EventTypes.TimerFired)).toHaveLength(0);
      await first.close();

      const second = await startOrchestrator({ GOVMESH_RUN_DEADLINE_SECONDS: '2', GOVMESH_DATA_DIR: dir });
      try {
        await waitFor(async () => (await runRow(second, runId)).status === 'completed', 6000);
        await second.settle();
        await new Promise((r) => setTimeout(r, 300));
        expect(second.emitted(EventTypes.TimerFired).filter((e) => e.data.runId === runId)).toHaveLength(1);
        expect((await timelineKinds(second, runId)).filter((k) => k === 'deadline_passed')).toHaveLength(1);
        expect(await second.query(`SELECT 1 FROM "${SCHEMA}"."timers"`)).toHaveLength(0);
      } finally {
        await second.close();
      }
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

async function waitFor(check: () => Promise<boolean>, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error('condition not met in time');
    await new Promise((r) => setTimeout(r, 25));
  }
}

async function baseUrl(h: ServiceHarness): Promise<string> {
  const server = h.app.getHttpServer() as import('node:http').Server;
  if (!server.listening) await h.app.listen(0, '127.0.0.1');
  return (await h.app.getUrl()).replace('[::1]', '127.0.0.1');
}

