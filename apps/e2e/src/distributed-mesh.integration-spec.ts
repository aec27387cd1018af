import { randomUUID } from 'node:crypto';
import { Topics } from '@govmesh/contracts';
import { expectEventually, intentCloudEvent, signedIntentCloudEvent, startMeshFixture, type AgentSigningKey, type MeshFixture } from '@govmesh/testing';

/**
 * The mesh as an operator runs it: seven processes, the Kafka-protocol test broker, real
 * Postgres, each process with only the keys its service needs. The producer here is a plain
 * Kafka client that knows only the documented contract: it signs its intents with the key an
 * operator registered on the agent version (docs/signing.md). HTTP callers carry API keys.
 */
describe('distributed mesh: seven processes over Kafka and Postgres', () => {
  let fixture: MeshFixture;
  let db: MeshFixture['db'];
  let mesh: MeshFixture['mesh'];
  let client: MeshFixture['client'];
  let agent: AgentSigningKey;
  let agentKey: string;
  let auditorKey: string;

  beforeAll(async () => {
    fixture = await startMeshFixture('distributed', [Topics.results, Topics.deadLetters]);
    ({ db, mesh, client } = fixture);
    agent = await mesh.registerAgentKey('support-assistant', '1.1.0');
    agentKey = await mesh.apiKey('agent', { agentId: 'support-assistant' });
    auditorKey = await mesh.apiKey('auditor');
  });

  afterAll(async () => {
    await fixture?.stop();
  });

  const resultFor = (runId: string) => client.messages(Topics.results).filter((m) => m.key === runId);
  // Only policy refuses a well-formed intent (telemetry records it), so a key has one dead letter at most.
  const lettersFor = (key: string) => client.messages(Topics.deadLetters).filter((m) => m.key === key);

  it('an intent signed and published with a plain Kafka client comes back verified on the results topic', async () => {
    const runId = `kafka-${randomUUID()}`;
    await client.send(Topics.intents, [{ key: runId, value: signedIntentCloudEvent(agent, { intentId: runId, task: 'Status of acc-001 please', input: { accountId: 'acc-001' } }) }]);
    const [result] = await expectEventually(() => {
      const found = resultFor(runId);
      expect(found).toHaveLength(1);
      return found;
    }, { timeoutMs: 60000 });
    const event = result.json as { type: string; subject: string; data: { outcome: string; result: Record<string, unknown>; reasons: Array<{ code: string }> } };
    expect(event.type).toBe('govmesh.run.completed.v1');
    expect(event.subject).toBe(runId);
    expect(event.data.outcome).toBe('verified');
    expect(event.data.reasons.map((r: { code: string }) => r.code)).toEqual(['verified', 'read_back_matches']);
    expect(event.data.result).toMatchObject({ accountId: 'acc-001', holder: 'Ada Lovelace', status: 'active' });
    expect(result.headers['traceparent']).toMatch(/^00-[0-9a-f]{32}-[0-9a-f]{16}-0[01]$/);

    // The verifier read the record itself, and the tool ran exactly once.
    const verifications = await db.query<{ verdict: string }>('SELECT verdict FROM verifier.verifications WHERE run_id = $1', [runId]);
    expect(verifications).toEqual([{ verdict: 'confirmed' }]);
    const reads = await db.query<{ n: string }>("SELECT count(*) AS n FROM sandbox.access_log WHERE run_id = $1 AND execution_id::text NOT IN (SELECT id::text FROM tool_gateway.executions WHERE agent_id = 'govmesh-verifier')", [runId]);
    expect(Number(reads[0].n)).toBe(1);
    // Telemetry recorded every event of the run in the audit chain.
    await expectEventually(async () => {
      const audit = await db.query<{ type: string }>('SELECT type FROM telemetry.audit_records WHERE run_id = $1 ORDER BY seq', [runId]);
      // Every event of the run: intent, decision, four commands, four outcomes, action and its
      // decision, the verifier's read of the record through the gateway, result.
      expect(audit.map((a) => a.type).sort()).toEqual(
        [
          'govmesh.intent.submitted.v1',
          'govmesh.intent.decided.v1',
          'govmesh.context.requested.v1',
          'govmesh.context.retrieved.v1',
          'govmesh.model.requested.v1',
          'govmesh.model.completed.v1',
          'govmesh.action.proposed.v1',
          'govmesh.action.decided.v1',
          'govmesh.tool.requested.v1',
          'govmesh.tool.executed.v1',
          'govmesh.verification.requested.v1',
          'govmesh.verification.readrequested.v1',
          'govmesh.verification.readcompleted.v1',
          'govmesh.verification.completed.v1',
          'govmesh.run.completed.v1',
        ].sort(),
      );
    });
    const chain = await mesh.http<{ intact: boolean }>('telemetry', 'GET', '/v1/audit/verify', { key: auditorKey });
    expect(chain.status).toBe(200);
    expect(chain.body.intact).toBe(true);
  });

  it('an account above the agent\'s clearance gets a denied result that says why, and no tool runs', async () => {
    const runId = `restricted-${randomUUID()}`;
    await client.send(Topics.intents, [{ key: runId, value: signedIntentCloudEvent(agent, { intentId: runId, task: 'Status of acc-003 please', input: { accountId: 'acc-003' } }) }]);
    const [result] = await expectEventually(() => {
      const found = resultFor(runId);
      expect(found).toHaveLength(1);
      return found;
    }, { timeoutMs: 60000 });
    const data = (result.json as { data: { outcome: string; reasons: Array<{ code: string; message: string }> } }).data;
    expect(data.outcome).toBe('denied');
    expect(data.reasons.map((r) => r.code)).toContain('classification_above_clearance');
    expect(await db.query('SELECT 1 FROM tool_gateway.executions WHERE run_id = $1', [runId])).toHaveLength(0);
    expect(await db.query('SELECT 1 FROM sandbox.access_log WHERE run_id = $1', [runId])).toHaveLength(0);
  });

  it('an intent of an unregistered agent is refused to the dead letters (no key to check it with) and creates no run', async () => {
    const runId = `ghost-${randomUUID()}`;
    const ghost: AgentSigningKey = { ...agent, agentId: 'ghost-agent' };
    await client.send(Topics.intents, [{ key: runId, value: signedIntentCloudEvent(ghost, { intentId: runId, task: 'Read acc-001' }) }]);
    const [letter] = await expectEventually(() => {
      const found = lettersFor(runId);
      expect(found).toHaveLength(1);
      return found;
    }, { timeoutMs: 60000 });
    expect(letter.headers['govmesh_dlq_reason_code']).toBe('intent_key_unknown');
    expect(letter.headers['govmesh_dlq_reason']).toContain('ghost-agent');
    expect(resultFor(runId)).toHaveLength(0);
    expect(await db.query('SELECT 1 FROM orchestrator.runs WHERE id = $1', [runId])).toHaveLength(0);
    expect(await db.query('SELECT 1 FROM tool_gateway.executions WHERE run_id = $1', [runId])).toHaveLength(0);
  });

  it('the HTTP ingress takes an agent key, publishes through the same path and serves the run with its timeline', async () => {
    const res = await mesh.http<{ runId: string }>('orchestrator', 'POST', '/v1/intents', { key: agentKey, body: { agentId: 'support-assistant', task: 'Balance of acc-002?' } });
    expect(res.status).toBe(202);
    const { runId } = res.body;
    const run = await expectEventually(async () => {
      const view = await mesh.http<{ status: string; outcome: string; timeline: Array<{ kind: string }> }>('orchestrator', 'GET', `/v1/runs/${runId}`, { key: agentKey });
      expect(view.status).toBe(200);
      expect(view.body.status).toBe('completed');
      return view.body;
    }, { timeoutMs: 60000 });
    expect(run.outcome).toBe('verified');
    expect(run.timeline.map((t) => t.kind)).toEqual([
      'intent_received',
      'policy_allow',
      'step_started',
      'context_retrieved',
      'step_started',
      'model_completed',
      'step_started',
      'action_allow',
      'tool_succeeded',
      'step_started',
      'verification_confirmed',
      'run_verified',
    ]);
    // An auditor reads it too; another agent's key does not see it.
    expect((await mesh.http('orchestrator', 'GET', `/v1/runs/${runId}`, { key: auditorKey })).status).toBe(200);
    const otherAgent = await mesh.apiKey('agent', { agentId: 'research-assistant' });
    expect((await mesh.http('orchestrator', 'GET', `/v1/runs/${runId}`, { key: otherAgent })).status).toBe(404);

    const invalid = await mesh.http<{ message: string }>('orchestrator', 'POST', '/v1/intents', { key: agentKey, body: { agentId: 'support-assistant' } });
    expect(invalid.status).toBe(400);
    expect(invalid.body.message).toMatch(/task/);
    const impostor = await mesh.http<{ code: string }>('orchestrator', 'POST', '/v1/intents', { key: agentKey, body: { agentId: 'ghost-agent', task: 'Read acc-001' } });
    expect(impostor.status).toBe(403);
    expect(impostor.body.code).toBe('agent_mismatch');
  });

  it('refuses a request without a credential (401) or with the wrong role (403); /health stays open', async () => {
    const anonymous = await mesh.http<{ code: string }>('orchestrator', 'POST', '/v1/intents', { key: null, body: { agentId: 'support-assistant', task: 'Status of acc-001' } });
    expect(anonymous.status).toBe(401);
    expect(anonymous.body.code).toBe('credential_missing');
    expect(anonymous.headers.get('www-authenticate')).toMatch(/^Bearer /);
    for (const [app, path] of [
      ['telemetry', '/v1/audit/verify'],
      ['telemetry', '/v1/dead-letters'],
      ['policy', '/v1/agents'],
      ['policy', '/v1/api-keys'],
      ['orchestrator', `/v1/runs/${randomUUID()}`],
    ] as const) {
      expect({ path, status: (await mesh.http(app, 'GET', path, { key: null })).status }).toEqual({ path, status: 401 });
    }
    const forged = await mesh.http<{ code: string }>('telemetry', 'GET', '/v1/audit/verify', { key: `gm_${'a'.repeat(12)}_${'A'.repeat(43)}` });
    expect(forged.status).toBe(401);
    expect(forged.body.code).toBe('credential_invalid');
    const agentOnAudit = await mesh.http<{ code: string }>('telemetry', 'GET', '/v1/audit/verify', { key: agentKey });
    expect(agentOnAudit.status).toBe(403);
    expect(agentOnAudit.body.code).toBe('role_forbidden');
    expect((await mesh.http('policy', 'POST', '/v1/api-keys', { key: auditorKey, body: { name: 'x', role: 'operator' } })).status).toBe(403);
    expect((await mesh.http('orchestrator', 'POST', '/v1/intents', { key: auditorKey, body: { task: 't' } })).status).toBe(403);
    // A revoked key is refused from the next request on.
    const created = await mesh.http<{ id: string; key: string }>('policy', 'POST', '/v1/api-keys', { body: { name: 'short-lived auditor', role: 'auditor' } });
    expect(created.status).toBe(201);
    expect((await mesh.http('telemetry', 'GET', '/v1/audit/verify', { key: created.body.key })).status).toBe(200);
    expect((await mesh.http('policy', 'POST', `/v1/api-keys/${created.body.id}/revoke`)).status).toBe(200);
    const revoked = await mesh.http<{ code: string }>('telemetry', 'GET', '/v1/audit/verify', { key: created.body.key });
    expect(revoked.status).toBe(401);
    expect(revoked.body.code).toBe('credential_revoked');
    for (const app of ['policy', 'orchestrator', 'telemetry'] as const) expect((await mesh.http(app, 'GET', '/health', { key: null })).status).toBe(200);
  });

  it('a Kafka intent without a signature lands in the dead letters as intent_unsigned and creates no run', async () => {
    const runId = `unsigned-${randomUUID()}`;
    const signedId = `signed-after-${randomUUID()}`;
    await client.send(Topics.intents, [
      { key: runId, value: intentCloudEvent({ intentId: runId, agentId: 'support-assistant', task: 'Status of acc-001 please', input: { accountId: 'acc-001' } }) },
    ]);
    await client.send(Topics.intents, [{ key: signedId, value: signedIntentCloudEvent(agent, { intentId: signedId, task: 'Status of acc-001 please', input: { accountId: 'acc-001' } }) }]);
    const [letter] = await expectEventually(() => {
      const found = lettersFor(runId);
      expect(found).toHaveLength(1);
      return found;
    }, { timeoutMs: 60000 });
    expect(letter.headers['govmesh_dlq_reason_code']).toBe('intent_unsigned');
    expect(letter.headers['govmesh_dlq_original_topic']).toBe(Topics.intents);
    expect(letter.headers['govmesh_dlq_reason']).toMatch(/govmeshsig/);
    // Policy refused it in the transaction that would have decided it: no decision, so no run ever
    // appears; a signed intent next to it runs as usual.
    await expectEventually(() => expect(resultFor(signedId)).toHaveLength(1), { timeoutMs: 60000 });
    expect(resultFor(runId)).toHaveLength(0);
    expect(await db.query('SELECT 1 FROM orchestrator.runs WHERE id = $1', [runId])).toHaveLength(0);
    expect(await db.query('SELECT 1 FROM policy.decisions WHERE run_id = $1', [runId])).toHaveLength(0);
    expect((await mesh.http('orchestrator', 'GET', `/v1/runs/${runId}`)).status).toBe(404);
    const metrics = await (await fetch(`${mesh.url('policy')}/metrics`)).text();
    expect(metrics).toMatch(/govmesh_intents_rejected_total\{[^}]*reason="intent_unsigned"[^}]*\} 1/);
    await expectEventually(async () => {
      const recorded = await mesh.http<Array<{ reasonCode: string; messageKey: string }>>('telemetry', 'GET', '/v1/dead-letters?limit=100', { key: auditorKey });
      expect(recorded.body.filter((r) => r.messageKey === runId).map((r) => r.reasonCode)).toEqual(['intent_unsigned']);
    }, { timeoutMs: 30000 });
  });

  it('bad input lands in the dead-letter topic with its reason, is counted, and the consumer keeps going', async () => {
    const before = client.messages(Topics.deadLetters).length;
    const unknownType = JSON.parse(intentCloudEvent({ intentId: 'u-1', agentId: 'support-assistant', task: 't' }));
    unknownType.type = 'govmesh.intent.teleported.v9';
    const schemaInvalid = JSON.parse(intentCloudEvent({ intentId: 's-1', agentId: 'support-assistant', task: 't' }));
    delete schemaInvalid.data.task;
    const oversized = intentCloudEvent({ intentId: 'o-1', agentId: 'support-assistant', task: 'x'.repeat(3000), input: { blob: 'y'.repeat(300 * 1024) } });
    await client.send(Topics.intents, [
      { key: 'bad-json', value: '{"specversion": "1.0", "id": ', headers: { 'x-origin': 'fuzzer' } },
      { key: 's-1', value: JSON.stringify(schemaInvalid) },
      { key: 'u-1', value: JSON.stringify(unknownType) },
      { key: 'o-1', value: oversized },
    ]);
    const runId = `after-bad-${randomUUID()}`;
    await client.send(Topics.intents, [{ key: runId, value: signedIntentCloudEvent(agent, { intentId: runId, task: 'acc-001', input: { accountId: 'acc-001' } }) }]);

    const badKeys = ['bad-json', 's-1', 'u-1', 'o-1'];
    const letters = await expectEventually(() => {
      // Telemetry also reads govmesh.intents but leaves these to policy: one dead letter per bad message.
      const fromPolicy = client.messages(Topics.deadLetters).slice(before).filter((m) => m.headers['govmesh_dlq_consumer_group'] === 'govmesh.policy');
      expect(fromPolicy.map((m) => m.headers['govmesh_dlq_reason_code']).sort()).toEqual(['malformed_json', 'oversized', 'schema_invalid', 'unknown_type']);
      return fromPolicy;
    }, { timeoutMs: 60000 });
    const malformed = letters.find((m) => m.headers['govmesh_dlq_reason_code'] === 'malformed_json')!;
    expect(malformed.value?.toString()).toBe('{"specversion": "1.0", "id": ');
    expect(malformed.headers['x-origin']).toBe('fuzzer');
    expect(malformed.headers['govmesh_dlq_original_topic']).toBe(Topics.intents);
    expect(malformed.headers['govmesh_dlq_reason']).toMatch(/not JSON/);
    expect(letters.find((m) => m.headers['govmesh_dlq_reason_code'] === 'schema_invalid')!.headers['govmesh_dlq_reason']).toMatch(/task/);
    expect(letters.find((m) => m.headers['govmesh_dlq_reason_code'] === 'unknown_type')!.headers['govmesh_dlq_reason']).toMatch(/teleported/);

    // The consumer kept going: the good intent behind the bad ones completes.
    await expectEventually(() => expect(resultFor(runId)).toHaveLength(1), { timeoutMs: 60000 });

    // Counted by reason, and visible to auditors through telemetry.
    const metrics = await (await fetch(`${mesh.url('policy')}/metrics`)).text();
    for (const reason of ['malformed_json', 'schema_invalid', 'unknown_type', 'oversized']) {
      expect(metrics).toMatch(new RegExp(`govmesh_dead_letters_total\\{[^}]*topic="govmesh.intents"[^}]*reason="${reason}"[^}]*\\} 1`));
    }
    await expectEventually(async () => {
      const recorded = await mesh.http<Array<{ reasonCode: string; consumerGroup: string; messageKey: string }>>('telemetry', 'GET', '/v1/dead-letters?limit=100', { key: auditorKey });
      expect(recorded.status).toBe(200);
      const mine = recorded.body.filter((r) => r.consumerGroup === 'govmesh.policy' && badKeys.includes(r.messageKey));
      expect(mine.map((r) => r.reasonCode).sort()).toEqual(['malformed_json', 'oversized', 'schema_invalid', 'unknown_type']);
    }, { timeoutMs: 30000 });
  });
});
