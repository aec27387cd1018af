import { randomUUID } from 'node:crypto';
import { Topics } from '@govmesh/contracts';
import { expectEventually, intentCloudEvent, startMeshFixture, type MeshFixture } from '@govmesh/testing';

/**
 * The mesh as an operator runs it: seven processes, the Kafka-protocol test broker, real
 * Postgres. The producer here is a plain Kafka client that knows only the documented contract.
 */
describe('distributed mesh: seven processes over Kafka and Postgres', () => {
  let fixture: MeshFixture;
  let db: MeshFixture['db'];
  let mesh: MeshFixture['mesh'];
  let client: MeshFixture['client'];

  beforeAll(async () => {
    fixture = await startMeshFixture('distributed', [Topics.results, Topics.deadLetters]);
    ({ db, mesh, client } = fixture);
  });

  afterAll(async () => {
    await fixture?.stop();
  });

  const resultFor = (runId: string) => client.messages(Topics.results).filter((m) => m.key === runId);

  it('an intent published with a plain Kafka client comes back verified on the results topic', async () => {
    const runId = `kafka-${randomUUID()}`;
    await client.send(Topics.intents, [
      { key: runId, value: intentCloudEvent({ intentId: runId, agentId: 'support-assistant', task: 'Status of acc-001 please', input: { accountId: 'acc-001' } }) },
    ]);
    const [result] = await expectEventually(() => {
      const found = resultFor(runId);
      expect(found).toHaveLength(1);
      return found;
    }, { timeoutMs: 60000 });
    const event = result.json as { type: string; subject: string; data: { outcome: string; result: Record<string, unknown>; reasons: Array<{ code: string }> } };
    expect(event.type).toBe('govmesh.run.completed.v1');
    expect(event.subject).toBe(runId);
    expect(event.data.outcome).toBe('verified');
    expect(event.data.reasons[0].code).toBe('read_back_matches');
    expect(event.data.result).toMatchObject({ accountId: 'acc-001', holder: 'Ada Lovelace', status: 'active' });
    expect(result.headers['traceparent']).toMatch(/^00-[0-9a-f]{32}-[0-9a-f]{16}-0[01]$/);

    // The verifier read the record itself, and the tool ran exactly once.
    const verifications = await db.query<{ verdict: string }>('SELECT verdict FROM verifier.verifications WHERE run_id = $1', [runId]);
    expect(verifications).toEqual([{ verdict: 'confirmed' }]);
    const reads = await db.query<{ n: string }>('SELECT count(*) AS n FROM sandbox.access_log WHERE run_id = $1', [runId]);
    expect(Number(reads[0].n)).toBe(1);
    // Telemetry recorded every event of the run in the audit chain.
    await expectEventually(async () => {
      const audit = await db.query<{ type: string }>('SELECT type FROM telemetry.audit_records WHERE run_id = $1 ORDER BY seq', [runId]);
      // Every event of the run: intent, decision, four commands, four outcomes, action and its decision, result.
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
          'govmesh.verification.completed.v1',
          'govmesh.run.completed.v1',
        ].sort(),
      );
    });
    const chain = (await (await fetch(`${mesh.url('telemetry')}/v1/audit/verify`)).json()) as { intact: boolean };
    expect(chain.intact).toBe(true);
  });

  it('an unregistered agent gets a denied result that says why', async () => {
    const runId = `ghost-${randomUUID()}`;
    await client.send(Topics.intents, [{ key: runId, value: intentCloudEvent({ intentId: runId, agentId: 'ghost-agent', task: 'Read acc-001' }) }]);
    const [result] = await expectEventually(() => {
      const found = resultFor(runId);
      expect(found).toHaveLength(1);
      return found;
    }, { timeoutMs: 60000 });
    const data = (result.json as { data: { outcome: string; reasons: Array<{ code: string; message: string }> } }).data;
    expect(data.outcome).toBe('denied');
    expect(data.reasons[0]).toEqual({ code: 'agent_not_registered', message: expect.stringContaining('ghost-agent') });
    const tools = await db.query('SELECT 1 FROM tool_gateway.executions WHERE run_id = $1', [runId]);
    expect(tools).toHaveLength(0);
  });

  it('the HTTP ingress publishes through the same path and serves the run with its timeline', async () => {
    const res = await fetch(`${mesh.url('orchestrator')}/v1/intents`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ agentId: 'support-assistant', task: 'Balance of acc-003?' }),
    });
    expect(res.status).toBe(202);
    const { runId } = (await res.json()) as { runId: string };
    const run = await expectEventually(async () => {
      const view = (await (await fetch(`${mesh.url('orchestrator')}/v1/runs/${runId}`)).json()) as { status: string; outcome: string; timeline: Array<{ kind: string }> };
      expect(view.status).toBe('completed');
      return view;
    }, { timeoutMs: 60000 });
    expect(run.outcome).toBe('verified');
    expect(run.timeline.map((t) => t.kind)).toEqual([
      'intent_received',
      'policy_allow',
      'context_retrieved',
      'model_completed',
      'action_allow',
      'tool_succeeded',
      'verification_confirmed',
      'run_verified',
    ]);
    const invalid = await fetch(`${mesh.url('orchestrator')}/v1/intents`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ agentId: 'x' }) });
    expect(invalid.status).toBe(400);
    expect(((await invalid.json()) as { message: string }).message).toMatch(/task/);
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
    await client.send(Topics.intents, [{ key: runId, value: intentCloudEvent({ intentId: runId, agentId: 'support-assistant', task: 'acc-001', input: { accountId: 'acc-001' } }) }]);

    const letters = await expectEventually(() => {
      // Telemetry also consumes govmesh.intents, so each bad message is dead-lettered by both consumer groups.
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

    // Counted by reason, and visible to operators through telemetry.
    const metrics = await (await fetch(`${mesh.url('policy')}/metrics`)).text();
    for (const reason of ['malformed_json', 'schema_invalid', 'unknown_type', 'oversized']) {
      expect(metrics).toMatch(new RegExp(`govmesh_dead_letters_total\\{[^}]*topic="govmesh.intents"[^}]*reason="${reason}"[^}]*\\} 1`));
    }
    await expectEventually(async () => {
      const recorded = (await (await fetch(`${mesh.url('telemetry')}/v1/dead-letters?limit=100`)).json()) as Array<{ reasonCode: string; consumerGroup: string }>;
      expect(recorded.filter((r) => r.consumerGroup === 'govmesh.policy').map((r) => r.reasonCode).sort()).toEqual(['malformed_json', 'oversized', 'schema_invalid', 'unknown_type']);
    }, { timeoutMs: 30000 });
  });
});
