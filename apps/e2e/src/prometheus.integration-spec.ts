import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer as createHttpServer } from 'node:http';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { promisify } from 'node:util';
import { issueGrant } from '@govmesh/action-grants';
import { createEvent, EventTypes, Topics } from '@govmesh/contracts';
import { loadPrivateKey } from '@govmesh/signing';
import { expectEventually, MESH_APPS, signedIntentCloudEvent, startMeshFixture, type AgentSigningKey, type MeshFixture } from '@govmesh/testing';

const ROOT = resolve(__dirname, '../../..');
const DASHBOARDS = join(ROOT, 'deploy/grafana/dashboards');
const PROMETHEUS = process.env['PROMETHEUS_BIN'] ?? '/usr/bin/prometheus';
const PROMTOOL = process.env['PROMTOOL_BIN'] ?? 'promtool';
const run = promisify(execFile);

/**
 * Panels whose series a demo cannot produce, by the metric that feeds them, with the reason. The
 * panel must still exist; everything else must have data.
 */
const NO_DATA_IN_DEMO: Record<string, string> = {
  govmesh_consume_retries_total: 'counted only when a batch is retried after a transient database or broker error, which a healthy demo never has',
};

/** Grafana's variables as the dashboards use them, replaced the way Grafana would for a 1-hour view. */
function substitute(expr: string): string {
  return expr
    .replace(/\$__rate_interval|\$\{__rate_interval\}/g, '1m')
    .replace(/\$__interval|\$\{__interval\}/g, '15s')
    .replace(/\$__range|\$\{__range\}/g, '1h')
    .replace(/\$service|\$\{service(:[a-z]+)?\}/g, '.*');
}

interface PanelQuery {
  dashboard: string;
  panel: string;
  expr: string;
}

function dashboardQueries(): PanelQuery[] {
  const queries: PanelQuery[] = [];
  for (const file of readdirSync(DASHBOARDS).filter((f) => f.endsWith('.json'))) {
    const dashboard = JSON.parse(readFileSync(join(DASHBOARDS, file), 'utf8')) as { panels: Array<{ title: string; targets?: Array<{ expr?: string }>; panels?: unknown[] }> };
    for (const panel of dashboard.panels) for (const t of panel.targets ?? []) if (t.expr) queries.push({ dashboard: file, panel: panel.title, expr: t.expr });
  }
  return queries;
}

async function freePort(): Promise<number> {
  return new Promise((res, rej) => {
    const server = createServer();
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      server.close(() => (typeof address === 'object' && address ? res(address.port) : rej(new Error('no port'))));
    });
  });
}

/**
 * The acceptance test of the dashboards and alerts: promtool checks and unit-tests the rules, a real
 * Prometheus scrapes the seven processes of a mesh on real Postgres and the Kafka-protocol broker,
 * a demo workload walks every path a panel shows, and then every query of every dashboard panel
 * must answer data.
 */
