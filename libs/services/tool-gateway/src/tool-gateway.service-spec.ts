import { randomUUID } from 'node:crypto';
import { issueGrant } from '@govmesh/action-grants';
import { ServiceKeys } from '@govmesh/nest-runtime';
import { generateKeyPair } from '@govmesh/signing';
import { EventTypes, Topics, type GovmeshEvent } from '@govmesh/contracts';
import { ServiceHarness } from '@govmesh/testing';
import { TOOL_GATEWAY_DATABASE } from './database';
import { grantTools } from './registry/tool-grants.fixtures';
import { ToolGatewayServiceModule } from './tool-gateway.module';

const SCHEMA = TOOL_GATEWAY_DATABASE.schema;
const TOOL = 'sandbox.lookup_account';

describe('tool gateway: calls performed outside the batch transaction, once per key', () => {
  let h: ServiceHarness;

  beforeAll(async () => {
    h = await ServiceHarness.start({ modules: [ToolGatewayServiceModule], schemas: [SCHEMA] });
    await grantTools(h, 'support-assistant', [TOOL]);
  });

  afterAll(async () => {
    await h?.close();
  });

  /** A tool request carrying a grant as policy issues it (signed with the embedded grant key), unless told otherwise. */
  function request(
    runId: string,
    args: Record<string, unknown> = { accountId: 'acc-001' },
    grantId = randomUUID(),
    options: { agentId?: string; issuedAt?: Date; ttlSeconds?: number; signingKey?: string; binding?: { runId: string; stepId: string } } = {},
  ): GovmeshEvent<typeof EventTypes.ToolRequested> {
    const agentId = options.agentId ?? 'support-assistant';
    const key = options.signingKey ?? h.app.get(ServiceKeys).signingKey('grant');
    const grant = issueGrant(key, { agentId, agentVersion: '1.0.0', tool: TOOL, arguments: args, policyVersion: 'p1' }, options.binding ?? { runId, stepId: 'execute' }, grantId, options.issuedAt ?? new Date(), options.ttlSeconds ?? 30);
    return h.event(EventTypes.ToolRequested, { runId, stepId: 'execute', agentId, agentVersion: '1.0.0', tool: TOOL, arguments: args, grant });
  }

  const accessCount = async (runId: string) =>
    (await h.query<{ n: number }>(`SELECT count(*)::int AS n FROM "sandbox"."access_log" WHERE run_id = $1`, [runId]))[0].n;
  const results = (runId: string) => h.emitted(EventTypes.ToolExecuted).filter((e) => e.data.runId === runId);

  it('a granted call is reserved, performed after commit and recorded with its claim', async () => {
    const runId = `r-${randomUUID()}`;
    await h.send(request(runId));
    expect(results(runId)).toHaveLength(1);
    expect(results(runId)[0].data).toMatchObject({ status: 'succeeded', claim: { system: 'sandbox', entity: 'account', id: 'acc-001' } });
    expect(await accessCount(runId)).toBe(1);
    const [row] = await h.query<{ status: string }>(`SELECT status FROM "${SCHEMA}"."executions" WHERE run_id = $1`, [runId]);
    expect(row.status).toBe('succeeded');
    expect(await h.query(`SELECT 1 FROM "${SCHEMA}"."effects"`)).toHaveLength(0);
  });

  it('a batch rolled back by a failing neighbour performs each of its other calls exactly once', async () => {
    const prefix = `rollback-${randomUUID()}`;
    // The neighbour's write fails inside the batch transaction, which rolls the whole batch back.
    await h.query(`CREATE OR REPLACE FUNCTION "${SCHEMA}".refuse_poison() RETURNS trigger AS $$ BEGIN RAISE EXCEPTION 'poison row for %', NEW.run_id; END $$ LANGUAGE plpgsql`);
    await h.query(`CREATE TRIGGER refuse_poison BEFORE INSERT ON "${SCHEMA}"."executions" FOR EACH ROW WHEN (NEW.run_id LIKE '%-poison') EXECUTE FUNCTION "${SCHEMA}".refuse_poison()`);
    try {
      const runs = Array.from({ length: 6 }, (_, i) => `${prefix}-${i}`);
      const poison = `${prefix}-poison`;
      const before = h.published(Topics.deadLetters).length;
      // One key: the seven requests land on one partition and are consumed as one batch.
      await h.send(...[...runs.slice(0, 3), poison, ...runs.slice(3)].map((runId) => ({ ...request(runId) })).map((e) => ({ topic: Topics.toolCommands, key: prefix, value: Buffer.from(JSON.stringify(e)), headers: { ce_type: e.type } })));
      for (const runId of runs) {
        expect({ runId, performed: await accessCount(runId), results: results(runId).length }).toEqual({ runId, performed: 1, results: 1 });
      }
      expect(await accessCount(poison)).toBe(0);
      const letters = h.published(Topics.deadLetters).slice(before);
      expect(letters.map((l) => l.headers['govmesh_dlq_reason_code'])).toEqual(['handler_failed']);
      expect(letters[0].headers['govmesh_dlq_reason']).toContain('poison row');
    } finally {
      await h.query(`DROP TRIGGER refuse_poison ON "${SCHEMA}"."executions"`);
    }
  });

  it('a grant used a second time is refused and nothing is performed again', async () => {
    const runId = `r-${randomUUID()}`;
    const first = request(runId);
    await h.send(first);
    const replay = h.event(EventTypes.ToolRequested, first.data);
    await h.send(replay);
    expect(results(runId).map((r) => r.data.status)).toEqual(['succeeded', 'rejected']);
    expect(results(runId)[1].data.reasons[0].code).toBe('grant_already_used');
    expect(await accessCount(runId)).toBe(1);
  });

  it('two requests with one grant in the same batch: one runs, the other is refused', async () => {
    const runId = `r-${randomUUID()}`;
    const grantId = randomUUID();
    await h.send(request(runId, { accountId: 'acc-001' }, grantId), request(runId, { accountId: 'acc-001' }, grantId));
    expect(results(runId).map((r) => r.data.status).sort()).toEqual(['rejected', 'succeeded']);
    expect(await accessCount(runId)).toBe(1);
  });

  it('a grant for other arguments is refused before anything is reserved', async () => {
    const runId = `r-${randomUUID()}`;
    const granted = request(runId, { accountId: 'acc-001' });
    await h.send(h.event(EventTypes.ToolRequested, { ...granted.data, arguments: { accountId: 'acc-003' } }));
    expect(results(runId)[0].data).toMatchObject({ status: 'rejected', reasons: [{ code: 'grant_digest_mismatch' }] });
    expect(await accessCount(runId)).toBe(0);
  });

  describe('grants: signed by policy alone, bound to the exact action, run and step, short-lived, single-use', () => {
    const refusal = async (event: GovmeshEvent<typeof EventTypes.ToolRequested>) => {
      await h.send(event);
      const [result] = results(event.data.runId);
      expect(await accessCount(event.data.runId)).toBe(0);
      return { status: result.data.status, code: result.data.reasons[0]?.code };
    };

    it('a grant issued for amount 1 cannot execute amount 82000', async () => {
      const runId = `r-${randomUUID()}`;
      const granted = request(runId, { accountId: 'acc-001', amount: 1 });
      expect(await refusal(h.event(EventTypes.ToolRequested, { ...granted.data, arguments: { accountId: 'acc-001', amount: 82000 } }))).toEqual({ status: 'rejected', code: 'grant_digest_mismatch' });
    });

    it('a grant cannot be used on another run or another step', async () => {
      const runId = `r-${randomUUID()}`;
      expect(await refusal(request(runId, undefined, undefined, { binding: { runId: `r-other-${randomUUID()}`, stepId: 'execute' } }))).toEqual({ status: 'rejected', code: 'grant_wrong_run' });
      const stepRun = `r-${randomUUID()}`;
      expect(await refusal(request(stepRun, undefined, undefined, { binding: { runId: stepRun, stepId: 'another-step' } }))).toEqual({ status: 'rejected', code: 'grant_wrong_run' });
    });

    it('a grant cannot be used after it expired', async () => {
      const runId = `r-${randomUUID()}`;
      expect(await refusal(request(runId, undefined, undefined, { issuedAt: new Date(Date.now() - 60_000), ttlSeconds: 30 }))).toEqual({ status: 'rejected', code: 'grant_expired' });
    });

    it('a grant signed with any key but policy\'s is refused', async () => {
      const runId = `r-${randomUUID()}`;
      expect(await refusal(request(runId, undefined, undefined, { signingKey: generateKeyPair().privateKeySeed }))).toEqual({ status: 'rejected', code: 'grant_key_unknown' });
    });

    it("a grant stops working when its agent is suspended or its version's key revoked, before it expires", async () => {
      const agentId = `agent-${randomUUID()}`;
      await grantTools(h, agentId, [TOOL]);
      const change = (status: 'active' | 'suspended', revokedVersions: string[] = []) =>
        h.event(EventTypes.AgentChanged, { agentId, change: 'status_changed', agent: { version: '1.0.0', owner: 'o', tier: 'execute_low', status, revokedVersions }, actor: { kind: 'operator', id: 'key:test' } });
      const live = `r-${randomUUID()}`;
      await h.send(request(live, undefined, undefined, { agentId }));
      expect(results(live)[0].data.status).toBe('succeeded');
      await h.send(change('suspended'));
      expect(await refusal(request(`r-${randomUUID()}`, undefined, undefined, { agentId }))).toEqual({ status: 'rejected', code: 'agent_not_active' });
      await h.send(change('active', ['1.0.0']));
      expect(await refusal(request(`r-${randomUUID()}`, undefined, undefined, { agentId }))).toEqual({ status: 'rejected', code: 'grant_revoked' });
    });
  });

  it('an effect found in flight after a crash is performed again under the same key, and the sandbox acts once', async () => {
    const runId = `r-${randomUUID()}`;
    const executionId = randomUUID();
    const key = `tool:crash-${randomUUID()}`;
    // What a crash between perform and record leaves: the call reached the sandbox, the lease ran out.
    await h.query(`INSERT INTO "${SCHEMA}"."executions" (id, run_id, step_id, tool, grant_id, arguments, status) VALUES ($1, $2, 'execute', $3, $4, $5, 'in_progress')`, [
      executionId,
      runId,
      TOOL,
      randomUUID(),
      JSON.stringify({ accountId: 'acc-001' }),
    ]);
    await h.query(`INSERT INTO "sandbox"."access_log" (account_id, run_id, execution_id, operation, idempotency_key) VALUES ('acc-001', $1, $2, 'read', $3)`, [runId, executionId, key]);
    await h.query(
      `INSERT INTO "${SCHEMA}"."effects" (key, kind, run_id, payload, status, attempts, timeout_ms, lease_until) VALUES ($1, 'tool_call', $2, $3, 'in_progress', 1, 1000, now() - interval '1 second')`,
      [key, runId, JSON.stringify({ executionId, agentId: 'support-assistant', agentVersion: '1.0.0', runId, stepId: 'execute', tool: TOOL, arguments: { accountId: 'acc-001' }, causeId: randomUUID() })],
    );
    await waitFor(async () => results(runId).length === 1);
    await h.settle();
    expect(results(runId)[0].data.status).toBe('succeeded');
    expect(await accessCount(runId)).toBe(1);
  });
});

async function waitFor(check: () => Promise<boolean>, timeoutMs = 5000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error('condition not met in time');
    await new Promise((r) => setTimeout(r, 25));
  }
}
