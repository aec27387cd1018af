import { randomUUID } from 'node:crypto';
import { Global, Module } from '@nestjs/common';
import { issueGrant } from '@govmesh/action-grants';
import { EventTypes, type GovmeshEvent } from '@govmesh/contracts';
import { ServiceKeys } from '@govmesh/nest-runtime';
import { ServiceHarness } from '@govmesh/testing';
import { TOOL_GATEWAY_DATABASE } from '../database';
import { grantTools, SANDBOX_TOOLS } from '../registry/tool-grants.fixtures';
import { ToolGatewayServiceModule } from '../tool-gateway.module';
import { MEDIATION_SETTINGS, type MediationSettings } from './settings';

const SCHEMA = TOOL_GATEWAY_DATABASE.schema;
const COOLDOWN_MS = 400;

/** Short cool-down, low threshold, small buckets (one token a second) so that the cases run fast. */
@Global()
@Module({
  providers: [
    {
      provide: MEDIATION_SETTINGS,
      useValue: {
        breaker: { failureThreshold: 2, cooldownMs: COOLDOWN_MS },
        agentRateLimit: { perMinute: 60, burst: 3 },
        toolRateLimits: { 'contracts.lookup': { perMinute: 60, burst: 2 } },
      } satisfies Partial<MediationSettings>,
    },
  ],
  exports: [MEDIATION_SETTINGS],
})
class MediationTestSettings {}

