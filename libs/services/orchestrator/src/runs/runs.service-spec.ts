import { randomUUID } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { EventTypes, type EventType, type Reason } from '@govmesh/contracts';
import { ApiKeyStore, ServiceKeys } from '@govmesh/nest-runtime';
import { generateKeyPair, signIntent, verifyIntentSignature } from '@govmesh/signing';
import { ServiceHarness } from '@govmesh/testing';
import { OrchestratorServiceModule } from '../orchestrator.module';
import { ORCHESTRATOR_DATABASE } from '../database';
import { contextRetrieved, lookupAllowed, lookupExecuted, lookupProposed } from './run-events.fixtures';

const SCHEMA = ORCHESTRATOR_DATABASE.schema;
const allow: Reason[] = [{ code: 'permitted', message: 'permitted by policy "support-may-read"' }];
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

const context = (h: ServiceHarness, runId: string) => contextRetrieved(h, runId);
const toolCall = lookupProposed;
const actionAllowed = (h: ServiceHarness, runId: string, withGrant = true) => lookupAllowed(h, runId, 'support-assistant', withGrant);
const executed = lookupExecuted;

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
    expect(timers.map((t) => t.purpose).sort()).toEqual(['run_deadline', 'step_timeout']);
    const [step] = await h.query<{ id: string; step_id: string; status: string }>(`SELECT id, step_id, status FROM "${SCHEMA}"."run_steps" WHERE run_id = $1`, [runId]);
    expect(step).toEqual({ id: 'retrieve#1', step_id: 'retrieve', status: 'running' });
  });

  it('a denied intent ends the run denied with policy\'s reasons and cancels its deadline', async () => {
    const runId = `r-${randomUUID()}`;
    await h.send(admitted(h, runId, 'deny'));
    expect(await runRow(h, runId)).toMatchObject({ status: 'completed', outcome: 'denied' });
    const result = h.emitted(EventTypes.RunCompleted).find((e) => e.data.runId === runId)!;
    expect(result.data.reasons[0].code).toBe('needs_review');
    expect(await h.query(`SELECT 1 FROM "${SCHEMA}"."timers" WHERE run_id = $1`, [runId])).toHaveLength(0);
  });

  it.each([
    ['require_approval', 'awaiting_approval'],
    ['escalate', 'escalated'],
  ] as const)('an intent that needs a human (%s) waits %s with its full state', async (effect, status) => {
    const runId = `r-${randomUUID()}`;
    await h.send(admitted(h, runId, effect));
    expect(await runRow(h, runId)).toMatchObject({ status, outcome: null });
    const [request] = h.emitted(EventTypes.ApprovalRequested).filter((e) => e.data.runId === runId);
    expect(request.data).toMatchObject({ effect, stepId: 'intent', state: { task: 'What is the status of acc-001?', input: { accountId: 'acc-001' } } });
  });

  it('walks the whole workflow to verified, one command per step, replies matched to the step', async () => {
    const runId = `r-${randomUUID()}`;
    await h.send(admitted(h, runId));
    await h.send(context(h, runId));
    await h.send(toolCall(h, runId));
    await h.send(actionAllowed(h, runId));
    const execution = executed(h, runId);
    await h.send(execution);
    // The verifier is told which call made the claim: the tool's verification checks read from it.
    const [verify] = h.emitted(EventTypes.VerificationRequested).filter((e) => e.data.runId === runId);
    expect(verify.data).toEqual({
      runId,
      stepId: 'verify#4',
      claim: execution.data.claim,
      tool: 'sandbox.lookup_account',
      executionId: execution.data.executionId,
      arguments: { accountId: 'acc-001' },
      output: execution.data.output,
    });
    await h.send(h.event(EventTypes.VerificationCompleted, { runId, stepId: 'verify#4', verdict: 'confirmed', reasons: [{ code: 'read_back_matches', message: 'matches' }] }));
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
    expect(await timelineKinds(h, runId)).toContain('reply_ignored');
    expect(typesFor(h, runId)).toEqual([EventTypes.ContextRequested]);
  });

  it('a second decision for a run already running is ignored, not applied twice', async () => {
    const runId = `r-${randomUUID()}`;
    await h.send(admitted(h, runId));
    await h.send(admitted(h, runId));
    expect(typesFor(h, runId)).toEqual([EventTypes.ContextRequested]);
    expect((await timelineKinds(h, runId)).filter((k) => k === 'input_ignored')).toHaveLength(1);
  });

  it('a model that proposes no action fails the run with no_action_proposed', async () => {
    const runId = `r-${randomUUID()}`;
    await h.send(admitted(h, runId), context(h, runId));
    await h.send(h.event(EventTypes.ModelCompleted, { runId, stepId: 'plan#2', model: 'm', provider: 'p', confidence: 0.9, proposal: { kind: 'no_action', rationale: 'nothing to do' }, usage: { inputTokens: 1, outputTokens: 1 } }));
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
    await h.send(h.event(EventTypes.ActionDecided, { runId, stepId: 'act#3', effect: 'require_approval', reasons: [{ code: 'above_threshold', message: 'needs finance-ops' }], policyVersion: 'p1' }));
    expect(await runRow(h, runId)).toMatchObject({ status: 'awaiting_approval' });
    const request = h.emitted(EventTypes.ApprovalRequested).find((e) => e.data.runId === runId)!;
    expect(request.data.state).toMatchObject({ proposedAction: { tool: 'sandbox.lookup_account', arguments: { accountId: 'acc-001' }, digest: expect.stringMatching(/^[a-f0-9]{64}$/) } });
    expect(request.data).toMatchObject({ kind: 'approval', stepId: 'act#3', digest: request.data.state['proposedAction'] && (request.data.state['proposedAction'] as { digest: string }).digest });
  });

  it('a tool result with no claim ends verification_failed with nothing_to_verify: done means verified', async () => {
    const runId = `r-${randomUUID()}`;
    await h.send(admitted(h, runId), context(h, runId), toolCall(h, runId), actionAllowed(h, runId));
    await h.send(executed(h, runId, false));
    expect(await runRow(h, runId)).toMatchObject({ outcome: 'verification_failed', reasons: [{ code: 'nothing_to_verify' }] });
    const steps = await h.query<{ id: string; status: string }>(`SELECT id, status FROM "${SCHEMA}"."run_steps" WHERE run_id = $1 ORDER BY id`, [runId]);
    expect(steps).toEqual([
      { id: 'act#3', status: 'succeeded' },
      { id: 'plan#2', status: 'succeeded' },
      { id: 'retrieve#1', status: 'succeeded' },
      { id: 'verify#4', status: 'cancelled' },
    ]);
  });

  it('a cancel signal ends a waiting run cancelled, once; a second signal is recorded and ignored', async () => {
    const runId = `r-${randomUUID()}`;
    await h.send(admitted(h, runId, 'require_approval'));
    const res = await h.http('POST', `/v1/runs/${runId}/cancel`, { body: { reason: 'customer withdrew' } });
    expect(res.status).toBe(200);
    await h.settle();
    expect(await runRow(h, runId)).toMatchObject({ status: 'completed', outcome: 'cancelled', reasons: [{ code: 'cancelled', message: expect.stringMatching(/^customer withdrew — by /) }] });
    await h.http('POST', `/v1/runs/${runId}/cancel`, { body: {} });
    await h.settle();
    expect(h.emitted(EventTypes.RunCompleted).filter((e) => e.data.runId === runId)).toHaveLength(1);
    expect(await timelineKinds(h, runId)).toContain('input_ignored');
  });

  it('the HTTP ingress refuses text Postgres cannot store, and an intent too large to travel, each with a reason', async () => {
    const key = await h.apiKey('agent', { agentId: 'support-assistant' });
    const post = (body: unknown) => h.http('POST', '/v1/intents', { key, body });
    expect(await post({ agentId: 'support-assistant', task: 'status of acc-001\u0000' })).toMatchObject({ status: 400, body: { code: 'unstorable_text' } });
    expect(await post({ agentId: 'support-assistant', task: 'summarise', input: { blob: 'x'.repeat(240 * 1024) } })).toMatchObject({ status: 413, body: { code: 'intent_too_large' } });
    expect((await post({ agentId: 'support-assistant', task: 'status of acc-001' })).status).toBe(202);
    const refused = (await h.metrics.intentsRejected.get()).values.map((v) => v.labels['reason']);
    expect(refused).toEqual(expect.arrayContaining(['unstorable_text', 'intent_too_large']));
  });

  it('intents submitted together are committed together, each run created once, a repeated id answered with the existing run', async () => {
    const key = await h.apiKey('agent', { agentId: 'support-assistant' });
    const ids = Array.from({ length: 40 }, () => `http-${randomUUID()}`);
    const post = (intentId: string) => h.http<{ runId: string; created: boolean }>('POST', '/v1/intents', { key, body: { intentId, agentId: 'support-assistant', task: 'status of acc-001' } });
    const answers = await Promise.all([...ids, ids[0], ids[1]].map(post));
    const bodies = answers.map((a) => a.body);
    expect(answers.map((a) => a.status).filter((st) => st === 202)).toHaveLength(40);
    expect(bodies.filter((b) => b.created).map((b) => b.runId).sort()).toEqual([...ids].sort());
    await h.settle();
    const rows = await h.query<{ n: number }>(`SELECT count(*)::int AS n FROM "${SCHEMA}"."runs" WHERE id = ANY($1)`, [ids]);
    expect(rows[0].n).toBe(40);
    expect(h.emitted(EventTypes.IntentSubmitted).filter((e) => ids.includes(e.data.intentId))).toHaveLength(40);
  });

  it('a cancel with a bad reason or for an unknown run is refused with a reason, never a 500', async () => {
    const cancel = (id: string, body: string) => h.http('POST', `/v1/runs/${encodeURIComponent(id)}/cancel`, { body, headers: { 'content-type': 'application/json' } });
    const runId = `r-${randomUUID()}`;
    await h.send(admitted(h, runId, 'require_approval'));
    expect(await cancel(runId, JSON.stringify({ reason: 42 }))).toMatchObject({ status: 400, body: { code: 'invalid_reason' } });
    expect((await cancel(runId, JSON.stringify({ reason: 'x'.repeat(2001) }))).status).toBe(400);
    expect((await cancel(runId, '{"reason":')).status).toBe(400);
    expect(await cancel(`nobody-${'z'.repeat(300)}`, '{}')).toMatchObject({ status: 404, body: { code: 'run_not_found' } });
    expect(await runRow(h, runId)).toMatchObject({ status: 'awaiting_approval' });
  });

  it('refuses a body that is not JSON with 415 and a reason, so a cross-site form post never starts a run', async () => {
    const key = await h.apiKey('agent', { agentId: 'support-assistant' });
    const form = await h.http('POST', '/v1/intents', { key, body: 'agentId=support-assistant&task=freeze%20acc-001', headers: { 'content-type': 'application/x-www-form-urlencoded' } });
    expect(form).toMatchObject({ status: 415, body: { code: 'unsupported_media_type' } });
    const text = await h.http('POST', '/v1/intents', { key, body: '{"agentId":"support-assistant","task":"t"}', headers: { 'content-type': 'text/plain' } });
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

describe('orchestrator ingress: authenticated principals, agents act only as themselves', () => {
  let h: ServiceHarness;
  beforeAll(async () => {
    h = await startOrchestrator();
  });
  afterAll(async () => {
    await h?.close();
  });
  const refusals = async (reason: string) => (await h.metrics.httpRefusals.get()).values.find((v) => v.labels['reason'] === reason)?.value ?? 0;

  it.each([
    { name: 'no credential', key: null, status: 401, code: 'credential_missing' },
    { name: 'a malformed credential', key: 'not-a-key', status: 401, code: 'credential_invalid' },
    { name: 'an unknown API key', key: 'gm_aaaaaaaaaaaa_AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA', status: 401, code: 'credential_invalid' },
  ])('refuses $name with $status $code, counted, and starts nothing', async ({ key, status, code }) => {
    const before = await refusals(code);
    const intentId = `r-${randomUUID()}`;
    expect(await h.http('POST', '/v1/intents', { key, body: { intentId, agentId: 'support-assistant', task: 't' } })).toMatchObject({ status, body: { code } });
    expect(await refusals(code)).toBe(before + 1);
    expect(await h.query(`SELECT 1 FROM "${SCHEMA}"."runs" WHERE id = $1`, [intentId])).toHaveLength(0);
  });

  it('refuses a reviewer or operator key on the intent ingress (403), and a revoked agent key (401)', async () => {
    for (const role of ['reviewer', 'operator'] as const) {
      const key = await h.apiKey(role);
      expect(await h.http('POST', '/v1/intents', { key, body: { agentId: 'support-assistant', task: 't' } })).toMatchObject({ status: 403, body: { code: 'role_forbidden' } });
    }
    const store = h.app.get(ApiKeyStore);
    const { key, record } = await store.create({ name: 'soon revoked', role: 'agent', agentId: 'support-assistant' }, 'test');
    await store.revoke(record.id, 'test');
    expect(await h.http('POST', '/v1/intents', { key, body: { agentId: 'support-assistant', task: 't' } })).toMatchObject({ status: 401, body: { code: 'credential_revoked' } });
  });

  it("refuses an agent key naming another agent, and takes the key's agent when the intent names none", async () => {
    const key = await h.apiKey('agent', { agentId: 'support-assistant' });
    const intentId = `r-${randomUUID()}`;
    expect(await h.http('POST', '/v1/intents', { key, body: { intentId, agentId: 'research-assistant', task: 't' } })).toMatchObject({ status: 403, body: { code: 'agent_mismatch' } });
    expect(await h.query(`SELECT 1 FROM "${SCHEMA}"."runs" WHERE id = $1`, [intentId])).toHaveLength(0);
    const implicit = await h.http<{ runId: string }>('POST', '/v1/intents', { key, body: { task: 'status of acc-001' } });
    expect(implicit.status).toBe(202);
    await h.settle();
    const submitted = h.emitted(EventTypes.IntentSubmitted).find((e) => e.data.intentId === implicit.body.runId)!;
    expect(submitted.data.agentId).toBe('support-assistant');
  });

  it("attests an intent it authenticated with the ingress key, or forwards the agent's own signature", async () => {
    const key = await h.apiKey('agent', { agentId: 'support-assistant' });
    const attested = await h.http<{ runId: string }>('POST', '/v1/intents', { key, body: { task: 'status of acc-001' } });
    const agentKeys = generateKeyPair();
    const intent = { intentId: `r-${randomUUID()}`, agentId: 'support-assistant', agentVersion: '1.0.0', task: 'status of acc-001', submittedAt: new Date().toISOString() };
    const signature = signIntent(intent, agentKeys.privateKeyPem);
    const signed = await h.http('POST', '/v1/intents', { key, body: intent, headers: { 'govmesh-signature': signature } });
    expect(signed.status).toBe(202);
    expect((await h.http('POST', '/v1/intents', { key, body: { task: 't' }, headers: { 'govmesh-signature': 'nope' } })).body).toMatchObject({ code: 'invalid_signature_header' });
    await h.settle();
    const events = h.emitted(EventTypes.IntentSubmitted);
    const a = events.find((e) => e.data.intentId === attested.body.runId)! as unknown as Record<string, string> & { data: Record<string, unknown> };
    expect(a['govmeshsigner']).toBe('ingress');
    expect(verifyIntentSignature(a.data, a['govmeshsig'], h.app.get(ServiceKeys).publicKey('ingress'))).toBe(true);
    const b = events.find((e) => e.data.intentId === intent.intentId)! as unknown as Record<string, string> & { data: Record<string, unknown> };
    expect({ signer: b['govmeshsigner'], sig: b['govmeshsig'], data: b.data }).toEqual({ signer: 'agent', sig: signature, data: intent });
  });

  it("lets an agent read its own runs only; operators and auditors read any", async () => {
    const mine = await h.apiKey('agent', { agentId: 'support-assistant' });
    const other = await h.apiKey('agent', { agentId: 'research-assistant' });
    const { body } = await h.http<{ runId: string }>('POST', '/v1/intents', { key: mine, body: { task: 'status of acc-001' } });
    expect((await h.http('GET', `/v1/runs/${body.runId}`, { key: mine })).status).toBe(200);
    expect(await h.http('GET', `/v1/runs/${body.runId}`, { key: other })).toMatchObject({ status: 404, body: { code: 'run_not_found' } });
    expect((await h.http('POST', `/v1/runs/${body.runId}/cancel`, { key: other, body: {} })).status).toBe(404);
    expect((await h.http('GET', `/v1/runs/${body.runId}`, { key: await h.apiKey('auditor') })).status).toBe(200);
    expect((await h.http('GET', `/v1/runs/${body.runId}`)).status).toBe(200);
  });

  it('keeps /health open and everything else closed', async () => {
    expect((await h.http('GET', '/health', { key: null })).status).toBe(200);
    expect((await h.http('GET', '/metrics', { key: null })).status).toBe(200);
    expect((await h.http('GET', '/v1/runs/x', { key: null })).status).toBe(401);
  });

  it('answers refusals the framework makes (unparsable JSON, an unknown route) with a code too, counted', async () => {
    const key = await h.apiKey('agent', { agentId: 'support-assistant' });
    expect(await h.http('POST', '/v1/intents', { key, body: '{"task":', headers: { 'content-type': 'application/json' } })).toMatchObject({ status: 400, body: { code: 'malformed_request', message: expect.any(String) } });
    expect(await h.http('GET', '/v1/nowhere')).toMatchObject({ status: 404, body: { code: 'not_found' } });
    const counted = (await h.metrics.httpRefusals.get()).values.filter((v) => ['malformed_request', 'not_found'].includes(v.labels['reason'] as string));
    expect(counted).toHaveLength(2);
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

