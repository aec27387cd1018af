import { randomUUID } from 'node:crypto';
import { EventTypes, type GovmeshEvent, type IntentSubmittedV1 } from '@govmesh/contracts';
import { approvalDigest, signApproval } from '@govmesh/action-grants';
import { ServiceKeys } from '@govmesh/nest-runtime';
import { generateKeyPair, signIntent } from '@govmesh/signing';
import { ServiceHarness } from '@govmesh/testing';
import { POLICY_DATABASE } from './database';
import { PolicyServiceModule } from './policy.module';
import { learnTools } from './tool-events.fixtures';

/**
 * The evidence of a decision: every decided event names the policies of its policy set the
 * decision rests on (`policies`), by the ids `GET /v1/policies/{policyVersion}` lists them under.
 */
describe('policy: decided events name the policies that determined them', () => {
  let h: ServiceHarness;
  const keys = new Map<string, { version: string; privateKeyPem: string }>();

  beforeAll(async () => {
    h = await ServiceHarness.start({ modules: [PolicyServiceModule], schemas: [POLICY_DATABASE.schema] });
    await learnTools(h);
  });
  afterAll(async () => {
    await h?.close();
  });

  async function keyFor(agentId: string) {
    if (!keys.has(agentId)) {
      const pair = generateKeyPair();
      const version = `9.${keys.size}.0`;
      expect((await h.http('POST', `/v1/agents/${agentId}/versions`, { body: { version, publicKey: pair.publicKey } })).status).toBe(201);
      keys.set(agentId, { version, privateKeyPem: pair.privateKeyPem });
    }
    return keys.get(agentId)!;
  }

  /** Submits a signed intent and answers its decision. */
  async function submit(agentId: string) {
    const key = await keyFor(agentId);
    const data: IntentSubmittedV1 = { intentId: `i-${randomUUID()}`, agentId, agentVersion: key.version, task: 'do the work', submittedAt: new Date().toISOString() };
    const event = h.event(EventTypes.IntentSubmitted, data) as unknown as Record<string, unknown>;
    event['govmeshsig'] = signIntent(data, key.privateKeyPem);
    event['govmeshsigner'] = 'agent';
    await h.send(event as unknown as GovmeshEvent<typeof EventTypes.IntentSubmitted>);
    const decided = h.emitted(EventTypes.IntentDecided).filter((e) => e.data.runId === data.intentId);
    expect(decided).toHaveLength(1);
    return decided[0].data;
  }

  async function admit(agentId: string): Promise<string> {
    const decided = await submit(agentId);
    expect(decided.effect).toBe('allow');
    return decided.runId;
  }

  /** Proposes an action in a run and answers its decision. */
  async function decide(runId: string, agentId: string, tool: string, args: Record<string, unknown>, approval?: Record<string, unknown>) {
    const stepId = `act#${randomUUID().slice(0, 8)}`;
    await h.send(h.event(EventTypes.ActionProposed, { runId, stepId, agentId, agentVersion: keys.get(agentId)?.version ?? '1.0.0', tool, arguments: args, ...(approval ? { approval } : {}) } as never));
    const decided = h.emitted(EventTypes.ActionDecided).filter((e) => e.data.runId === runId && e.data.stepId === stepId);
    expect(decided).toHaveLength(1);
    return decided[0].data;
  }

  /** The policies of the set a decision names, as the policy API returns them to an auditor. */
  async function policySet(version: string): Promise<Record<string, string>> {
    const res = await h.http<{ policies: Record<string, string> }>('GET', `/v1/policies/${version}`, { key: await h.apiKey('auditor') });
    expect(res.status).toBe(200);
    return res.body.policies;
  }

  /** Every policy a decision names is in the set its policyVersion names. */
  async function expectInSet(decided: { policyVersion: string; policies?: string[] }) {
    const set = await policySet(decided.policyVersion);
    for (const id of decided.policies ?? []) expect({ id, inSet: id in set }).toEqual({ id, inSet: true });
  }

  it('an intent a permit allowed names that permit', async () => {
    const decided = await submit('support-assistant');
    expect(decided).toMatchObject({ effect: 'allow', policies: ['active-agents-submit-intents'] });
    await expectInSet(decided);
    expect(await policySet(decided.policyVersion)).toHaveProperty(['active-agents-submit-intents'], expect.stringContaining('permit('));
  });

  it('an action a permit allowed names that permit, and its text is in the set', async () => {
    const run = await admit('invoice-exceptions-agent');
    const decided = await decide(run, 'invoice-exceptions-agent', 'invoices.approve_payment', { invoiceId: 'inv-1', amount: 1200, currency: 'EUR' });
    expect(decided).toMatchObject({ effect: 'allow', policies: ['execute-low-acts-within-policy'], grant: expect.any(Object) });
    await expectInSet(decided);
  });

  it('an action a forbid denied names the forbid', async () => {
    const run = await admit('invoice-exceptions-agent');
    const negative = await decide(run, 'invoice-exceptions-agent', 'invoices.approve_payment', { invoiceId: 'inv-2', amount: -5, currency: 'EUR' });
    expect(negative).toMatchObject({ effect: 'deny', reasons: [{ code: 'invoice_amount_required' }], policies: ['invoice-payment-needs-positive-amount'] });
    await expectInSet(negative);
    const support = await admit('support-assistant');
    const restricted = await decide(support, 'support-assistant', 'sandbox.lookup_account', { accountId: 'acc-003' });
    expect(restricted).toMatchObject({ effect: 'deny', reasons: [{ code: 'classification_above_clearance' }], policies: ['classification-above-clearance'] });
    expect((await policySet(restricted.policyVersion))['classification-above-clearance']).toContain('forbid(');
  });

  it('a deny by default (no permit matched) names no policy', async () => {
    // An assist-tier agent may submit intents but no policy lets it use a tool, not even a read.
    const run = await admit('research-assistant');
    const decided = await decide(run, 'research-assistant', 'sandbox.lookup_account', { accountId: 'acc-001' });
    expect(decided).toMatchObject({ effect: 'deny', reasons: [{ code: 'no_permit' }], policies: [] });
  });

  it('a refusal decided before Cedar names no policy', async () => {
    const decided = await decide(`forged-${randomUUID()}`, 'support-assistant', 'sandbox.lookup_account', { accountId: 'acc-001' });
    expect(decided).toMatchObject({ effect: 'deny', reasons: [{ code: 'run_not_admitted' }], policies: [] });
  });

  it('a checkpoint names the checkpoint policy whose approvers it asks for, and an approved action keeps it', async () => {
    const agentId = 'invoice-exceptions-agent';
    const args = { invoiceId: 'inv-3', amount: 82000, currency: 'EUR' };
    const run = await admit(agentId);
    const held = await decide(run, agentId, 'invoices.approve_payment', args);
    expect(held).toMatchObject({ effect: 'require_approval', approvers: ['finance-leads', 'finance-ops'], policies: ['invoice-payment-above-5000-needs-finance-ops'] });
    await expectInSet(held);

    const digest = approvalDigest({ agentId, agentVersion: keys.get(agentId)!.version, tool: 'invoices.approve_payment', arguments: args });
    const fields = { approvalId: `ap-${randomUUID()}`, digest, reviewer: { id: 'key:ops-1', name: 'ops', groups: ['finance-ops'] }, requester: 'key:requester', decidedAt: new Date().toISOString() };
    const approval = { ...fields, signature: signApproval(h.app.get(ServiceKeys).signingKey('ingress'), fields) };
    const approved = await decide(run, agentId, 'invoices.approve_payment', args, approval);
    expect(approved).toMatchObject({ effect: 'allow', reasons: [{ code: 'approved_by_reviewer' }, { code: 'require_approval_by_policy' }], policies: ['invoice-payment-above-5000-needs-finance-ops'] });
  });

  it('names at most 64 policies (the first in order), while its reasons name them all', async () => {
    const seedVersion = (await h.http<Array<{ version: string; status: string }>>('GET', '/v1/policies')).body.find((s) => s.status === 'active')!.version;
    const many = Object.fromEntries(Array.from({ length: 70 }, (_, i) => [`intents-${String(i).padStart(2, '0')}`, 'permit(principal is Agent, action == Action::"SubmitIntent", resource is Intent);']));
    const uploaded = await h.http<{ version: string }>('POST', '/v1/policies', { body: { policies: { ...(await policySet(seedVersion)), ...many } } });
    expect(uploaded.status).toBe(201);
    expect((await h.http('POST', `/v1/policies/${uploaded.body.version}/activate`)).status).toBe(200);
    try {
      const decided = await submit('support-assistant');
      expect(decided.effect).toBe('allow');
      expect(decided.reasons).toHaveLength(71);
      expect(decided.policies).toEqual(['active-agents-submit-intents', ...Object.keys(many)].sort().slice(0, 64));
    } finally {
      expect((await h.http('POST', '/v1/policies/rollback')).status).toBe(200);
    }
  });

  it('names a policy of an uploaded set by the id it was uploaded under, not by an @id annotation in its text', async () => {
    const seedVersion = (await h.http<Array<{ version: string; status: string }>>('GET', '/v1/policies')).body.find((s) => s.status === 'active')!.version;
    const { 'active-agents-submit-intents': _, ...rest } = await policySet(seedVersion);
    const renamed = {
      ...rest,
      'intake:active-agents.v2': '@id("something-else")\n@description("Active agents may submit intents")\npermit(principal is Agent, action == Action::"SubmitIntent", resource is Intent) when { principal.status == "active" };',
    };
    const uploaded = await h.http<{ version: string }>('POST', '/v1/policies', { body: { policies: renamed } });
    expect(uploaded.status).toBe(201);
    expect((await h.http('POST', `/v1/policies/${uploaded.body.version}/activate`)).status).toBe(200);
    try {
      const decided = await submit('support-assistant');
      expect(decided).toMatchObject({ effect: 'allow', policyVersion: uploaded.body.version, policies: ['intake:active-agents.v2'] });
      await expectInSet(decided);
    } finally {
      expect((await h.http('POST', '/v1/policies/rollback')).status).toBe(200);
    }
  });
});
