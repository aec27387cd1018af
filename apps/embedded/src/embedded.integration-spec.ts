import type { NestExpressApplication } from '@nestjs/platform-express';
import { ApiKeyStore, createGovmeshApp } from '@govmesh/nest-runtime';
import { expectEventually } from '@govmesh/testing';
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { DEMO_INTENTS, runDemo, runWorkflowDemo } from './demo';
import { ALL_SERVICE_MODULES } from './modules';

/**
 * The newcomer's path: every service in one process on the in-process transport and the
 * embedded database (PGlite, same migrations), driven through the HTTP ingress.
 */
describe('embedded mesh: one process, no Kafka, no Postgres server', () => {
  let app: NestExpressApplication;
  let base: string;
  let operatorKey: string;
  let agentKey: string;
  const saved = { ...process.env };
  const call = async <T>(method: string, path: string, key: string | null, body?: unknown): Promise<{ status: number; body: T }> => {
    const res = await fetch(`${base}${path}`, {
      method,
      headers: { ...(key ? { authorization: `Bearer ${key}` } : {}), ...(body !== undefined ? { 'content-type': 'application/json' } : {}) },
      body: body === undefined ? undefined : JSON.stringify(body),
    });
    const text = await res.text();
    return { status: res.status, body: (text.startsWith('{') || text.startsWith('[') ? JSON.parse(text) : text) as T };
  };

  /** Runs a printed command in a shell, as a reviewer pastes it (asynchronously: this process serves the API). */
  const shell = async (command: string) => JSON.parse((await promisify(execFile)('sh', ['-c', command], { encoding: 'utf8' })).stdout) as Record<string, unknown>;

  beforeAll(async () => {
    delete process.env['KAFKA_BROKERS'];
    delete process.env['DATABASE_URL'];
    process.env['GOVMESH_DATA_DIR'] = 'memory://';
    process.env['LOG_LEVEL'] = 'warn';
    app = await createGovmeshApp({ processName: 'embedded', defaultPort: 0, modules: ALL_SERVICE_MODULES, requireDistributed: false });
    await app.listen(0, '127.0.0.1');
    base = (await app.getUrl()).replace('[::1]', '127.0.0.1');
    operatorKey = app.get(ApiKeyStore).operatorKey!;
    agentKey = (await call<{ key: string }>('POST', '/v1/api-keys', operatorKey, { name: 'integration', role: 'agent', agentId: 'support-assistant' })).body.key;
  });

  afterAll(async () => {
    await app?.close();
    process.env = saved;
  });

  it('the demo workload completes: allowed intents are verified, the others denied, failed or refused with reasons', async () => {
    const lines: string[] = [];
    const views = await runDemo(base, operatorKey, (line) => lines.push(line), 60000);
    expect(views).toHaveLength(DEMO_INTENTS.filter((i) => !i.submittedBy).length);
    const outcomes = views.map((v) => v.outcome).sort();
    expect(outcomes).toEqual(['denied', 'denied', 'failed', 'verified']);
    const reasonCodes = views.map((v) => v.reasons[0].code).sort();
    expect(reasonCodes).toEqual(['account_not_found', 'classification_above_clearance', 'no_permit', 'verified']);
    const printed = lines.join('\n');
    expect(printed).toContain('agent_mismatch');
    expect(printed).toMatch(/legacy-batch-bot\s+key refused 400\s+-\s+agent_retired/);
    // The demo's keys are revoked when it ends.
    const keys = (await call<Array<{ name: string; revokedAt: string | null }>>('GET', '/v1/api-keys', operatorKey)).body.filter((k) => k.name.startsWith('demo '));
    expect(keys.length).toBeGreaterThan(0);
    expect(keys.every((k) => k.revokedAt !== null)).toBe(true);
  });

  it('the workflow demo pays the small invoice alone, leaves the large one for finance-ops, and the printed commands approve it to verified', async () => {
    const lines: string[] = [];
    const demo = await runWorkflowDemo(base, operatorKey, 'memory://', (line) => lines.push(line), 60000);
    const printed = lines.join('\n');
    expect(printed).toMatch(/inv-1001\s+1200 EUR\s+verified/);
    expect(printed).toMatch(/inv-1003\s+7400 EUR\s+awaiting_approval\s+require_approval_by_policy/);
    expect(demo.waiting).not.toBeNull();
    const [list, approve] = demo.waiting!.commands;
    expect(printed).toContain(list);
    expect(printed).toContain(approve);
    // A reviewer runs the printed commands as they are, in a shell.
    const listed = (await shell(list)) as { items: Array<{ id: string; runId: string; digest: string; groups: string[] }> };
    expect(listed.items).toEqual(expect.arrayContaining([expect.objectContaining({ id: demo.waiting!.approvalId, runId: demo.waiting!.runId, groups: expect.arrayContaining(['finance-ops']) })]));
    const decided = await shell(approve);
    expect(decided.status).toBe('approved');
    await expectEventually(async () => {
      const view = (await call<{ outcome: string; reasons: Array<{ code: string }> }>('GET', `/v1/runs/${demo.waiting!.runId}`, operatorKey)).body;
      expect(view.outcome).toBe('verified');
      expect(view.reasons.map((r) => r.code)).toEqual(['verified', 'read_back_matches', 'state_check_passed', 'grant_check_passed']);
    }, { timeoutMs: 30000, intervalMs: 200 });
    // The approval was decided once: the same command again changes nothing.
    expect(await shell(approve)).toMatchObject({ code: expect.stringMatching(/review_/) });
  });

  it('authenticates every API but /health, and counts each refusal', async () => {
    expect((await call('GET', '/health', null)).status).toBe(200);
    for (const path of ['/v1/agents', '/v1/runs/x', '/v1/audit/verify', '/v1/dead-letters', '/v1/policies', '/v1/api-keys']) {
      expect({ path, status: (await call('GET', path, null)).status }).toEqual({ path, status: 401 });
    }
    expect((await call('GET', '/v1/audit/verify', agentKey)).status).toBe(403);
    expect(await (await fetch(`${base}/metrics`)).text()).toMatch(/govmesh_http_requests_refused_total\{process="embedded",reason="credential_missing"\} [1-9]/);
  });

  it('serves health and govmesh metrics on one port', async () => {
    const health = await fetch(`${base}/health`);
    expect(health.status).toBe(200);
    const body = (await health.json()) as { status: string; info: Record<string, { status: string }> };
    expect(body.status).toBe('ok');
    expect(Object.keys(body.info).sort()).toEqual(['context', 'model-router', 'orchestrator', 'policy', 'telemetry', 'tool-gateway', 'verifier']);
    const metrics = await (await fetch(`${base}/metrics`)).text();
    expect(metrics).toMatch(/govmesh_runs_completed_total\{service="orchestrator",outcome="verified"\} [1-9]/);
    expect(metrics).toMatch(/govmesh_policy_decisions_total\{service="policy",effect="deny",subject="action"\} [1-9]/);
    expect(metrics).toContain('govmesh_process_cpu_seconds_total');
  });

  it('keeps per-run order and an intact audit chain under a burst of intents', async () => {
    const runIds: string[] = [];
    for (let i = 0; i < 40; i++) {
      const res = await call<{ runId: string }>('POST', '/v1/intents', agentKey, { agentId: 'support-assistant', task: `burst ${i}`, input: { accountId: i % 2 ? 'acc-001' : 'acc-002' } });
      runIds.push(res.body.runId);
    }
    await expectEventually(async () => {
      for (const id of runIds) {
        const view = (await call<{ outcome: string }>('GET', `/v1/runs/${id}`, agentKey)).body;
        expect(view.outcome).toBe('verified');
      }
    }, { timeoutMs: 60000, intervalMs: 250 });
    const auditor = (await call<{ key: string }>('POST', '/v1/api-keys', operatorKey, { name: 'auditor', role: 'auditor' })).body.key;
    const chain = (await call<{ intact: boolean; length: number }>('GET', '/v1/audit/verify', auditor)).body;
    expect(chain.intact).toBe(true);
    expect(chain.length).toBeGreaterThanOrEqual(40 * 13);
  });

  it('rejects an intent that does not match the contract with a reason, and resubmitting an id is idempotent', async () => {
    const bad = await call('POST', '/v1/intents', agentKey, { agentId: 'support-assistant', task: '', extra: 1 });
    expect(bad).toMatchObject({ status: 400, body: { code: 'invalid_intent', message: expect.stringMatching(/task|extra/) } });
    expect(await (await fetch(`${base}/metrics`)).text()).toMatch(/govmesh_intents_rejected_total\{service="orchestrator",reason="invalid_intent"\} [1-9]/);
    const body = { intentId: 'idempotent-1', agentId: 'support-assistant', task: 'acc-001', input: { accountId: 'acc-001' } };
    const first = await call('POST', '/v1/intents', agentKey, body);
    const second = await call<{ created: boolean }>('POST', '/v1/intents', agentKey, body);
    expect([first.status, second.status]).toEqual([202, 200]);
    expect(second.body.created).toBe(false);
  });
});
