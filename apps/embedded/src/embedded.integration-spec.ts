import type { NestExpressApplication } from '@nestjs/platform-express';
import { createGovmeshApp } from '@govmesh/nest-runtime';
import { expectEventually } from '@govmesh/testing';
import { DEMO_INTENTS, runDemo } from './demo';
import { ALL_SERVICE_MODULES } from './modules';

/**
 * The newcomer's path: every service in one process on the in-process transport and the
 * embedded database (PGlite, same migrations), driven through the HTTP ingress.
 */
describe('embedded mesh: one process, no Kafka, no Postgres server', () => {
  let app: NestExpressApplication;
  let base: string;
  const saved = { ...process.env };

  beforeAll(async () => {
    delete process.env['KAFKA_BROKERS'];
    delete process.env['DATABASE_URL'];
    process.env['GOVMESH_DATA_DIR'] = 'memory://';
    process.env['LOG_LEVEL'] = 'warn';
    app = await createGovmeshApp({ processName: 'embedded', defaultPort: 0, modules: ALL_SERVICE_MODULES, requireDistributed: false });
    await app.listen(0, '127.0.0.1');
    base = (await app.getUrl()).replace('[::1]', '127.0.0.1');
  });

  afterAll(async () => {
    await app?.close();
    process.env = saved;
  });

  it('the demo workload completes: allowed intents are verified, the others denied or failed with reasons', async () => {
    const lines: string[] = [];
    const views = await runDemo(base, (line) => lines.push(line), 60000);
    expect(views).toHaveLength(DEMO_INTENTS.length);
    const outcomes = views.map((v) => v.outcome).sort();
    expect(outcomes).toEqual(['denied', 'denied', 'denied', 'failed', 'verified', 'verified']);
    const reasonCodes = views.map((v) => v.reasons[0].code).sort();
    expect(reasonCodes).toEqual(['account_not_found', 'agent_not_registered', 'forbidden_by_policy', 'no_permit', 'read_back_matches', 'read_back_matches']);
    expect(lines.join('\n')).toContain('ghost-agent');
  });

  it('serves health and govmesh metrics on one port', async () => {
    const health = await fetch(`${base}/health`);
    expect(health.status).toBe(200);
    const body = (await health.json()) as { status: string; info: Record<string, { status: string }> };
    expect(body.status).toBe('ok');
    expect(Object.keys(body.info).sort()).toEqual(['context', 'model-router', 'orchestrator', 'policy', 'telemetry', 'tool-gateway', 'verifier']);
    const metrics = await (await fetch(`${base}/metrics`)).text();
    expect(metrics).toMatch(/govmesh_runs_completed_total\{service="orchestrator",outcome="verified"\} [1-9]/);
    expect(metrics).toMatch(/govmesh_policy_decisions_total\{service="policy",effect="deny",subject="intent"\} [1-9]/);
    expect(metrics).toContain('govmesh_process_cpu_seconds_total');
  });

  it('keeps per-run order and an intact audit chain under a burst of intents', async () => {
    const runIds: string[] = [];
    for (let i = 0; i < 40; i++) {
      const res = await fetch(`${base}/v1/intents`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ agentId: 'support-assistant', task: `burst ${i}`, input: { accountId: i % 2 ? 'acc-001' : 'acc-003' } }),
      });
      runIds.push(((await res.json()) as { runId: string }).runId);
    }
    await expectEventually(async () => {
      for (const id of runIds) {
        const view = (await (await fetch(`${base}/v1/runs/${id}`)).json()) as { outcome: string };
        expect(view.outcome).toBe('verified');
      }
    }, { timeoutMs: 60000, intervalMs: 250 });
    const chain = (await (await fetch(`${base}/v1/audit/verify`)).json()) as { intact: boolean; length: number };
    expect(chain.intact).toBe(true);
    expect(chain.length).toBeGreaterThanOrEqual(40 * 13);
  });

  it('rejects an intent that does not match the contract with a reason, and resubmitting an id is idempotent', async () => {
    const bad = await fetch(`${base}/v1/intents`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ agentId: 'support-assistant', task: '', extra: 1 }) });
    expect(bad.status).toBe(400);
    expect(((await bad.json()) as { code: string; message: string })).toMatchObject({ code: 'invalid_intent', message: expect.stringMatching(/task|extra/) });
    expect(await (await fetch(`${base}/metrics`)).text()).toMatch(/govmesh_intents_rejected_total\{service="orchestrator",reason="invalid_intent"\} [1-9]/);
    const body = JSON.stringify({ intentId: 'idempotent-1', agentId: 'support-assistant', task: 'acc-001', input: { accountId: 'acc-001' } });
    const first = await fetch(`${base}/v1/intents`, { method: 'POST', headers: { 'content-type': 'application/json' }, body });
    const second = await fetch(`${base}/v1/intents`, { method: 'POST', headers: { 'content-type': 'application/json' }, body });
    expect([first.status, second.status]).toEqual([202, 200]);
    expect(((await second.json()) as { created: boolean }).created).toBe(false);
  });
});