describe('Prometheus over the mesh: the alert rules hold and every dashboard panel has data', () => {
  let fixture: MeshFixture;
  let prometheus: ChildProcess | undefined;
  let prometheusExited: Promise<unknown> = Promise.resolve();
  let promDir: string;
  let promUrl: string;

  beforeAll(async () => {
    fixture = await startMeshFixture('prometheus', [Topics.results, Topics.deadLetters, Topics.actions], {
      // Small enough for a burst of direct tool requests to meet the agent's bucket, large enough for the workflows.
      GOVMESH_AGENT_RATE_PER_MINUTE: '600',
      GOVMESH_AGENT_RATE_BURST: '10',
      GOVMESH_BREAKER_COOLDOWN_MS: '1000',
      // Agents' behaviour is judged from their first completed run: the demo's new tool is flagged.
      GOVMESH_BASELINE_MIN_RUNS: '1',
    });
    promDir = mkdtempSync(join(tmpdir(), 'govmesh-prometheus-'));
    const port = await freePort();
    promUrl = `http://127.0.0.1:${port}`;
    // deploy/prometheus/prometheus.yml's govmesh job, pointed at this mesh and scraped every second.
    const targets = MESH_APPS.map((app) => `      - targets: ["${new URL(fixture.mesh.url(app)).host}"]\n        labels: { app: ${app} }`).join('\n');
    writeFileSync(
      join(promDir, 'prometheus.yml'),
      `global:\n  scrape_interval: 1s\n  scrape_timeout: 1s\n  evaluation_interval: 1s\nrule_files:\n  - ${join(ROOT, 'deploy/prometheus/alerts.yml')}\nscrape_configs:\n  - job_name: govmesh\n    metrics_path: /metrics\n    static_configs:\n${targets}\n`,
    );
    prometheus = spawn(PROMETHEUS, [`--config.file=${join(promDir, 'prometheus.yml')}`, `--storage.tsdb.path=${join(promDir, 'data')}`, `--web.listen-address=127.0.0.1:${port}`, '--log.level=warn'], { stdio: ['ignore', 'ignore', 'pipe'] });
    let stderr = '';
    prometheus.stderr?.on('data', (chunk: Buffer) => (stderr = (stderr + chunk.toString()).slice(-4000)));
    prometheusExited = new Promise((res) => prometheus!.once('exit', res));
    await expectEventually(
      async () => {
        expect(prometheus!.exitCode).toBeNull();
        expect((await fetch(`${promUrl}/-/ready`)).status).toBe(200);
      },
      { timeoutMs: 30000, intervalMs: 200 },
    ).catch((err) => {
      throw new Error(`Prometheus did not become ready: ${(err as Error).message}\n${stderr}`);
    });
  });

  afterAll(async () => {
    if (prometheus && prometheus.exitCode === null) {
      prometheus.kill('SIGTERM');
      const timer = setTimeout(() => prometheus?.kill('SIGKILL'), 5000);
      await prometheusExited;
      clearTimeout(timer);
    }
    if (promDir) rmSync(promDir, { recursive: true, force: true });
    await fixture?.stop();
  });

  async function query(expr: string): Promise<Array<{ metric: Record<string, string>; value: [number, string] }>> {
    const res = await fetch(`${promUrl}/api/v1/query?query=${encodeURIComponent(expr)}`);
    const body = (await res.json()) as { status: string; error?: string; data?: { resultType: string; result: Array<{ metric: Record<string, string>; value: [number, string] }> } };
    if (body.status !== 'success') throw new Error(`${expr}: ${body.error}`);
    return body.data!.result;
  }

  it('promtool accepts the alert rules and their unit tests pass', async () => {
    await run(PROMTOOL, ['check', 'rules', join(ROOT, 'deploy/prometheus/alerts.yml')]);
    const tested = await run(PROMTOOL, ['test', 'rules', 'alerts.test.yml'], { cwd: join(ROOT, 'deploy/prometheus') });
    expect(tested.stdout).toContain('SUCCESS');
    // Prometheus loaded the same rules.
    const rules = (await (await fetch(`${promUrl}/api/v1/rules`)).json()) as { data: { groups: Array<{ rules: Array<{ name: string; health: string }> }> } };
    const loaded = rules.data.groups.flatMap((g) => g.rules);
    expect(loaded.length).toBeGreaterThanOrEqual(14);
    expect(loaded.filter((r) => r.health === 'err')).toEqual([]);
  });

  it('after a demo workload, every query of every dashboard panel answers data', async () => {
    const { mesh, client, db } = fixture;
    const queries = dashboardQueries();
    expect(new Set(queries.map((q) => q.dashboard))).toEqual(new Set(['govmesh-overview.json', 'govmesh-governance.json', 'govmesh-tools.json', 'govmesh-models.json', 'govmesh-reliability.json']));
    for (const metric of Object.keys(NO_DATA_IN_DEMO)) expect(queries.some((q) => q.expr.includes(metric))).toBe(true);

    // ------------------------------------------------------------------ the demo workload
    const agent: AgentSigningKey = await mesh.registerAgentKey('support-assistant', '1.1.0');
    const supportKey = await mesh.apiKey('agent', { agentId: 'support-assistant' });
    const invoiceKey = await mesh.apiKey('agent', { agentId: 'invoice-exceptions-agent' });
    const financeOps = await mesh.apiKey('reviewer', { groups: ['finance-ops'], name: 'Fiona (finance-ops)' });

    const resultOf = (runId: string) => client.messages(Topics.results).find((m) => m.key === runId)?.json as { data: { outcome: string } } | undefined;
    /** The outcome on the results topic; on time-out, says where the run stands instead. */
    const outcomeOf = async (runId: string) => {
      try {
        return (await expectEventually(() => {
          const found = resultOf(runId);
          expect(found).toBeDefined();
          return found!;
        }, { timeoutMs: 60000, intervalMs: 200 })).data.outcome;
      } catch {
        const [row] = await db.query<{ status: string; current_step: string | null }>('SELECT status, current_step FROM orchestrator.runs WHERE id = $1', [runId]);
        throw new Error(`run ${runId} has no result: ${JSON.stringify(row ?? 'no run')}`);
      }
    };
    const submit = async (key: string, body: Record<string, unknown>) => {
      const res = await mesh.http<{ runId: string }>('orchestrator', 'POST', '/v1/intents', { key, body });
      expect(res.status).toBe(202);
      return res.body.runId;
    };
    const invoice = (input: Record<string, unknown>) => submit(invoiceKey, { agentId: 'invoice-exceptions-agent', workflow: 'invoice-exception', task: `Invoice ${String(input['invoiceId'])} is on hold: resolve it`, input });
    const pendingItem = (runId: string, kind: 'approvals' | 'escalations') =>
      expectEventually(async () => {
        const res = await mesh.http<{ items: Array<{ id: string }> }>('orchestrator', 'GET', `/v1/${kind}?status=pending&runId=${runId}`, { key: financeOps });
        expect(res.body.items).toHaveLength(1);
        return res.body.items[0].id;
      }, { timeoutMs: 60000, intervalMs: 200 });
    const decide = async (kind: 'approvals' | 'escalations', id: string, body: Record<string, unknown>) => expect((await mesh.http('orchestrator', 'POST', `/v1/${kind}/${id}/decision`, { key: financeOps, body })).status).toBe(200);

    // An allowed run over Kafka, verified; a denied one; and one over HTTP.
    const verified = `prom-ok-${randomUUID()}`;
    const signedOk = signedIntentCloudEvent(agent, { intentId: verified, task: 'Status of acc-001 please', input: { accountId: 'acc-001' } });
    const denied = `prom-denied-${randomUUID()}`;
    await client.send(Topics.intents, [
      { key: verified, value: signedOk },
      { key: denied, value: signedIntentCloudEvent(agent, { intentId: denied, task: 'Status of acc-003 please', input: { accountId: 'acc-003' } }) },
    ]);
    // The same event delivered again: skipped by the consumers' inboxes.
    await client.send(Topics.intents, [{ key: verified, value: signedOk }]);
    // Unsigned: refused by policy to the dead letters.
    const unsignedId = `prom-unsigned-${randomUUID()}`;
    const unsigned = JSON.parse(signedIntentCloudEvent(agent, { intentId: unsignedId, task: 'Status of acc-001' })) as Record<string, unknown>;
    delete unsigned['govmeshsig'];
    await client.send(Topics.intents, [{ key: unsignedId, value: JSON.stringify(unsigned) }]);
    const overHttp = await submit(supportKey, { agentId: 'support-assistant', task: 'Balance of acc-002?' });
    // An account id the lookup tool's schema refuses: the router refuses both models' proposals.
    const badArguments = await submit(supportKey, { agentId: 'support-assistant', task: 'Status of this account', input: { accountId: 'acc-1' } });

    // The invoice workflow: straight through; held for approval and approved; edited (an override);
    // a tool that keeps failing (retries, an escalation); a dropped write (a verification mismatch);
    // a low-confidence model answer (an escalation a reviewer accepts).
    const paid = await invoice({ invoiceId: 'inv-1001', amount: 1200, currency: 'EUR' });
    const approved = await invoice({ invoiceId: 'inv-1003', amount: 7400, currency: 'EUR' });
    const edited = await invoice({ invoiceId: 'inv-1007', amount: 12500, currency: 'EUR' });
    const failing = await invoice({ invoiceId: 'inv-1010', amount: 640, currency: 'EUR' });
    const dropped = await invoice({ invoiceId: 'inv-1009', amount: 2300, currency: 'EUR' });
    const unsure = await invoice({ invoiceId: 'inv-1004', amount: 450, currency: 'EUR', _confidence: 0.2 });

    await decide('approvals', await pendingItem(approved, 'approvals'), { decision: 'approve', reason: 'matches the purchase order' });
    await decide('approvals', await pendingItem(edited, 'approvals'), { decision: 'edit', arguments: { invoiceId: 'inv-1007', amount: -12500, currency: 'EUR' }, reason: 'credit note instead' });
    await decide('escalations', await pendingItem(unsure, 'escalations'), { decision: 'approve', reason: 'checked the invoice myself' });
    await decide('escalations', await pendingItem(failing, 'escalations'), { decision: 'abort', reason: 'the ERP is down, paying by hand' });
    await pendingItem(dropped, 'escalations');

    expect(await outcomeOf(verified)).toBe('verified');
    expect(await outcomeOf(denied)).toBe('denied');
    expect(await outcomeOf(overHttp)).toBe('verified');
    expect(await outcomeOf(paid)).toBe('verified');
    expect(await outcomeOf(approved)).toBe('verified');
    expect(await outcomeOf(edited)).toBe('denied');
    expect(await outcomeOf(unsure)).toBe('verified');
    await outcomeOf(failing);
    // Both models' proposals refused: the run waits for a human.
    await expectEventually(async () => expect((await db.query<{ status: string }>('SELECT status FROM orchestrator.runs WHERE id = $1', [badArguments]))[0]?.status).toBe('escalated'), { timeoutMs: 30000, intervalMs: 250 });

    // Forged traffic on internal topics: an action for a run policy never admitted, and a genuine
    // approval replayed onto another admitted run with another amount.
    const proposed = (runId?: string) => client.messages(Topics.actions).map((m) => m.json as { data: Record<string, unknown> & { runId: string; approval?: unknown; agentVersion?: string } }).filter((e) => !runId || e.data.runId === runId);
    const genuine = proposed(approved).find((e) => e.data.approval)!;
    expect(genuine).toBeDefined();
    const action = (runId: string, data: Record<string, unknown>) =>
      JSON.stringify(createEvent(EventTypes.ActionProposed, { runId, stepId: `forged#${randomUUID().slice(0, 8)}`, agentId: 'invoice-exceptions-agent', tool: 'invoices.approve_payment', arguments: { invoiceId: 'inv-1002', amount: 82000, currency: 'EUR' }, ...data } as never, { source: 'urn:test:forger', subject: runId, correlationId: runId }));
    await client.send(Topics.actions, [
      { key: 'never-admitted', value: action(`never-admitted-${randomUUID()}`, {}) },
      { key: paid, value: action(paid, { ...(genuine.data.agentVersion ? { agentVersion: genuine.data.agentVersion } : {}), approval: genuine.data.approval }) },
    ]);

    // Direct granted requests to the gateway, more than the agent's burst at once; and one whose
    // grant is for other arguments.
    const grantKey = loadPrivateKey(mesh.keys.GOVMESH_GRANT_SIGNING_KEY);
    const toolRequest = (args: Record<string, unknown>, granted = args, tool = 'sandbox.lookup_account') => {
      const runId = `prom-direct-${randomUUID()}`;
      const grant = issueGrant(grantKey, { agentId: 'support-assistant', agentVersion: '1.1.0', tool, arguments: granted, policyVersion: 'p1' }, { runId, stepId: 'execute' }, randomUUID(), new Date(), 30);
      const event = createEvent(EventTypes.ToolRequested, { runId, stepId: 'execute', agentId: 'support-assistant', agentVersion: '1.1.0', tool, arguments: args, grant }, { source: 'govmesh/orchestrator', subject: runId, correlationId: runId });
      return { key: runId, value: JSON.stringify(event) };
    };

    // An HTTP system that answers 503 to everything, behind a tool with a retry policy: each call
    // is tried three times, and two calls in a row open the connection's breaker (five failures).
    const down = createHttpServer((_req, res) => res.writeHead(503, { 'content-type': 'application/json' }).end('{"error":"maintenance"}'));
    await new Promise<void>((res) => down.listen(0, '127.0.0.1', res));
    const downPort = (down.address() as { port: number }).port;
    try {
      expect((await mesh.http('tool-gateway', 'POST', '/v1/connections', {
        body: { id: 'billing-down', kind: 'http', endpoint: `http://127.0.0.1:${downPort}/api`, description: 'A billing API under maintenance', auth: { method: 'none' }, egress: { allow: [{ host: '127.0.0.1', port: downPort, scheme: 'http', paths: ['/api/invoices/*'], methods: ['GET'], allowPrivateNetwork: true }] } },
      })).status).toBe(201);
      expect((await mesh.http('tool-gateway', 'POST', '/v1/tools', {
        body: {
          name: 'billing.get_invoice',
          version: '1.0.0',
          description: 'Read one invoice from the billing API',
          inputSchema: { type: 'object', required: ['invoiceId'], additionalProperties: false, properties: { invoiceId: { type: 'string', pattern: '^inv-[0-9]+$' } } },
          sideEffect: 'read',
          classification: 'internal',
          idempotent: true,
          retry: { maxAttempts: 3, backoffMs: 10, maxBackoffMs: 50 },
          operation: { connector: 'http', method: 'GET', path: '/invoices/{invoiceId}' },
          connection: 'billing-down',
          timeoutMs: 2000,
        },
      })).status).toBe(201);
      expect((await mesh.http('tool-gateway', 'POST', '/v1/tool-grants', { body: { agentId: 'support-assistant', tool: 'billing.get_invoice' } })).status).toBe(201);
      for (let i = 0; i < 2; i++) await client.send(Topics.toolCommands, [toolRequest({ invoiceId: 'inv-1001' }, undefined, 'billing.get_invoice')]);
      const billing = await expectEventually(async () => {
        const rows = await db.query<{ status: string; reasons: Array<{ code: string }> }>(`SELECT status, reasons FROM tool_gateway.executions WHERE tool = 'billing.get_invoice'`);
        expect(rows).toHaveLength(2);
        return rows;
      }, { timeoutMs: 30000, intervalMs: 250 });
      expect(billing.map((r) => r.status)).toEqual(['failed', 'failed']);
    } finally {
      await new Promise((res) => down.close(res));
    }
    await client.send(Topics.toolCommands, [...Array.from({ length: 16 }, () => toolRequest({ accountId: 'acc-001' })), toolRequest({ accountId: 'acc-002' }, { accountId: 'acc-001' })]);
    await expectEventually(async () => expect((await db.query<{ n: number }>(`SELECT count(*)::int AS n FROM tool_gateway.executions WHERE run_id LIKE 'prom-direct-%'`))[0].n).toBe(19), { timeoutMs: 30000, intervalMs: 250 });

    // ------------------------------------------------------------------ every panel has data
    await expectEventually(async () => expect((await query('up{job="govmesh"} == 1')).length).toBe(MESH_APPS.length), { timeoutMs: 30000, intervalMs: 500 });
    const required = queries.filter((q) => !Object.keys(NO_DATA_IN_DEMO).some((metric) => q.expr.includes(metric)));
    const empty = async () => {
      const missing: string[] = [];
      for (const q of required) if ((await query(substitute(q.expr))).length === 0) missing.push(`${q.dashboard} / ${q.panel}: ${q.expr}`);
      return missing;
    };
    // Counters and gauges reach Prometheus at its next scrape, and the database gauges at their next refresh.
    await expectEventually(async () => expect(await empty()).toEqual([]), { timeoutMs: 45000, intervalMs: 2000 });
  });
});
