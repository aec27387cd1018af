import { randomUUID } from 'node:crypto';
import { Topics } from '@govmesh/contracts';
import { expectEventually, signedIntentCloudEvent, startMeshFixture, type AgentSigningKey, type MeshFixture } from '@govmesh/testing';

interface ListedLetter {
  id: string;
  reasonCode: string;
  reason: string;
  originalTopic: string;
  consumerGroup: string;
  messageKey: string | null;
  valueEncoding: string;
  valueBytes: number;
}

/**
 * Issue 9 item 3, as a new user tries it on the real mesh: text Postgres cannot hold and bytes
 * that are not JSON each end as one stored dead letter (and, for an intent, one run result),
 * visible to auditors and in the audit chain, which still verifies.
 */
describe('nothing telemetry receives is lost', () => {
  let fixture: MeshFixture;
  let mesh: MeshFixture['mesh'];
  let client: MeshFixture['client'];
  let db: MeshFixture['db'];
  let agent: AgentSigningKey;
  let auditorKey: string;

  beforeAll(async () => {
    fixture = await startMeshFixture('nothing-lost', [Topics.results, Topics.deadLetters]);
    ({ mesh, client, db } = fixture);
    agent = await mesh.registerAgentKey('support-assistant', '1.1.0');
    auditorKey = await mesh.apiKey('auditor');
  });

  afterAll(async () => {
    await fixture?.stop();
  });

  const resultsFor = (runId: string) => client.messages(Topics.results).filter((m) => m.key === runId);
  const lettersOnTopic = (key: string) => client.messages(Topics.deadLetters).filter((m) => m.key === key);
  const storedLetters = async (key: string) => {
    const res = await mesh.http<ListedLetter[]>('telemetry', 'GET', '/v1/dead-letters?limit=500', { key: auditorKey });
    expect(res.status).toBe(200);
    return res.body.filter((l) => l.messageKey === key);
  };
  const telemetryMetrics = async () => (await fetch(`${mesh.url('telemetry')}/metrics`)).text();

  it('an intent whose task holds U+0000 ends with one dead letter and one denied result that says why', async () => {
    const runId = `nul-task-${randomUUID()}`;
    await client.send(Topics.intents, [{ key: runId, value: signedIntentCloudEvent(agent, { intentId: runId, task: 'Status of acc-001\u0000 please', input: { accountId: 'acc-001' } }) }]);

    const [result] = await expectEventually(() => {
      const found = resultsFor(runId);
      expect(found).toHaveLength(1);
      return found;
    }, { timeoutMs: 60000 });
    const data = (result.json as { data: { outcome: string; reasons: Array<{ code: string; message: string }> } }).data;
    expect(data.outcome).toBe('denied');
    expect(data.reasons[0]).toMatchObject({ code: 'unstorable_text' });
    expect(data.reasons[0].message).toMatch(/\/data\/task.*U\+0000/);

    const [stored] = await expectEventually(async () => {
      const found = await storedLetters(runId);
      expect(found).toHaveLength(1);
      return found;
    }, { timeoutMs: 30000 });
    expect(stored).toMatchObject({ reasonCode: 'unstorable_text', originalTopic: Topics.intents, consumerGroup: 'govmesh.policy' });
    // Telemetry recorded the intent itself, escaped, so it had its turn and did not dead-letter it again.
    await expectEventually(async () => {
      const audited = await db.query<{ task: string }>(`SELECT payload->'data'->>'task' AS task FROM telemetry.audit_records WHERE run_id = $1 AND type = 'govmesh.intent.submitted.v1'`, [runId]);
      expect(audited).toEqual([{ task: 'govmesh-escaped:Status of acc-001\\u0000 please' }]);
    }, { timeoutMs: 30000 });
    expect(lettersOnTopic(runId)).toHaveLength(1);
    expect(await storedLetters(runId)).toHaveLength(1);
    expect(resultsFor(runId)).toHaveLength(1);
    // Policy recorded the refusal as its decision: the same intent id is not decided twice.
    expect(await db.query<{ effect: string }>(`SELECT effect FROM policy.decisions WHERE run_id = $1`, [runId])).toEqual([{ effect: 'deny' }]);

    // Over HTTP the ingress refuses it at once, with the reason.
    const agentKey = await mesh.apiKey('agent', { agentId: 'support-assistant' });
    const refused = await mesh.http<{ code: string; message: string }>('orchestrator', 'POST', '/v1/intents', { key: agentKey, body: { agentId: 'support-assistant', task: 'Status of acc-001\u0000' } });
    expect(refused.status).toBe(400);
    expect(refused.body.code).toBe('unstorable_text');
  });

  it('a binary message starting with a NUL byte ends as one stored dead letter, its bytes only on request, in the chain', async () => {
    const key = `binary-${randomUUID()}`;
    const bytes = Buffer.concat([Buffer.from([0x00, 0xff, 0x00, 0xc3]), Buffer.from('not json at all')]);
    await client.send(Topics.intents, [{ key, value: bytes }]);

    const [stored] = await expectEventually(async () => {
      const found = await storedLetters(key);
      expect(found).toHaveLength(1);
      return found;
    }, { timeoutMs: 60000 });
    expect(stored).toMatchObject({ reasonCode: 'malformed_json', originalTopic: Topics.intents, consumerGroup: 'govmesh.policy', valueEncoding: 'base64', valueBytes: bytes.length });
    expect(stored).not.toHaveProperty('value');
    // Telemetry read it too and left it to policy, whose consumer owns the topic.
    await expectEventually(async () => expect(await telemetryMetrics()).toMatch(/govmesh_rejections_left_to_owner_total\{[^}]*topic="govmesh.intents"[^}]*reason="malformed_json"[^}]*\} 1/), { timeoutMs: 30000 });
    expect(lettersOnTopic(key)).toHaveLength(1);
    expect(await storedLetters(key)).toHaveLength(1);

    const path = `/v1/dead-letters/${encodeURIComponent(stored.id)}`;
    const metadata = await mesh.http<Record<string, unknown>>('telemetry', 'GET', path, { key: auditorKey });
    expect(metadata.status).toBe(200);
    expect(metadata.body).toMatchObject({ id: stored.id, reasonCode: 'malformed_json', valueBytes: bytes.length });
    expect(metadata.body).not.toHaveProperty('value');
    const whole = await mesh.http<{ value: string; valueEncoding: string }>('telemetry', 'GET', `${path}?include=value`, { key: auditorKey });
    expect(whole.body.valueEncoding).toBe('base64');
    expect(Buffer.from(whole.body.value, 'base64').equals(bytes)).toBe(true);
    expect((await mesh.http('telemetry', 'GET', `${path}?include=value`, { key: null })).status).toBe(401);
    expect((await mesh.http('telemetry', 'GET', `${path}?include=value`, { key: await mesh.apiKey('reviewer') })).status).toBe(403);

    const chained = await db.query<{ type: string }>(`SELECT type FROM telemetry.audit_records WHERE event_id = $1`, [`dlq:${stored.id}`]);
    expect(chained).toEqual([{ type: 'govmesh.deadletter.recorded' }]);
    const verdict = await mesh.http<{ intact: boolean }>('telemetry', 'GET', '/v1/audit/verify?from=genesis', { key: auditorKey });
    expect(verdict.status).toBe(200);
    expect(verdict.body.intact).toBe(true);
  });
});
