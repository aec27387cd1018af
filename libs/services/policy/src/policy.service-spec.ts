import { randomUUID } from 'node:crypto';
import { Logger } from '@nestjs/common';
import { EventTypes, Headers, Topics, type GovmeshEvent, type IntentSubmittedV1 } from '@govmesh/contracts';
import { approvalDigest, checkGrant, signApproval } from '@govmesh/action-grants';
import { ServiceKeys } from '@govmesh/nest-runtime';
import { generateKeyPair, parseApiKey, signIntent } from '@govmesh/signing';
import { ServiceHarness } from '@govmesh/testing';
import { POLICY_DATABASE } from './database';
import { PolicyServiceModule } from './policy.module';
import { learnTools, toolManifest, toolRegistered } from './tool-events.fixtures';

const SCHEMA = POLICY_DATABASE.schema;

describe('policy: the identity and policy boundary', () => {
  let h: ServiceHarness;
  /** Keys of agents this file registered versions for, by agent id. */
  const agentKeys = new Map<string, { version: string; privateKeyPem: string; publicKey: string }>();

  beforeAll(async () => {
    h = await ServiceHarness.start({ modules: [PolicyServiceModule], schemas: [SCHEMA] });
    // Policy knows only the tools the gateway told it of: the seed workflows' tools, as at the gateway's start.
    await learnTools(h);
  });
  afterAll(async () => {
    await h?.close();
  });

  /** Registers a new version with a fresh key for an agent (the operator API), remembering the private key. */
  async function giveKey(agentId: string, version = `2.${agentKeys.size}.0`) {
    const pair = generateKeyPair();
    const res = await h.http('POST', `/v1/agents/${agentId}/versions`, { body: { version, publicKey: pair.publicKey } });
    expect(res.status).toBe(201);
    agentKeys.set(agentId, { version, privateKeyPem: pair.privateKeyPem, publicKey: pair.publicKey });
    return agentKeys.get(agentId)!;
  }

  /** An intent event as a producer puts it on Kafka: signed with the given key unless told otherwise. */
  function intentEvent(agentId: string, options: { key?: string | null; version?: string; submittedAt?: string; intentId?: string; signer?: string; task?: string } = {}) {
    const known = agentKeys.get(agentId);
    const data: IntentSubmittedV1 = {
      intentId: options.intentId ?? `i-${randomUUID()}`,
      agentId,
      agentVersion: options.version ?? known?.version ?? '1.0.0',
      task: options.task ?? 'status of acc-001',
      submittedAt: options.submittedAt ?? new Date().toISOString(),
    };
    const event = h.event(EventTypes.IntentSubmitted, data) as unknown as Record<string, unknown>;
    const key = options.key === undefined ? known?.privateKeyPem : options.key;
    if (key) {
      event['govmeshsig'] = signIntent(data, key);
      event['govmeshsigner'] = options.signer ?? 'agent';
    }
    return event as unknown as GovmeshEvent<typeof EventTypes.IntentSubmitted>;
  }

  const decisionFor = (intentId: string) => h.emitted(EventTypes.IntentDecided).filter((e) => e.data.runId === intentId);
  const deadLettersFor = (intentId: string) =>
    h.published(Topics.deadLetters).filter((m) => m.value && (JSON.parse(m.value.toString('utf8')) as GovmeshEvent).data && (JSON.parse(m.value.toString('utf8')) as { data: { intentId?: string } }).data.intentId === intentId);

  describe('signed intents', () => {
    it('decides an intent signed with its agent version\'s registered key', async () => {
      await giveKey('support-assistant');
      const event = intentEvent('support-assistant');
      await h.send(event);
      expect(decisionFor(event.data.intentId).map((d) => d.data.effect)).toEqual(['allow']);
      expect(decisionFor(event.data.intentId)[0].data.agentVersion).toBe(agentKeys.get('support-assistant')!.version);
    });

    it('measures the time from the intent (its event time) to the committed decision, by subject', async () => {
      const histogram = async () => {
        const values = (await h.metrics.policyDecisionLatency.get()).values.filter((v) => v.labels['subject'] === 'intent');
        return { count: values.find((v) => v.metricName?.endsWith('_count'))?.value ?? 0, sum: values.find((v) => v.metricName?.endsWith('_sum'))?.value ?? 0 };
      };
      await giveKey('support-assistant');
      const before = await histogram();
      const event = intentEvent('support-assistant');
      // Sent 2 s ago (the envelope's time, outside the signed data): the decision came at least that long after.
      event.time = new Date(Date.now() - 2000).toISOString();
      await h.send(event);
      expect(decisionFor(event.data.intentId)).toHaveLength(1);
      const after = await histogram();
      expect(after.count).toBe(before.count + 1);
      expect(after.sum - before.sum).toBeGreaterThanOrEqual(2);
      expect(after.sum - before.sum).toBeLessThan(60);
    });

    it.each([
      { name: 'an unsigned intent', make: () => intentEvent('support-assistant', { key: null }), code: 'intent_unsigned' },
      { name: 'a forged signature', make: () => intentEvent('support-assistant', { key: generateKeyPair().privateKeyPem }), code: 'intent_signature_invalid' },
      { name: "another agent's key", make: () => intentEvent('support-assistant', { key: agentKeys.get('invoice-exceptions-agent')!.privateKeyPem }), code: 'intent_signature_invalid' },
      { name: 'a forged ingress attestation', make: () => intentEvent('support-assistant', { key: generateKeyPair().privateKeyPem, signer: 'ingress' }), code: 'intent_signature_invalid' },
      { name: 'a stale timestamp', make: () => intentEvent('support-assistant', { submittedAt: new Date(Date.now() - 3600_000).toISOString() }), code: 'intent_stale' },
      { name: 'a timestamp from the future', make: () => intentEvent('support-assistant', { submittedAt: new Date(Date.now() + 600_000).toISOString() }), code: 'intent_from_future' },
      { name: 'an unknown agent', make: () => intentEvent('ghost-agent', { key: generateKeyPair().privateKeyPem }), code: 'intent_key_unknown' },
      { name: 'a version without a registered key', make: () => intentEvent('support-assistant', { version: '1.0.0' }), code: 'intent_key_unknown' },
    ])('refuses $name ($code) to the dead letters, counted, and decides nothing', async ({ make, code }) => {
      if (!agentKeys.has('invoice-exceptions-agent')) await giveKey('invoice-exceptions-agent');
      const before = (await h.metrics.intentsRejected.get()).values.find((v) => v.labels['reason'] === code)?.value ?? 0;
      const event = make();
      await h.send(event);
      expect(decisionFor(event.data.intentId)).toHaveLength(0);
      const letters = deadLettersFor(event.data.intentId);
      expect(letters.map((l) => l.headers[Headers.dlqReasonCode])).toEqual([code]);
      expect(letters[0].headers[Headers.dlqReason].length).toBeGreaterThan(20);
      expect((await h.metrics.intentsRejected.get()).values.find((v) => v.labels['reason'] === code)?.value).toBe(before + 1);
      expect(await h.query(`SELECT 1 FROM "${SCHEMA}"."decisions" WHERE run_id = $1`, [event.data.intentId])).toHaveLength(0);
    });

    it('refuses a replayed intent id, even re-signed in a new event, and the first decision stands', async () => {
      const first = intentEvent('support-assistant');
      await h.send(first);
      const again = intentEvent('support-assistant', { intentId: first.data.intentId });
      await h.send(again);
      expect(decisionFor(first.data.intentId)).toHaveLength(1);
      expect(deadLettersFor(first.data.intentId).map((l) => l.headers[Headers.dlqReasonCode])).toEqual(['intent_replayed']);
    });

    it('refuses a signed intent whose task holds U+0000 to the dead letters and denies it, once, so its run gets a result', async () => {
      await giveKey('support-assistant');
      const event = intentEvent('support-assistant', { task: 'status of acc-001\u0000 please' });
      await h.send(event);
      expect(deadLettersFor(event.data.intentId).map((l) => l.headers[Headers.dlqReasonCode])).toEqual(['unstorable_text']);
      const [decision] = decisionFor(event.data.intentId);
      expect(decision.data).toMatchObject({ effect: 'deny', reasons: [{ code: 'unstorable_text' }], intent: { task: 'govmesh-escaped:status of acc-001\\u0000 please' } });
      // One decision (the outbox may publish it twice, at least once: the orchestrator's inbox takes it once).
      const decisionIds = () => new Set(decisionFor(event.data.intentId).map((d) => d.id));
      expect(decisionIds().size).toBe(1);
      expect(await h.query(`SELECT effect FROM "${SCHEMA}"."decisions" WHERE run_id = $1`, [event.data.intentId])).toEqual([{ effect: 'deny' }]);
      // The same intent again is a replay, not a second run.
      await h.send(intentEvent('support-assistant', { intentId: event.data.intentId, task: 'x\u0000' }));
      expect(decisionIds().size).toBe(1);
    });

    it('refuses an unsigned intent with U+0000 as unsigned only: no run for an unproven sender', async () => {
      const event = intentEvent('support-assistant', { key: null, task: 'x\u0000' });
      await h.send(event);
      expect(deadLettersFor(event.data.intentId).map((l) => l.headers[Headers.dlqReasonCode])).toEqual(['intent_unsigned']);
      expect(decisionFor(event.data.intentId)).toHaveLength(0);
    });

    it('refuses intents signed with a revoked key, and a suspended agent\'s validly signed intent is denied', async () => {
      const agentId = `revocable-${randomUUID().slice(0, 8)}`;
      expect((await h.http('PUT', `/v1/agents/${agentId}`, { body: { owner: 'support-operations', tier: 'execute_low', version: '1.0.0' } })).status).toBe(200);
      const { version } = await giveKey(agentId);
      expect((await h.http('POST', `/v1/agents/${agentId}/status`, { body: { status: 'suspended', reason: 'under review' } })).status).toBe(200);
      const suspended = intentEvent(agentId);
      await h.send(suspended);
      expect(decisionFor(suspended.data.intentId)[0].data).toMatchObject({ effect: 'deny', reasons: [{ code: 'forbidden_by_policy' }] });
      expect((await h.http('POST', `/v1/agents/${agentId}/versions/${version}/revoke`, { body: { reason: 'key leaked' } })).status).toBe(200);
      const revoked = intentEvent(agentId);
      await h.send(revoked);
      expect(deadLettersFor(revoked.data.intentId).map((l) => l.headers[Headers.dlqReasonCode])).toEqual(['intent_key_revoked']);
    });
  });

  describe('the registry: operators only, explicit lifecycle, every change an event with its actor', () => {
    it('refuses a missing credential (401) and a reviewer or agent key (403) on the operator API, changing nothing', async () => {
      const reviewer = await h.apiKey('reviewer', { groups: ['finance-ops'] });
      const agent = await h.apiKey('agent', { agentId: 'support-assistant' });
      const body = { owner: 'mallory', tier: 'execute_high', version: '9.9.9' };
      expect(await h.http('PUT', '/v1/agents/research-assistant', { key: null, body })).toMatchObject({ status: 401, body: { code: 'credential_missing' } });
      expect(await h.http('PUT', '/v1/agents/research-assistant', { key: reviewer, body })).toMatchObject({ status: 403, body: { code: 'role_forbidden' } });
      expect(await h.http('PUT', '/v1/agents/research-assistant', { key: agent, body })).toMatchObject({ status: 403, body: { code: 'role_forbidden' } });
      expect(await h.http('POST', '/v1/api-keys', { key: reviewer, body: { name: 'x', role: 'operator' } })).toMatchObject({ status: 403 });
      expect((await h.http<{ tier: string }>('GET', '/v1/agents/research-assistant')).body.tier).toBe('assist');
    });

    it('refuses to re-register a retired agent, with or without a status, counting each refusal', async () => {
      const refused = async () => (await h.metrics.httpRefusals.get()).values.find((v) => v.labels['reason'] === 'agent_retired')?.value ?? 0;
      const before = await refused();
      for (const body of [{ owner: 'finance-operations', tier: 'execute_low' }, { owner: 'finance-operations', tier: 'execute_low', status: 'active' }]) {
        expect(await h.http('PUT', '/v1/agents/legacy-batch-bot', { body })).toMatchObject({ status: 409, body: { code: 'agent_retired' } });
      }
      expect(await h.http('POST', '/v1/agents/legacy-batch-bot/status', { body: { status: 'active' } })).toMatchObject({ status: 409, body: { code: 'agent_retired' } });
      expect((await h.http<{ status: string }>('GET', '/v1/agents/legacy-batch-bot')).body.status).toBe('retired');
      expect(await refused()).toBe(before + 3);
    });

    it('never reactivates a suspended agent by omission, and records who changed what', async () => {
      const agentId = `lifecycle-${randomUUID().slice(0, 8)}`;
      const operator = await h.apiKey('operator', { name: 'ops on call' });
      await h.http('PUT', `/v1/agents/${agentId}`, { key: operator, body: { owner: 'support-operations', tier: 'prepare', version: '1.0.0', purpose: 'tests' } });
      await h.http('POST', `/v1/agents/${agentId}/status`, { key: operator, body: { status: 'suspended' } });
      const updated = await h.http<{ status: string; tier: string }>('PUT', `/v1/agents/${agentId}`, { key: operator, body: { owner: 'support-operations', tier: 'execute_low' } });
      expect(updated.body).toMatchObject({ status: 'suspended', tier: 'execute_low' });
      await h.http('POST', `/v1/agents/${agentId}/status`, { key: operator, body: { status: 'retired' } });
      expect(await h.http('POST', `/v1/agents/${agentId}/status`, { key: operator, body: { status: 'active' } })).toMatchObject({ status: 409 });
      await h.settle();
      const changes = h.emitted(EventTypes.AgentChanged).filter((e) => e.data.agentId === agentId);
      expect(changes.map((c) => [c.data.change, c.data.agent.status])).toEqual([
        ['registered', 'active'],
        ['status_changed', 'suspended'],
        ['updated', 'suspended'],
        ['status_changed', 'retired'],
      ]);
      expect(changes.every((c) => c.data.actor.kind === 'operator' && c.data.actor.name === 'ops on call' && c.data.actor.id.startsWith('key:'))).toBe(true);
      expect(changes.every((c) => c.subject === agentId)).toBe(true);
    });

    it('validates every field with a 400 naming it, never a 500', async () => {
      const cases: Array<[unknown, string]> = [
        [{ owner: 'o'.repeat(129), tier: 'assist', version: '1' }, '/owner'],
        [{ owner: 'o', tier: 'god-mode', version: '1' }, '/tier'],
        [{ owner: 'o', tier: 'assist', version: 'v'.repeat(65) }, '/version'],
        [{ owner: 'o', tier: 'assist', version: '1', purpose: 'p'.repeat(2001) }, '/purpose'],
        [{ owner: 'o', tier: 'assist', version: '1', publicKey: 'short' }, '/publicKey'],
        [{ owner: 'o', tier: 'assist', version: '1', extra: true }, '/extra'],
        [{ owner: 'o\u0000', tier: 'assist', version: '1' }, '/owner'],
      ];
      for (const [body, field] of cases) {
        const res = await h.http<{ code: string; fields: Array<{ field: string }> }>('PUT', `/v1/agents/new-${randomUUID().slice(0, 8)}`, { body });
        expect({ field, status: res.status, fields: res.body.fields.map((f) => f.field) }).toEqual({ field, status: 400, fields: expect.arrayContaining([field]) });
      }
      expect((await h.http('PUT', `/v1/agents/${'x'.repeat(200)}`, { body: { owner: 'o', tier: 'assist', version: '1' } })).status).toBe(400);
    });
  });

  describe('API keys', () => {
    it('shows a key once, stores only its hash, binds agent keys to a registered agent, and revokes in one call', async () => {
      const created = await h.http<{ id: string; key: string; role: string }>('POST', '/v1/api-keys', { body: { name: 'triage bot', role: 'agent', agentId: 'support-triage-agent' } });
      expect(created.status).toBe(201);
      expect(created.body.key).toMatch(/^gm_[a-z0-9]{12}_[A-Za-z0-9_-]{43}$/);
      const listed = await h.http<Array<Record<string, unknown>>>('GET', '/v1/api-keys');
      expect(JSON.stringify(listed.body)).not.toContain(parseApiKey(created.body.key)!.secret);
      expect(listed.body.find((k) => k['id'] === created.body.id)).not.toHaveProperty('secretSha256');
      expect(await h.http('POST', '/v1/api-keys', { body: { name: 'ghost', role: 'agent', agentId: 'ghost-agent' } })).toMatchObject({ status: 400, body: { code: 'agent_not_registered' } });
      expect(await h.http('POST', '/v1/api-keys', { body: { name: 'old', role: 'agent', agentId: 'legacy-batch-bot' } })).toMatchObject({ status: 400, body: { code: 'agent_retired' } });
      expect(await h.http('POST', '/v1/api-keys', { body: { name: 'x', role: 'root' } })).toMatchObject({ status: 400, body: { fields: [{ field: '/role' }] } });
      expect((await h.http('GET', '/v1/agents', { key: created.body.key })).status).toBe(403);
      expect((await h.http('POST', `/v1/api-keys/${created.body.id}/revoke`)).status).toBe(200);
      expect(await h.http('GET', '/v1/agents', { key: created.body.key })).toMatchObject({ status: 401, body: { code: 'credential_revoked' } });
    });
  });

  describe('policy sets: validated, versioned, activated and rolled back without a restart', () => {
    it('refuses a malformed or schema-invalid upload with Cedar\'s own diagnostics', async () => {
      const malformed = await h.http<{ code: string; diagnostics: Array<{ message: string }> }>('POST', '/v1/policies', { body: { policies: { broken: 'permit(principal, action, resource' } } });
      expect(malformed).toMatchObject({ status: 400, body: { code: 'policy_invalid' } });
      expect(malformed.body.diagnostics.length).toBeGreaterThan(0);
      const invalid = await h.http<{ code: string; diagnostics: Array<{ message: string }> }>('POST', '/v1/policies', {
        body: { policies: { typo: 'permit(principal is Agent, action == Action::"InvokeTool", resource is Tool) when { principal.tierr == "assist" };' } },
      });
      expect(invalid).toMatchObject({ status: 400, body: { code: 'policy_invalid' } });
      expect(JSON.stringify(invalid.body.diagnostics)).toContain('tierr');
      expect((await h.http('POST', '/v1/policies', { key: await h.apiKey('auditor'), body: { policies: { p: 'permit(principal, action, resource);' } } })).status).toBe(403);
    });

    it('simulates a candidate against recorded decisions, activates it everywhere at once, and rolls back', async () => {
      const active = await h.http<Array<{ version: string; status: string }>>('GET', '/v1/policies');
      const seedVersion = active.body.find((s) => s.status === 'active')!.version;
      const seed = (await h.http<{ policies: Record<string, string> }>('GET', `/v1/policies/${seedVersion}`)).body.policies;
      const { 'active-agents-submit-intents': _, ...closed } = seed;
      const simulated = await h.http<{ changed: number; changes: Array<{ subject: string; recorded: { effect: string }; candidate: { effect: string } }> }>('POST', '/v1/policies/simulate', { body: { policies: closed } });
      expect(simulated.status).toBe(200);
      expect(simulated.body.changed).toBeGreaterThan(0);
      expect(simulated.body.changes.every((c) => c.subject === 'intent' && c.recorded.effect === 'allow' && c.candidate.effect === 'deny')).toBe(true);

      const uploaded = await h.http<{ version: string }>('POST', '/v1/policies', { body: { policies: closed, description: 'no intents' } });
      expect(uploaded.status).toBe(201);
      expect((await h.http('POST', `/v1/policies/${uploaded.body.version}/activate`)).status).toBe(200);
      const underNew = intentEvent('support-assistant');
      await h.send(underNew);
      expect(decisionFor(underNew.data.intentId)[0].data).toMatchObject({ effect: 'deny', policyVersion: uploaded.body.version });

      expect(await h.http('POST', '/v1/policies/rollback')).toMatchObject({ status: 200, body: { version: seedVersion } });
      const underSeed = intentEvent('support-assistant');
      await h.send(underSeed);
      expect(decisionFor(underSeed.data.intentId)[0].data).toMatchObject({ effect: 'allow', policyVersion: seedVersion });
      await h.settle();
      expect(h.emitted(EventTypes.PolicyActivated).map((e) => e.data.change)).toEqual(expect.arrayContaining(['activated', 'rolled_back']));
    });
  });

  describe('actions: argument-aware decisions and Ed25519 grants bound to the exact action', () => {
    async function admit(agentId: string): Promise<string> {
      if (!agentKeys.has(agentId)) await giveKey(agentId);
      const event = intentEvent(agentId, { task: 'pay the invoice' });
      await h.send(event);
      expect(decisionFor(event.data.intentId)[0].data.effect).toBe('allow');
      return event.data.intentId;
    }
    const propose = (runId: string, agentId: string, tool: string, args: Record<string, unknown>) =>
      h.event(EventTypes.ActionProposed, { runId, stepId: 'authorize', agentId, agentVersion: agentKeys.get(agentId)?.version ?? '1.0.0', tool, arguments: args });
    const actionDecision = (runId: string) => h.emitted(EventTypes.ActionDecided).filter((e) => e.data.runId === runId);
    const actionsRefused = async (reason: string) => (await h.metrics.actionsRefused.get()).values.find((v) => v.labels['reason'] === reason && v.labels['service'] === 'policy')?.value ?? 0;

    it('pays an invoice up to 5000 by itself and sends a larger one to finance-ops, by the arguments', async () => {
      const small = await admit('invoice-exceptions-agent');
      await h.send(propose(small, 'invoice-exceptions-agent', 'invoices.approve_payment', { invoiceId: 'inv-1', amount: 4999.5, currency: 'EUR' }));
      const [allowed] = actionDecision(small);
      expect(allowed.data).toMatchObject({ effect: 'allow' });
      const grant = allowed.data.grant!;
      const publicKey = h.app.get(ServiceKeys).publicKey('grant');
      const request = { runId: small, stepId: 'authorize', agentId: 'invoice-exceptions-agent', agentVersion: grant.agentVersion, tool: 'invoices.approve_payment', arguments: { invoiceId: 'inv-1', amount: 4999.5, currency: 'EUR' } };
      expect(checkGrant(publicKey, grant, request, new Date())).toBeNull();
      expect(checkGrant(publicKey, grant, { ...request, arguments: { ...request.arguments, amount: 82000 } }, new Date())?.code).toBe('grant_digest_mismatch');

      const large = await admit('invoice-exceptions-agent');
      await h.send(propose(large, 'invoice-exceptions-agent', 'invoices.approve_payment', { invoiceId: 'inv-2', amount: 82000, currency: 'EUR' }));
      expect(actionDecision(large)[0].data).toMatchObject({ effect: 'require_approval', approvers: ['finance-leads', 'finance-ops'] });
      expect(actionDecision(large)[0].data.grant).toBeUndefined();
    });

    it('refuses an action for a run policy never admitted, and one on data above the agent\'s clearance', async () => {
      const forged = `forged-${randomUUID()}`;
      const before = await actionsRefused('run_not_admitted');
      await h.send(propose(forged, 'support-assistant', 'sandbox.lookup_account', { accountId: 'acc-001' }));
      expect(actionDecision(forged)[0].data).toMatchObject({ effect: 'deny', reasons: [{ code: 'run_not_admitted' }] });
      expect(actionDecision(forged)[0].data.grant).toBeUndefined();
      expect(await actionsRefused('run_not_admitted')).toBe(before + 1);

      const run = await admit('support-assistant');
      await h.send(propose(run, 'support-assistant', 'sandbox.lookup_account', { accountId: 'acc-003' }));
      expect(actionDecision(run)[0].data.effect).toBe('deny');
      expect(JSON.stringify(actionDecision(run)[0].data.reasons)).toContain('classification');
    });

    it('refuses a proposal for a run admitted for another agent, with no grant, counted and logged without the arguments', async () => {
      const run = await admit('invoice-exceptions-agent');
      if (!agentKeys.has('support-assistant')) await giveKey('support-assistant');
      const before = await actionsRefused('agent_not_run_agent');
      const warn = jest.spyOn(Logger.prototype, 'warn');
      try {
        await h.send(propose(run, 'support-assistant', 'sandbox.lookup_account', { accountId: 'acc-001' }));
        const [refused] = actionDecision(run);
        expect(refused.data).toMatchObject({ effect: 'deny', reasons: [{ code: 'agent_not_run_agent', message: expect.stringContaining('admitted for agent "invoice-exceptions-agent", not "support-assistant"') }] });
        expect(refused.data.grant).toBeUndefined();
        expect(await actionsRefused('agent_not_run_agent')).toBe(before + 1);
        const lines = warn.mock.calls.map((c) => String(c[0])).filter((l) => l.includes(run));
        expect(lines).toEqual([`refused an action of agent "support-assistant" on run ${run}: agent_not_run_agent`]);
        expect(lines.join('\n')).not.toContain('acc-001');
      } finally {
        warn.mockRestore();
      }
      expect(await h.query(`SELECT agent_id, effect, grant_id FROM "${SCHEMA}"."decisions" WHERE run_id = $1 AND subject = 'action'`, [run])).toEqual([{ agent_id: 'support-assistant', effect: 'deny', grant_id: null }]);

      // The run's own agent still acts in it.
      await h.send(propose(run, 'invoice-exceptions-agent', 'invoices.lookup', { invoiceId: 'inv-1' }));
      expect(actionDecision(run)[1].data).toMatchObject({ effect: 'allow', grant: expect.objectContaining({ agentId: 'invoice-exceptions-agent' }) });
    });

    describe('tools: known only from the tool manifest', () => {
      const unique = (what: string) => `crm.${what}_${randomUUID().slice(0, 8)}`;
      const toolRow = async (name: string) => (await h.query<{ version: string; status: string; side_effect: string }>(`SELECT version, status, side_effect FROM "${SCHEMA}"."tool_profiles" WHERE name = $1`, [name]))[0];
      /** Proposes one action on a fresh run of the agent and answers policy's decision. */
      async function decide(agentId: string, tool: string, args: Record<string, unknown> = {}) {
        const run = await admit(agentId);
        await h.send(propose(run, agentId, tool, args));
        return actionDecision(run)[0].data;
      }

      it('knows no tool it was not told of, not even one a built-in list used to name', async () => {
        expect(await toolRow('sandbox.freeze_account')).toBeUndefined();
        expect(await decide('support-assistant', 'sandbox.freeze_account', { accountId: 'acc-001' })).toMatchObject({ effect: 'deny', reasons: [{ code: 'tool_not_registered' }] });
      });

      it('decides a tool once it learned it from its event, and grants it', async () => {
        const name = unique('lookup_customer');
        expect(await decide('support-assistant', name, { customerId: 'c-1' })).toMatchObject({ effect: 'deny', reasons: [{ code: 'tool_not_registered' }] });
        await h.send(toolRegistered(h, toolManifest(name, { sideEffect: 'read', classification: 'internal' })));
        expect(await toolRow(name)).toEqual({ version: '1.0.0', status: 'active', side_effect: 'read' });
        const decided = await decide('support-assistant', name, { customerId: 'c-1' });
        expect(decided).toMatchObject({ effect: 'allow', effectiveTier: 'execute_low', reasons: [{ code: 'permitted_by_policy' }] });
        expect(decided.grant).toMatchObject({ agentId: 'support-assistant' });
      });

      it('denies a retired tool as unregistered, with no grant, until a newer version is registered', async () => {
        const name = unique('export_customers');
        const manifest = toolManifest(name, { sideEffect: 'read', classification: 'internal' });
        await h.send(toolRegistered(h, manifest));
        expect((await decide('support-assistant', name)).effect).toBe('allow');
        await h.send(toolRegistered(h, manifest, { change: 'retired' }));
        expect(await toolRow(name)).toMatchObject({ version: '1.0.0', status: 'retired' });
        const denied = await decide('support-assistant', name);
        expect(denied).toMatchObject({ effect: 'deny', reasons: [{ code: 'tool_not_registered' }] });
        expect(denied.grant).toBeUndefined();
        await h.send(toolRegistered(h, { ...manifest, version: '1.1.0' }, { change: 'updated', previousVersion: '1.0.0' }));
        expect((await decide('support-assistant', name)).effect).toBe('allow');
      });

      it('keeps the newest version when an older one arrives later, in a later batch or the same one', async () => {
        // 10.0.0 is newer than 9.5.0 (by number, not by text); it makes the tool's data restricted.
        const newer = (name: string) => toolManifest(name, { version: '10.0.0', sideEffect: 'read', classification: 'restricted' });
        const older = (name: string) => toolManifest(name, { version: '9.5.0', sideEffect: 'read', classification: 'internal' });
        const now = Date.now();
        const late = unique('lookup_contact');
        await h.send(toolRegistered(h, newer(late), { time: new Date(now) }));
        await h.send(toolRegistered(h, older(late), { time: new Date(now + 60_000) }));
        const together = unique('lookup_contact');
        await h.send(toolRegistered(h, newer(together), { time: new Date(now) }), toolRegistered(h, older(together), { time: new Date(now + 60_000) }));
        for (const name of [late, together]) {
          expect(await toolRow(name)).toMatchObject({ version: '10.0.0', status: 'active' });
          expect(await decide('support-assistant', name)).toMatchObject({ effect: 'deny', reasons: [{ code: 'classification_above_clearance' }] });
        }
      });

      it('keeps the later event of one version: a stale registration does not undo a retirement', async () => {
        const name = unique('lookup_lead');
        const manifest = toolManifest(name, { sideEffect: 'read', classification: 'internal' });
        const now = Date.now();
        await h.send(toolRegistered(h, manifest, { change: 'retired', time: new Date(now) }));
        await h.send(toolRegistered(h, manifest, { time: new Date(now - 60_000) }));
        expect(await toolRow(name)).toMatchObject({ version: '1.0.0', status: 'retired' });
        expect(await decide('support-assistant', name)).toMatchObject({ effect: 'deny', reasons: [{ code: 'tool_not_registered' }] });
      });

      it('uses a destructive tool only at execute_high, unless its manifest\'s maxTier names another tier', async () => {
        const name = unique('purge_customer');
        await h.send(toolRegistered(h, toolManifest(name, { sideEffect: 'destructive', classification: 'internal' })));
        const low = await decide('support-assistant', name, { customerId: 'c-1' });
        expect(low).toMatchObject({ effect: 'deny', effectiveTier: 'execute_low', reasons: [{ code: 'tier_too_low_for_side_effect', message: expect.stringContaining('only at the effective tier execute_high') }] });
        expect(low.grant).toBeUndefined();

        // An execute-high agent passes the tier; the seed set has no permit annotated for destructive calls.
        const highAgent = `purger-${randomUUID().slice(0, 8)}`;
        expect((await h.http('PUT', `/v1/agents/${highAgent}`, { body: { owner: 'support-operations', tier: 'execute_high', version: '1.0.0', clearance: 'internal' } })).status).toBe(200);
        expect(await decide(highAgent, name, { customerId: 'c-1' })).toMatchObject({ effect: 'deny', effectiveTier: 'execute_high', reasons: [{ code: 'side_effect_not_explicitly_permitted' }] });

        await h.send(toolRegistered(h, toolManifest(name, { version: '1.1.0', sideEffect: 'destructive', classification: 'internal', maxTier: 'execute_low' }), { change: 'updated' }));
        expect(await decide('support-assistant', name, { customerId: 'c-1' })).toMatchObject({ effect: 'deny', effectiveTier: 'execute_low', reasons: [{ code: 'side_effect_not_explicitly_permitted' }] });
      });
    });

    describe('a reviewer approval attested by the orchestrator', () => {
      const agentId = 'invoice-exceptions-agent';
      const args = { invoiceId: 'inv-7', amount: 82000, currency: 'EUR' };
      /** An approval as the orchestrator signs it (with the ingress key), for the action it names. */
      function approval(forArgs: Record<string, unknown>, options: { reviewerId?: string; groups?: string[]; requester?: string; key?: 'ingress' | 'grant'; approvalId?: string } = {}) {
        const digest = approvalDigest({ agentId, agentVersion: agentKeys.get(agentId)!.version, tool: 'invoices.approve_payment', arguments: forArgs });
        const fields = { approvalId: options.approvalId ?? `ap-${randomUUID()}`, digest, reviewer: { id: options.reviewerId ?? 'key:ops-1', name: 'ops', groups: options.groups ?? ['finance-ops'] }, requester: options.requester ?? 'key:requester', decidedAt: new Date().toISOString() };
        return { ...fields, signature: signApproval(h.app.get(ServiceKeys).signingKey(options.key ?? 'ingress'), fields) };
      }
      const proposeApproved = (runId: string, stepId: string, forArgs: Record<string, unknown>, attestation: ReturnType<typeof approval>) =>
        h.event(EventTypes.ActionProposed, { runId, stepId, agentId, agentVersion: agentKeys.get(agentId)!.version, tool: 'invoices.approve_payment', arguments: forArgs, approval: attestation });
      const refusedCount = async (reason: string) => {
        const text = (await h.http<string>('GET', '/metrics')).body;
        const line = String(text).split('\n').find((l) => l.startsWith('govmesh_approvals_refused_total') && l.includes(`reason="${reason}"`));
        return line ? Number(line.split(' ').at(-1)) : 0;
      };

      it('grants exactly the approved action, once', async () => {
        const run = await admit(agentId);
        const approved = approval(args);
        await h.send(proposeApproved(run, 'act#1', args, approved));
        const [decided] = actionDecision(run);
        expect(decided.data).toMatchObject({ effect: 'allow', reasons: [{ code: 'approved_by_reviewer' }, { code: 'require_approval_by_policy' }] });
        const request = { runId: run, stepId: 'act#1', agentId, agentVersion: agentKeys.get(agentId)!.version, tool: 'invoices.approve_payment', arguments: args };
        expect(checkGrant(h.app.get(ServiceKeys).publicKey('grant'), decided.data.grant!, request, new Date())).toBeNull();

        const before = await refusedCount('approval_already_used');
        await h.send(proposeApproved(run, 'act#2', args, approved));
        expect(actionDecision(run)[1].data).toMatchObject({ effect: 'deny', reasons: [{ code: 'approval_already_used' }] });
        expect(actionDecision(run)[1].data.grant).toBeUndefined();
        expect(await refusedCount('approval_already_used')).toBe(before + 1);
      });

      it.each([
        ['an approval of a different amount', () => ({ args: { ...args, amount: 82001 }, attestation: approval(args) }), 'approval_digest_mismatch'],
        ['an approval not signed by the orchestrator', () => ({ args, attestation: approval(args, { key: 'grant' }) }), 'approval_invalid'],
        ['an approval whose signed fields were changed', () => ({ args, attestation: { ...approval(args), reviewer: { id: 'key:ops-1', name: 'ops', groups: ['finance-leads'] } } }), 'approval_invalid'],
        ['an approval by the requester', () => ({ args, attestation: approval(args, { reviewerId: 'key:requester' }) }), 'approver_is_requester'],
        ['an approval by a group policy does not name', () => ({ args, attestation: approval(args, { groups: ['support'] }) }), 'approver_not_in_group'],
      ])('refuses %s, with a reason and a count', async (_name, make, code) => {
        const run = await admit(agentId);
        const { args: proposed, attestation } = make();
        const before = await refusedCount(code);
        await h.send(proposeApproved(run, 'act#1', proposed, attestation));
        expect(actionDecision(run)[0].data).toMatchObject({ effect: 'deny', reasons: [{ code }] });
        expect(actionDecision(run)[0].data.grant).toBeUndefined();
        expect(await refusedCount(code)).toBe(before + 1);
      });

      it('never turns a policy denial into an allow', async () => {
        const run = await admit(agentId);
        const negative = { ...args, amount: -5 };
        await h.send(proposeApproved(run, 'act#1', negative, approval(negative)));
        expect(actionDecision(run)[0].data.effect).toBe('deny');
        expect(actionDecision(run)[0].data.reasons[0].code).not.toBe('approved_by_reviewer');
      });

      it('accepts a reviewer of another group the checkpoint policy names (finance-leads)', async () => {
        const run = await admit(agentId);
        await h.send(proposeApproved(run, 'act#1', args, approval(args, { groups: ['finance-leads'] })));
        expect(actionDecision(run)[0].data.effect).toBe('allow');
      });
    });
  });
});

