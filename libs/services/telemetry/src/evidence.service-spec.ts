import { randomUUID } from 'node:crypto';
import { EventTypes } from '@govmesh/contracts';
import { verifyEvidenceBundle } from '@govmesh/audit-chain';
import { generateKeyPair } from '@govmesh/signing';
import { ServiceHarness } from '@govmesh/testing';
import { TELEMETRY_DATABASE } from './database';
import { TelemetryServiceModule } from './telemetry.module';

describe('telemetry: evidence bundles an auditor verifies offline', () => {
  let h: ServiceHarness;
  let auditor: string;
  const runId = `run-${randomUUID()}`;
  const digest = 'd'.repeat(64);

  beforeAll(async () => {
    h = await ServiceHarness.start({ modules: [TelemetryServiceModule], schemas: [TELEMETRY_DATABASE.schema] });
    auditor = await h.apiKey('auditor');
    const intent = { intentId: runId, agentId: 'invoice-agent', agentVersion: '1.0.0', task: 'pay invoice inv-1003' };
    // Other runs' records around this one, so its records sit between others in the ledger.
    await h.send(h.event(EventTypes.IntentSubmitted, { ...intent, intentId: `other-${randomUUID()}` }));
    await h.send(
      h.event(EventTypes.IntentSubmitted, intent),
      h.event(EventTypes.IntentDecided, { runId, agentId: 'invoice-agent', effect: 'allow', reasons: [{ code: 'permitted', message: 'permitted' }], policyVersion: 'abcdef0123456789', policies: ['active-agents-submit-intents'], intent }),
      h.event(EventTypes.ModelCompleted, { runId, stepId: 'propose', model: 'builtin-large', provider: 'builtin', confidence: 0.9, proposal: { kind: 'no_action', rationale: 'nothing to do' }, usage: { inputTokens: 1200, outputTokens: 300 }, cost: { amount: 0.0081, currency: 'USD', inputPerMillion: 3, outputPerMillion: 15 }, latencyMs: 12 }),
      h.event(EventTypes.ApprovalDecided, { runId, stepId: 'pay', reviewId: 'rev-1', kind: 'action', decision: 'approved', reviewer: { principalId: 'alice', groups: ['finance-ops'] }, digest, level: 1 } as never),
    );
    await h.send(h.event(EventTypes.IntentSubmitted, { ...intent, intentId: `other-${randomUUID()}` }));
    await new Promise((r) => setTimeout(r, 200));
    await h.settle();
  });
  afterAll(async () => {
    await h?.close();
  });

  /** The body byte for byte, as an auditor saves it. */
  const exportBundle = async () => {
    const res = await fetch(`${await h.baseUrl()}/v1/runs/${runId}/evidence`, { headers: { authorization: `Bearer ${auditor}` } });
    return { status: res.status, body: await res.text() };
  };

  it('exports every record of the run with proofs to a signed checkpoint, and it verifies offline with the audit key only', async () => {
    const res = await exportBundle();
    expect(res.status).toBe(200);
    const text = res.body;
    const { publicKey } = (await h.http<{ publicKey: string }>('GET', '/v1/audit/key', { key: auditor })).body;
    const verdict = verifyEvidenceBundle(text, publicKey);
    expect(verdict).toMatchObject({ valid: true, runId, records: 4 });
    if (!verdict.valid) return;
    expect(verdict.summary.intent).toMatchObject({ intentId: runId, task: 'pay invoice inv-1003' });
    expect(verdict.summary.decisions).toEqual([expect.objectContaining({ effect: 'allow', policyVersion: 'abcdef0123456789', policies: ['active-agents-submit-intents'] })]);
    expect(verdict.summary.modelCalls).toEqual([expect.objectContaining({ model: 'builtin-large', cost: expect.objectContaining({ amount: 0.0081 }) })]);
  });

  it('fails after any byte is changed, and with any other key', async () => {
    const res = await exportBundle();
    const text = res.body;
    const { publicKey } = (await h.http<{ publicKey: string }>('GET', '/v1/audit/key', { key: auditor })).body;
    const bytes = Buffer.from(text, 'utf8');
    const stride = Math.max(1, Math.floor(bytes.length / 600));
    let tried = 0;
    for (let i = 0; i < bytes.length - 1; i += stride) {
      for (const delta of [1, 0x20]) {
        const changed = Buffer.from(bytes);
        changed[i] = (changed[i] + delta) % 256;
        expect({ at: i, valid: verifyEvidenceBundle(changed.toString('utf8'), publicKey).valid }).toEqual({ at: i, valid: false });
        tried++;
      }
    }
    expect(tried).toBeGreaterThan(600);
    const other = generateKeyPair().publicKey;
    expect(verifyEvidenceBundle(text, other).valid).toBe(false);
  });

  it('is for auditors only, and names a run it has no record of', async () => {
    expect((await h.http('GET', `/v1/runs/${runId}/evidence`, { key: null })).status).toBe(401);
    expect((await h.http('GET', `/v1/runs/${runId}/evidence`, { key: await h.apiKey('operator') })).status).toBe(403);
    expect((await h.http('GET', `/v1/runs/${runId}/evidence`, { key: await h.apiKey('agent', { agentId: 'invoice-agent' }) })).status).toBe(403);
    expect(await h.http('GET', '/v1/runs/no-such-run/evidence', { key: auditor })).toMatchObject({ status: 404, body: { code: 'run_not_found' } });
    expect(await h.http('GET', `/v1/runs/${'x'.repeat(300)}/evidence`, { key: auditor })).toMatchObject({ status: 404 });
  });

  it('refuses a URL holding a NUL character with a 400, on every route', async () => {
    for (const path of ['/v1/runs/a%00b/evidence', '/v1/runs/a%00b/timeline', '/v1/audit/runs/a%00b', '/v1/dead-letters/a%00b', '/v1/dead-letters?reason=a%00']) {
      expect({ path, ...(await h.http('GET', path, { key: auditor })) }).toMatchObject({ path, status: 400, body: { code: 'unstorable_text' } });
    }
    // Percent-encoding that is not UTF-8 cannot hide one: it is refused as malformed, never a 500.
    for (const path of ['/v1/runs/a%ED%A0%80b/evidence', '/v1/runs/a%E0%A4b/evidence']) expect(await h.http('GET', path, { key: auditor })).toMatchObject({ status: 400 });
  });
});
