import { randomUUID } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { Topics } from '@govmesh/contracts';
import { expectEventually, signedIntentCloudEvent, startMeshFixture, type MeshFixture } from '@govmesh/testing';

const SESSION_TIMEOUT_MS = 6000;
const SANDBOX_LATENCY_MS = 9000;

/**
 * A tool call slower than the Kafka consumer's session timeout. The call runs outside the
 * consumer's batch, so the consumer keeps heartbeating: no rebalance, no redelivery, one call.
 */
describe('a tool slower than the consumer session timeout', () => {
  let fixture: MeshFixture;

  beforeAll(async () => {
    fixture = await startMeshFixture('slow-tool', [Topics.results], {
      KAFKA_SESSION_TIMEOUT_MS: String(SESSION_TIMEOUT_MS),
      GOVMESH_SANDBOX_LATENCY_MS: String(SANDBOX_LATENCY_MS),
    });
  });

  afterAll(async () => {
    await fixture?.stop();
  });

  it('completes each run with one execution and no rebalance of the tool gateway', async () => {
    const { client, db, mesh } = fixture;
    const agent = await mesh.registerAgentKey('support-assistant');
    const runs = Array.from({ length: 3 }, () => `slow-${randomUUID()}`);
    await client.send(
      Topics.intents,
      runs.map((runId) => ({ key: runId, value: signedIntentCloudEvent(agent, { intentId: runId, task: 'Status of acc-001 please', input: { accountId: 'acc-001' } }) })),
    );
    await expectEventually(
      () => {
        for (const runId of runs) expect(client.messages(Topics.results).filter((m) => m.key === runId)).toHaveLength(1);
      },
      { timeoutMs: 90000 },
    );
    for (const runId of runs) {
      const result = client.messages(Topics.results).find((m) => m.key === runId)!.json as { data: { outcome: string } };
      const reads = await db.query<{ n: string }>("SELECT count(*) AS n FROM sandbox.access_log WHERE run_id = $1 AND execution_id::text NOT IN (SELECT id::text FROM tool_gateway.executions WHERE agent_id = 'govmesh-verifier')", [runId]);
      const executions = await db.query<{ n: string }>("SELECT count(*) AS n FROM tool_gateway.executions WHERE run_id = $1 AND agent_id IS DISTINCT FROM 'govmesh-verifier'", [runId]);
      expect({ runId, outcome: result.data.outcome, reads: Number(reads[0].n), executions: Number(executions[0].n) }).toEqual({ runId, outcome: 'verified', reads: 1, executions: 1 });
    }
    const metrics = await (await fetch(`${mesh.url('tool-gateway')}/metrics`)).text();
    // Nothing was redelivered to the gateway: a rebalance mid-batch would have replayed it.
    expect(metrics).not.toMatch(/govmesh_inbox_duplicates_total\{[^}]*service="tool-gateway"[^}]*\} [1-9]/);
    // Three agent calls and the verifier's three reads of the record, each performed once.
    expect(metrics).toMatch(/govmesh_effects_performed_total\{service="tool-gateway",kind="tool_call",outcome="ok"\} 6/);
    const log = readFileSync(join(mesh.logDir, 'tool-gateway.log'), 'utf8');
    expect(log).not.toMatch(/rebalanc/i);
  });
});