describe('tool gateway mediation: circuit breakers, rate limits, output validation', () => {
  let h: ServiceHarness;

  beforeAll(async () => {
    h = await ServiceHarness.start({ modules: [MediationTestSettings, ToolGatewayServiceModule], schemas: [SCHEMA], env: { GOVMESH_TOOL_TIMEOUT_MS: '200' } });
  });

  afterAll(async () => {
    await h?.close();
  });

  afterEach(() => {
    h.config.sandboxLatencyMs = 0;
  });

  /** A granted request; every request of another agent unless one is named (each agent has its own bucket). */
  /** Agents of these tests hold every sandbox tool (granted on first use). */
  const granted = new Set<string>();
  async function grant(agentId: string): Promise<void> {
    if (granted.has(agentId)) return;
    granted.add(agentId);
    await grantTools(h, agentId, SANDBOX_TOOLS);
  }

  async function send(...events: Array<GovmeshEvent<typeof EventTypes.ToolRequested>>): Promise<void> {
    for (const e of events) await grant(e.data.agentId);
    await h.send(...events);
  }

  function request(tool: string, args: Record<string, unknown>, agentId = `agent-${randomUUID()}`): GovmeshEvent<typeof EventTypes.ToolRequested> {
    const runId = `r-${randomUUID()}`;
    const grant = issueGrant(h.app.get(ServiceKeys).signingKey('grant'), { agentId, agentVersion: '1.0.0', tool, arguments: args, policyVersion: 'p1' }, { runId, stepId: 'execute' }, randomUUID(), new Date(), 30);
    return h.event(EventTypes.ToolRequested, { runId, stepId: 'execute', agentId, agentVersion: '1.0.0', tool, arguments: args, grant });
  }

  const result = (event: GovmeshEvent<typeof EventTypes.ToolRequested>) => {
    const found = h.emitted(EventTypes.ToolExecuted).filter((e) => e.data.runId === event.data.runId);
    expect(found).toHaveLength(1);
    const d = found[0].data;
    return { status: d.status, code: d.reasons[0]?.code, retryable: d.retryable ?? false };
  };
  const sendOne = async (event: GovmeshEvent<typeof EventTypes.ToolRequested>) => {
    await send(event);
    return result(event);
  };
  const accessCount = async (runId: string) => (await h.query<{ n: number }>(`SELECT count(*)::int AS n FROM "sandbox"."access_log" WHERE run_id = $1`, [runId]))[0].n;
  const metric = async (name: 'toolBreakerState' | 'toolBreakerTransitions' | 'toolRateLimited', labels: Record<string, string>) =>
    (await h.metrics[name].get()).values.find((v) => Object.entries(labels).every(([k, value]) => (v.labels as Record<string, string | number | undefined>)[k] === value))?.value ?? 0;

  describe('circuit breaker', () => {
    const lookup = () => request('sandbox.lookup_account', { accountId: 'acc-001' });

    it('opens after repeated timeouts, refuses calls without reaching the system, and lets a trial through after the cool-down', async () => {
      const connection = { connection: 'sandbox-accounts' };
      // The system answers after the gateway gave up on it.
      h.config.sandboxLatencyMs = 1000;
      expect(await sendOne(lookup())).toEqual({ status: 'failed', code: 'tool_timed_out', retryable: true });
      expect(await metric('toolBreakerState', connection)).toBe(0);
      expect(await sendOne(lookup())).toEqual({ status: 'failed', code: 'tool_timed_out', retryable: true });
      expect(await metric('toolBreakerState', connection)).toBe(2);
      expect(await metric('toolBreakerTransitions', { ...connection, to: 'open' })).toBe(1);

      // Open: the system is fast again, but the breaker answers without calling it.
      h.config.sandboxLatencyMs = 0;
      const refused = lookup();
      expect(await sendOne(refused)).toEqual({ status: 'failed', code: 'circuit_open', retryable: true });
      expect(await accessCount(refused.data.runId)).toBe(0);
      const [row] = await h.query<{ status: string }>(`SELECT status FROM "${SCHEMA}"."executions" WHERE run_id = $1`, [refused.data.runId]);
      expect(row.status).toBe('failed');

      // Half-open after the cool-down: one trial goes through and, succeeding, closes the breaker.
      await new Promise((r) => setTimeout(r, COOLDOWN_MS + 50));
      const trial = lookup();
      expect(await sendOne(trial)).toEqual({ status: 'succeeded', code: 'read_completed', retryable: false });
      expect(await accessCount(trial.data.runId)).toBe(1);
      expect(await metric('toolBreakerState', connection)).toBe(0);
      expect(await metric('toolBreakerTransitions', { ...connection, to: 'half_open' })).toBe(1);
      expect(await metric('toolBreakerTransitions', { ...connection, to: 'closed' })).toBe(1);
      expect(await sendOne(lookup())).toMatchObject({ status: 'succeeded' });
    });

    it('retryable failures open the breaker of their connection for every tool on it; business refusals do not count', async () => {
      const unavailable = () => request('invoices.approve_payment', { invoiceId: 'inv-1010', amount: 640, currency: 'EUR' });
      const notPayable = () => request('invoices.approve_payment', { invoiceId: 'inv-1001', amount: 1, currency: 'EUR' });
      // Refusals on the merits, however many, leave it closed.
      for (let i = 0; i < 3; i++) expect(await sendOne(notPayable())).toMatchObject({ status: 'failed', code: 'amount_mismatch', retryable: false });
      expect(await metric('toolBreakerState', { connection: 'sandbox-erp' })).toBe(0);
      expect(await sendOne(unavailable())).toEqual({ status: 'failed', code: 'system_unavailable', retryable: true });
      expect(await sendOne(unavailable())).toEqual({ status: 'failed', code: 'system_unavailable', retryable: true });
      expect(await metric('toolBreakerState', { connection: 'sandbox-erp' })).toBe(2);
      // Another tool of the same ERP is refused too; another connection is not.
      expect(await sendOne(request('invoices.lookup', { invoiceId: 'inv-1001' }))).toEqual({ status: 'failed', code: 'circuit_open', retryable: true });
      expect(await sendOne(request('contracts.lookup', { contractId: 'ctr-2001' }))).toMatchObject({ status: 'succeeded' });
      // A failing trial opens it again.
      await new Promise((r) => setTimeout(r, COOLDOWN_MS + 50));
      expect(await sendOne(unavailable())).toEqual({ status: 'failed', code: 'system_unavailable', retryable: true });
      expect(await metric('toolBreakerState', { connection: 'sandbox-erp' })).toBe(2);
      await new Promise((r) => setTimeout(r, COOLDOWN_MS + 50));
      expect(await sendOne(request('invoices.lookup', { invoiceId: 'inv-1001' }))).toMatchObject({ status: 'succeeded' });
      expect(await metric('toolBreakerState', { connection: 'sandbox-erp' })).toBe(0);
    });
  });

  describe('rate limits', () => {
    it('an agent past its burst is refused (failed, rate_limited, retryable) and nothing is performed; after the refill it may call again', async () => {
      const agentId = `agent-${randomUUID()}`;
      const before = await metric('toolRateLimited', { tool: 'sandbox.lookup_account', scope: 'agent' });
      const calls = Array.from({ length: 4 }, () => request('sandbox.lookup_account', { accountId: 'acc-003' }, agentId));
      await send(...calls);
      const outcomes = calls.map(result);
      expect(outcomes.filter((o) => o.status === 'succeeded')).toHaveLength(3);
      const limited = calls.filter((_, i) => outcomes[i].status !== 'succeeded');
      expect(limited.map(result)).toEqual([{ status: 'failed', code: 'rate_limited', retryable: true }]);
      expect(await accessCount(limited[0].data.runId)).toBe(0);
      expect(await metric('toolRateLimited', { tool: 'sandbox.lookup_account', scope: 'agent' })).toBe(before + 1);
      // The grant was not used up: the refused call holds no grant.
      const [row] = await h.query<{ status: string; grant_id: string | null }>(`SELECT status, grant_id FROM "${SCHEMA}"."executions" WHERE run_id = $1`, [limited[0].data.runId]);
      expect(row).toEqual({ status: 'failed', grant_id: null });
      // Another agent has its own bucket.
      expect(await sendOne(request('sandbox.lookup_account', { accountId: 'acc-003' }))).toMatchObject({ status: 'succeeded' });
      await new Promise((r) => setTimeout(r, 1100));
      expect(await sendOne(request('sandbox.lookup_account', { accountId: 'acc-003' }, agentId))).toMatchObject({ status: 'succeeded' });
    });

    it("a tool past its own burst is refused for every agent, and the agents' tokens are not drawn", async () => {
      const agentId = `agent-${randomUUID()}`;
      const before = await metric('toolRateLimited', { tool: 'contracts.lookup', scope: 'tool' });
      const lookup = (agent?: string) => request('contracts.lookup', { contractId: 'ctr-2002' }, agent);
      expect(await sendOne(lookup())).toMatchObject({ status: 'succeeded' });
      expect(await sendOne(lookup())).toMatchObject({ status: 'succeeded' });
      expect(await sendOne(lookup(agentId))).toEqual({ status: 'failed', code: 'rate_limited', retryable: true });
      expect(await metric('toolRateLimited', { tool: 'contracts.lookup', scope: 'tool' })).toBe(before + 1);
      // The refused agent still has its whole burst of 3 for other tools.
      const agentCalls = Array.from({ length: 3 }, () => request('sandbox.lookup_account', { accountId: 'acc-001' }, agentId));
      await send(...agentCalls);
      expect(agentCalls.map(result).map((o) => o.status)).toEqual(['succeeded', 'succeeded', 'succeeded']);
      const [bucket] = await h.query<{ tokens: number }>(`SELECT tokens FROM "${SCHEMA}"."rate_buckets" WHERE key = 'tool:contracts.lookup'`);
      expect(bucket.tokens).toBeLessThan(1);
      await new Promise((r) => setTimeout(r, 1100));
      expect(await sendOne(lookup())).toMatchObject({ status: 'succeeded' });
    });

    it('a replay under an idempotency key draws no token', async () => {
      const agentId = `agent-${randomUUID()}`;
      const first = request('sandbox.lookup_account', { accountId: 'acc-001' }, agentId);
      const keyed = h.event(EventTypes.ToolRequested, { ...first.data, idempotencyKey: `${first.data.runId}:exec-1` });
      await send(keyed);
      // Five more asks of the same action under the key: answered from the first, no tokens.
      for (let i = 0; i < 5; i++) await send(h.event(EventTypes.ToolRequested, keyed.data));
      const codes = h.emitted(EventTypes.ToolExecuted).filter((e) => e.data.runId === keyed.data.runId).map((e) => e.data.status);
      expect(codes).toEqual(Array(6).fill('succeeded'));
      const [bucket] = await h.query<{ tokens: number }>(`SELECT tokens FROM "${SCHEMA}"."rate_buckets" WHERE key = $1`, [`agent:${agentId}`]);
      expect(bucket.tokens).toBeGreaterThanOrEqual(2);
    });
  });

  describe('output validation', () => {
    it('output that does not match the tool\'s schema fails output_invalid, not retryable, and passes nothing on', async () => {
      // The ERP answers a currency the schema does not allow.
      await h.query(`UPDATE "sandbox"."invoices" SET currency = 'eur' WHERE id = 'inv-1008'`);
      try {
        const call = request('invoices.lookup', { invoiceId: 'inv-1008' });
        expect(await sendOne(call)).toEqual({ status: 'failed', code: 'output_invalid', retryable: false });
        const [executed] = h.emitted(EventTypes.ToolExecuted).filter((e) => e.data.runId === call.data.runId);
        expect(executed.data.output).toBeUndefined();
        expect(executed.data.claim).toBeUndefined();
        expect(executed.data.reasons[0].message).toContain('/currency must match pattern');
      } finally {
        await h.query(`UPDATE "sandbox"."invoices" SET currency = 'EUR' WHERE id = 'inv-1008'`);
      }
      expect(await sendOne(request('invoices.lookup', { invoiceId: 'inv-1008' }))).toMatchObject({ status: 'succeeded' });
    });
  });
});
