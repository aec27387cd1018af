import { createDecipheriv, randomUUID } from 'node:crypto';
import { createServer, type IncomingHttpHeaders, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { TOPIC_REGISTRY, Topics } from '@govmesh/contracts';
import { expectEventually, MESH_APPS, startMeshFixture, startTestMcpServer, type MeshApp, type MeshFixture, type MeshResponse, type TestMcpServer } from '@govmesh/testing';

interface Reason {
  code: string;
  message: string;
}
interface RunView {
  runId: string;
  status: string;
  outcome: string | null;
  reasons: Reason[];
  steps: Array<{ execution: string; step: string; status: string }>;
}
interface ConnectionView {
  id: string;
  version: number;
  status: string;
  secret: { set: boolean; keyId?: string };
}
interface ImportedTool {
  tool: string;
  name?: string;
  manifest?: Record<string, unknown> & { name: string; version: string; sideEffect: string };
  registered?: boolean;
  problem?: unknown;
}
interface MapEntry {
  agentId: string;
  tools: Array<{ tool: string; granted: boolean; calls: number; succeeded: number; refused: number }>;
  connections: Array<{ id: string }>;
}

/** One form a planted secret could take in what the mesh writes, and what to call it in a failure. */
interface Needle {
  what: string;
  text: string;
}

/** A text the mesh wrote somewhere, and where. */
interface Haystack {
  where: string;
  text: string;
}

const PREFIX = 'sk-planted-';

/**
 * The forms a secret may leak in: as is, its random part alone, hex (a bytea column), and base64
 * and base64url as they appear inside the encoding of any longer text that contains it (basic
 * auth, a header dump): for each of the three alignments, the run of characters that encodes
 * only bytes of the secret, whatever surrounds it.
 */
function needlesOf(name: string, secret: string): Needle[] {
  const bytes = Buffer.from(secret, 'utf8');
  const needles: Needle[] = [
    { what: `${name}`, text: secret },
    { what: `${name} without its prefix`, text: secret.slice(PREFIX.length) },
    { what: `${name} in hex`, text: bytes.toString('hex') },
  ];
  for (let offset = 0; offset < 3; offset++) {
    const padded = Buffer.concat([Buffer.alloc(offset, 0x20), bytes]);
    const firstWholeGroup = offset === 0 ? 0 : 3;
    const encoded = padded.subarray(0, Math.floor(padded.length / 3) * 3).toString('base64').slice((firstWholeGroup / 3) * 4);
    needles.push({ what: `${name} in base64 (alignment ${offset})`, text: encoded });
    needles.push({ what: `${name} in base64url (alignment ${offset})`, text: encoded.replace(/\+/g, '-').replace(/\//g, '_') });
  }
  return needles;
}

function leaksIn(channel: string, haystacks: readonly Haystack[], needles: readonly Needle[]): string[] {
  const found: string[] = [];
  for (const h of haystacks) for (const n of needles) if (h.text.includes(n.text)) found.push(`${channel}: ${h.where} holds the ${n.what}`);
  return found;
}

/** What `secret_*` of a connection row decrypts to under the mesh's master key (AES-256-GCM envelope, bound to the connection id). */
function decryptStoredSecret(masterKeys: string, connectionId: string, row: { secret_key_id: string; secret_wrapped_key: string; secret_iv: string; secret_tag: string; secret_ciphertext: string }): string {
  const entry = masterKeys.split(',').map((e) => e.trim().split(':')).find(([id]) => id === row.secret_key_id);
  if (!entry) throw new Error(`master key ${row.secret_key_id} is not the mesh's`);
  const unseal = (key: Buffer, iv: Buffer, tag: Buffer, data: Buffer, aad: string) => {
    const decipher = createDecipheriv('aes-256-gcm', key, iv, { authTagLength: 16 });
    decipher.setAAD(Buffer.from(aad, 'utf8'));
    decipher.setAuthTag(tag);
    return Buffer.concat([decipher.update(data), decipher.final()]);
  };
  const wrapped = Buffer.from(row.secret_wrapped_key, 'base64');
  const dataKey = unseal(Buffer.from(entry[1], 'base64'), wrapped.subarray(0, 12), wrapped.subarray(12, 28), wrapped.subarray(28), `govmesh:connection-data-key:${row.secret_key_id}`);
  const b64 = (text: string) => Buffer.from(text, 'base64');
  return unseal(dataKey, b64(row.secret_iv), b64(row.secret_tag), b64(row.secret_ciphertext), `govmesh:connection-secret:${connectionId}`).toString('utf8');
}

/** The invoice the billing API answers with the credential it got, as some APIs echo the caller's key. */
const ECHOING_INVOICE = 'inv-1003';

/** A billing API on 127.0.0.1 that records every request it gets, credential headers included. */
interface BillingApi {
  url: string;
  port: number;
  requests: Array<{ method: string; url: string; headers: IncomingHttpHeaders }>;
  close(): Promise<void>;
}

async function startBillingApi(): Promise<BillingApi> {
  const requests: BillingApi['requests'] = [];
  const server: Server = createServer((req, res) => {
    requests.push({ method: req.method ?? '', url: req.url ?? '', headers: { ...req.headers } });
    const match = /^\/api\/invoices\/(inv-[0-9]+)$/.exec(req.url ?? '');
    if (req.method !== 'GET' || !match) {
      res.writeHead(404, { 'content-type': 'application/json' }).end(JSON.stringify({ error: 'not found' }));
      return;
    }
    const echo = match[1] === ECHOING_INVOICE ? { servedTo: req.headers['authorization'] ?? null } : {};
    res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ invoiceId: match[1], status: 'open', amount: 1200, currency: 'EUR', ...echo }));
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => resolve());
  });
  const port = (server.address() as AddressInfo).port;
  return {
    url: `http://127.0.0.1:${port}/api`,
    port,
    requests,
    close: async () => {
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}

const ESCALATION = { levels: [{ name: 'operations', groups: ['operations'], slaSeconds: 3600 }], onExpiry: 'fail' };
const AGENT = 'support-assistant';
/** An execute_low agent cleared for internal data that holds no grant of the order tools. */
const UNGRANTED_AGENT = 'support-triage-agent';
const VERIFIER = 'govmesh-verifier';

/**
 * The tool gateway's acceptance on the mesh as an operator runs it (seven processes, the
 * Kafka-protocol test broker, real Postgres): a connection's secret stays in its encrypted column,
 * and an MCP server's tool runs under policy, a tool grant and the verifier's read. One mesh for
 * both, every topic collected from the start, every process logging at debug.
 */
describe('tool gateway: connections, HTTP and MCP tools on the mesh', () => {
  let fixture: MeshFixture;
  let mesh: MeshFixture['mesh'];
  let db: MeshFixture['db'];
  let client: MeshFixture['client'];
  let auditorKey: string;
  let agentKey: string;
  /** Every answer the test got from an API: status, headers and body. */
  const answers: Haystack[] = [];

  beforeAll(async () => {
    fixture = await startMeshFixture(
      'tool-gateway',
      TOPIC_REGISTRY.map((t) => t.name),
      { LOG_LEVEL: 'debug' },
    );
    ({ mesh, db, client } = fixture);
    auditorKey = await mesh.apiKey('auditor');
    agentKey = await mesh.apiKey('agent', { agentId: AGENT });
  });

  afterAll(async () => {
    await fixture?.stop();
  });

  /** `mesh.http`, keeping the answer for the secret search. */
  async function api<T = Record<string, unknown>>(app: MeshApp, method: string, path: string, options: Parameters<MeshFixture['mesh']['http']>[3] = {}): Promise<MeshResponse<T>> {
    const res = await mesh.http<T>(app, method, path, options);
    answers.push({ where: `${app} ${method} ${path} → ${res.status}`, text: `${JSON.stringify([...res.headers.entries()])}\n${typeof res.body === 'string' ? res.body : JSON.stringify(res.body)}` });
    return res;
  }

  async function submit(key: string, workflow: string, input: Record<string, unknown>, task: string): Promise<string> {
    const res = await api<{ runId: string }>('orchestrator', 'POST', '/v1/intents', { key, body: { workflow, task, input } });
    expect(res.status).toBe(202);
    return res.body.runId;
  }

  async function completed(runId: string): Promise<RunView> {
    return expectEventually(
      async () => {
        const { body: run } = await mesh.http<RunView>('orchestrator', 'GET', `/v1/runs/${runId}`);
        if (run.status !== 'completed') throw new Error(`run ${runId} is ${run.status}; its steps: ${run.steps?.map((s) => `${s.execution} ${s.status}`).join(', ')}`);
        return run;
      },
      { timeoutMs: 60000, intervalMs: 200 },
    );
  }

  /** Waits until policy and the verifier learned this version of the tool from the manifest's events. */
  async function learned(tool: string, version: string): Promise<void> {
    await expectEventually(
      async () => {
        const policy = await db.query<{ version: string }>('SELECT version FROM policy.tool_profiles WHERE name = $1', [tool]);
        const verifier = await db.query<{ version: string }>('SELECT version FROM verifier.tool_specs WHERE name = $1', [tool]);
        expect({ tool, policy: policy[0]?.version, verifier: verifier[0]?.version }).toEqual({ tool, policy: version, verifier: version });
      },
      { timeoutMs: 30000, intervalMs: 200 },
    );
  }

  const eventsOf = (topic: string, runId: string) => client.messages(topic).filter((m) => m.key === runId).map((m) => m.json as { type: string; data: Record<string, unknown> });

  /** Every message on every topic the plain Kafka client read from the beginning: key, headers and value. */
  const kafkaMessages = (): Haystack[] =>
    TOPIC_REGISTRY.flatMap((t) =>
      client.messages(t.name).map((m, i) => ({ where: `${t.name} #${i} (${String(m.json?.['type'] ?? 'not JSON')})`, text: `${m.key ?? ''}\n${JSON.stringify(m.headers)}\n${m.value?.toString('utf8') ?? ''}` })),
    );

  /** Every process's stdout and stderr: the mesh writes both to <app>.log. */
  const processLogs = (): Haystack[] => readdirSync(mesh.logDir).map((file) => ({ where: file, text: readFileSync(join(mesh.logDir, file), 'utf8') }));

  /** Every row of every table in every schema, as JSON (a bytea column shows as hex). */
  async function databaseRows(): Promise<Haystack[]> {
    const tables = await db.query<{ schema: string; name: string }>(
      `SELECT table_schema AS schema, table_name AS name FROM information_schema.tables
       WHERE table_schema NOT IN ('pg_catalog', 'information_schema') AND table_schema NOT LIKE 'pg\\_%' ORDER BY 1, 2`,
    );
    const rows: Haystack[] = [];
    for (const t of tables) {
      const found = await db.query<{ row: string }>(`SELECT to_jsonb(r)::text AS row FROM "${t.schema}"."${t.name}" r`);
      rows.push({ where: `${t.schema}.${t.name}`, text: found.map((r) => r.row).join('\n') });
    }
    return rows;
  }

  it('a planted secret is found nowhere outside its encrypted column: not on any topic, in any log, API answer, prompt, audit record or table', async () => {
    const billing = await startBillingApi();
    try {
      const first = `${PREFIX}${randomUUID()}`;
      const second = `${PREFIX}${randomUUID()}`;

      // The operator connects the billing API with the first secret; loopback only because the allow-list says so.
      const created = await api<ConnectionView>('tool-gateway', 'POST', '/v1/connections', {
        body: {
          id: 'billing',
          kind: 'http',
          endpoint: billing.url,
          description: 'The billing API (a test server on loopback)',
          auth: { method: 'bearer' },
          secret: first,
          egress: { allow: [{ host: '127.0.0.1', port: billing.port, scheme: 'http', paths: ['/api/invoices/*'], methods: ['GET'], allowPrivateNetwork: true }] },
        },
      });
      expect(created).toMatchObject({ status: 201, body: { id: 'billing', version: 1, status: 'active', secret: { set: true } } });
      const tool = await api('tool-gateway', 'POST', '/v1/tools', {
        body: {
          name: 'billing.get_invoice',
          version: '1.0.0',
          description: 'Read one invoice from the billing API',
          inputSchema: { type: 'object', required: ['invoiceId'], additionalProperties: false, properties: { invoiceId: { type: 'string', pattern: '^inv-[0-9]+$' } } },
          sideEffect: 'read',
          classification: 'internal',
          idempotent: true,
          operation: { connector: 'http', method: 'GET', path: '/invoices/{invoiceId}' },
          connection: 'billing',
          timeoutMs: 5000,
          verification: [{ check: 'read_back', tool: 'billing.get_invoice', arguments: { invoiceId: 'arguments.invoiceId' } }],
        },
      });
      expect(tool.status).toBe(201);
      for (const agentId of [AGENT, VERIFIER]) {
        expect((await api('tool-gateway', 'POST', '/v1/tool-grants', { body: { agentId, tool: 'billing.get_invoice' } })).status).toBe(201);
      }
      // Look the invoice up, verify it, then let the model answer from what the tool returned (its prompt carries the tool's output).
      const workflow = await api('orchestrator', 'POST', '/v1/workflows', {
        body: {
          id: 'billing-lookup',
          description: 'Look an invoice up in the billing API and tell the customer its status',
          tier: 'execute_low',
          agents: [AGENT],
          deadlineSeconds: 300,
          escalation: ESCALATION,
          inputSchema: { type: 'object', required: ['invoiceId'], properties: { invoiceId: { type: 'string', pattern: '^inv-[0-9]+$' } } },
          steps: [
            { id: 'lookup', kind: 'action', tool: 'billing.get_invoice', arguments: { invoiceId: 'input.invoiceId' } },
            { id: 'verify', kind: 'verify', of: 'lookup' },
            {
              id: 'answer',
              kind: 'model',
              instructions: 'Tell the customer the status and amount of the invoice.',
              outputSchema: { type: 'object', required: ['invoiceId', 'status'], properties: { invoiceId: { type: 'string' }, status: { type: 'string' }, amount: { type: 'number' } } },
            },
          ],
        },
      });
      expect(workflow.status).toBe(201);
      await learned('billing.get_invoice', '1.0.0');

      const runs: string[] = [];
      const plan = [
        { secret: first, invoiceId: 'inv-1001' },
        { secret: second, invoiceId: 'inv-1002', rotate: true },
        // The API answers with the credential it got: the gateway carries it no further than the connector.
        { secret: second, invoiceId: ECHOING_INVOICE },
      ];
      for (const { secret, invoiceId, rotate } of plan) {
        if (rotate) {
          const rotated = await api<ConnectionView>('tool-gateway', 'POST', '/v1/connections/billing/rotate', { body: { secret: second, reason: 'planted rotation' } });
          expect(rotated).toMatchObject({ status: 200, body: { version: 2, status: 'active', secret: { set: true } } });
        }
        const seenBefore = billing.requests.length;
        const runId = await submit(agentKey, 'billing-lookup', { invoiceId }, `What is the status of invoice ${invoiceId}?`);
        runs.push(runId);
        const done = await completed(runId);
        expect({ outcome: done.outcome, reason: done.reasons[0]?.code }).toEqual({ outcome: 'verified', reason: 'verified' });
        expect(await db.query('SELECT verdict FROM verifier.verifications WHERE run_id = $1', [runId])).toEqual([{ verdict: 'confirmed' }]);
        // The credential was injected: the agent's call and the verifier's read both reached the API with the current secret, and only with it.
        const calls = billing.requests.slice(seenBefore);
        expect(calls.map((c) => `${c.method} ${c.url}`)).toEqual([`GET /api/invoices/${invoiceId}`, `GET /api/invoices/${invoiceId}`]);
        for (const c of calls) expect(c.headers['authorization']).toBe(`Bearer ${secret}`);
      }
      expect(billing.requests.map((r) => r.headers['authorization'])).toEqual([first, first, second, second, second, second].map((s) => `Bearer ${s}`));

      // The encrypted column holds the current secret (it decrypts to it under the mesh's master key), not in clear.
      const [stored] = await db.query<{ version: number; secret_key_id: string; secret_wrapped_key: string; secret_iv: string; secret_tag: string; secret_ciphertext: string }>(
        `SELECT version, secret_key_id, secret_wrapped_key, secret_iv, secret_tag, secret_ciphertext FROM tool_gateway.connections WHERE id = 'billing'`,
      );
      expect(stored.version).toBe(2);
      expect(decryptStoredSecret(mesh.keys.GOVMESH_CONNECTION_KEYS, 'billing', stored)).toBe(second);

      // Everything an operator, an auditor or the agent reads about the connection, the tool and the runs.
      for (const key of [mesh.operatorKey, auditorKey]) {
        for (const path of ['/v1/connections', '/v1/connections/billing', '/v1/connections/map', '/v1/tools', '/v1/tools/billing.get_invoice', '/v1/tool-grants?tool=billing.get_invoice']) {
          expect((await api('tool-gateway', 'GET', path, { key })).status).toBe(200);
        }
      }
      for (const runId of runs) {
        for (const key of [mesh.operatorKey, agentKey, auditorKey]) expect((await api('orchestrator', 'GET', `/v1/runs/${runId}`, { key })).status).toBe(200);
        for (const key of [agentKey, auditorKey]) expect((await api('telemetry', 'GET', `/v1/runs/${runId}/timeline`, { key })).status).toBe(200);
      }
      // Telemetry recorded every event of every run, the verifier's reads included, and the connection's changes.
      await expectEventually(
        async () => {
          for (const runId of runs) {
            const audit = await api<Array<{ type: string }>>('telemetry', 'GET', `/v1/audit/runs/${runId}`, { key: auditorKey });
            expect(audit.status).toBe(200);
            expect(audit.body.map((r) => r.type)).toEqual(
              expect.arrayContaining(['govmesh.tool.executed.v1', 'govmesh.verification.readcompleted.v1', 'govmesh.model.requested.v1', 'govmesh.model.completed.v1', 'govmesh.run.completed.v1']),
            );
          }
          const changes = await db.query<{ change: string }>(`SELECT payload->'data'->>'change' AS change FROM telemetry.audit_records WHERE type = 'govmesh.connection.changed.v1' ORDER BY seq`);
          expect(changes.map((c) => c.change)).toEqual(['created', 'rotated']);
        },
        { timeoutMs: 30000, intervalMs: 250 },
      );
      for (const path of ['/v1/audit/verify', '/v1/dead-letters']) expect((await api('telemetry', 'GET', path, { key: auditorKey })).status).toBe(200);
      for (const app of MESH_APPS) expect((await api(app, 'GET', '/metrics', { key: null })).status).toBe(200);

      // Every message on every topic, read by a plain Kafka client from the beginning; caught up once every result and the rotation are in.
      await expectEventually(() => {
        for (const runId of runs) expect(eventsOf(Topics.results, runId)).toHaveLength(1);
        const rotations = client.messages(Topics.registry).map((m) => m.json as { type: string; data: { change?: string } }).filter((e) => e.type === 'govmesh.connection.changed.v1');
        expect(rotations.map((e) => e.data.change)).toEqual(['created', 'rotated']);
      });
      const kafka = kafkaMessages();
      const busy = new Set(kafka.map((k) => k.where.split(' ')[0]));
      expect([...busy]).toEqual(
        expect.arrayContaining([Topics.intents, Topics.decisions, Topics.modelCommands, Topics.toolCommands, Topics.verifyCommands, Topics.outcomes, Topics.actions, Topics.actionDecisions, Topics.results, Topics.registry]),
      );
      // The prompts the model got: each run's carries the tool's output (the invoice), so a secret in it would be there too.
      for (const [i, runId] of runs.entries()) {
        const prompts = eventsOf(Topics.modelCommands, runId).filter((e) => e.type === 'govmesh.model.requested.v1');
        expect(prompts).toHaveLength(1);
        expect(prompts[0].data['steps']).toMatchObject({ lookup: { invoiceId: plan[i].invoiceId, status: 'open' } });
      }
      // The echoed credential reached the gateway's connector and stopped there.
      expect(eventsOf(Topics.modelCommands, runs[2])[0].data['steps']).toMatchObject({ lookup: { servedTo: '[redacted]' } });
      const modelCalls = await db.query<{ n: number }>('SELECT count(*)::int AS n FROM model_router.model_calls WHERE run_id = ANY($1)', [runs]);
      expect(modelCalls[0].n).toBeGreaterThanOrEqual(runs.length);

      const logs = processLogs();
      expect(logs.map((l) => l.where).sort()).toEqual(MESH_APPS.map((app) => `${app}.log`).sort());
      expect(logs.find((l) => l.where === 'tool-gateway.log')!.text).toContain('connection "billing" rotated to version 2');

      // Every row of every table in every schema, the connection's encrypted columns included (they must not hold the secret in clear either).
      const database = await databaseRows();
      const schemas = new Set(database.map((d) => d.where.split('.')[0]));
      expect([...schemas]).toEqual(expect.arrayContaining(['identity', 'policy', 'orchestrator', 'model_router', 'context', 'tool_gateway', 'sandbox', 'verifier', 'telemetry']));
      const ledger = database.find((d) => d.where === 'telemetry.audit_records')!;
      for (const runId of runs) expect(ledger.text).toContain(runId);

      const needles = [...needlesOf('first secret', first), ...needlesOf('second secret', second)];
      // The search finds what is there: the API saw both secrets.
      expect(leaksIn('the billing API', [{ where: 'its requests', text: JSON.stringify(billing.requests) }], needles).length).toBeGreaterThan(0);
      expect([...leaksIn('Kafka', kafka, needles), ...leaksIn('logs', logs, needles), ...leaksIn('API answers', answers, needles), ...leaksIn('Postgres', database, needles)]).toEqual([]);
    } finally {
      await billing.close();
    }
  });

  it("an MCP server's tool runs end to end under policy, a tool grant and the verifier's read; without the tool grant it is refused and the server sees no call", async () => {
    const token = `${PREFIX}mcp-${randomUUID()}`;
    const server: TestMcpServer = await startTestMcpServer({ token });
    try {
      const created = await api<ConnectionView>('tool-gateway', 'POST', '/v1/connections', {
        body: {
          id: 'orders',
          kind: 'mcp',
          endpoint: server.url,
          description: 'The order system (a test MCP server on loopback)',
          auth: { method: 'bearer' },
          secret: token,
          egress: { allow: [{ host: '127.0.0.1', port: server.port, scheme: 'http', paths: ['/mcp'], allowPrivateNetwork: true }] },
        },
      });
      expect(created).toMatchObject({ status: 201, body: { id: 'orders', secret: { set: true } } });

      // Import two of the server's tools into the manifest; their side effects come from its hints.
      const imported = await api<{ items: ImportedTool[] }>('tool-gateway', 'POST', '/v1/tools/import/orders', { body: { register: true, tools: ['lookup_order', 'cancel_order'] } });
      expect(imported.status).toBe(200);
      expect(imported.body.items.map((i) => [i.name, i.manifest?.sideEffect, i.registered]).sort()).toEqual([
        ['orders.cancel_order', 'destructive', true],
        ['orders.lookup_order', 'read', true],
      ]);
      const cancel = imported.body.items.find((i) => i.name === 'orders.cancel_order')!.manifest!;
      // The operator's review: the cancellation is used at execute_low and verified by reading the order back through the server's read tool.
      const reviewed = await api('tool-gateway', 'POST', '/v1/tools', {
        body: {
          ...cancel,
          version: '1.0.1',
          maxTier: 'execute_low',
          verification: [
            { check: 'read_back', tool: 'orders.lookup_order', arguments: { orderId: 'arguments.orderId' } },
            { check: 'state', tool: 'orders.lookup_order', arguments: { orderId: 'arguments.orderId' }, expect: "record.status == 'cancelled'", description: 'the order is cancelled' },
            { check: 'grant' },
          ],
        },
      });
      expect(reviewed.status).toBe(201);
      for (const [agentId, name] of [
        [AGENT, 'orders.cancel_order'],
        [AGENT, 'orders.lookup_order'],
        [VERIFIER, 'orders.lookup_order'],
      ]) {
        expect((await api('tool-gateway', 'POST', '/v1/tool-grants', { body: { agentId, tool: name } })).status).toBe(201);
      }

      // Policy: a destructive tool needs a permit that names its class.
      const sets = await api<Array<{ version: string; status: string }>>('policy', 'GET', '/v1/policies');
      const active = sets.body.find((s) => s.status === 'active')!;
      const current = await api<{ policies: Record<string, string> }>('policy', 'GET', `/v1/policies/${active.version}`);
      const uploaded = await api<{ version: string }>('policy', 'POST', '/v1/policies', {
        body: {
          description: 'orders may be cancelled through the order system',
          policies: {
            ...current.body.policies,
            'orders-cancel-at-execute-low': `
@description("Agents at execute_low may cancel orders in the order system")
@allowSideEffect("destructive")
permit(principal is Agent, action == Action::"InvokeTool", resource == Tool::"orders.cancel_order")
when { context.effectiveTierRank >= 2 };`,
          },
        },
      });
      expect(uploaded.status).toBe(201);
      expect((await api('policy', 'POST', `/v1/policies/${uploaded.body.version}/activate`)).status).toBe(200);

      const workflow = await api('orchestrator', 'POST', '/v1/workflows', {
        body: {
          id: 'order-cancel',
          description: 'Cancel an order in the order system and verify it there',
          tier: 'execute_low',
          deadlineSeconds: 300,
          escalation: ESCALATION,
          inputSchema: { type: 'object', required: ['orderId'], properties: { orderId: { type: 'string', pattern: '^ord-[0-9]+$' } } },
          steps: [
            { id: 'cancel', kind: 'action', tool: 'orders.cancel_order', arguments: { orderId: 'input.orderId', reason: '"the customer withdrew the order"' } },
            { id: 'verify', kind: 'verify', of: 'cancel' },
          ],
        },
      });
      expect(workflow.status).toBe(201);
      await learned('orders.cancel_order', '1.0.1');
      await learned('orders.lookup_order', '1.0.0');

      // Granted: policy allows it, the gateway calls the MCP server, the verifier reads the order back through it.
      const runId = await submit(agentKey, 'order-cancel', { orderId: 'ord-1001' }, 'Cancel order ord-1001, the customer withdrew it');
      const done = await completed(runId);
      expect({ outcome: done.outcome, reasons: done.reasons.map((r) => r.code) }).toEqual({ outcome: 'verified', reasons: ['verified', 'read_back_matches', 'state_check_passed', 'grant_check_passed'] });
      const decided = eventsOf(Topics.actionDecisions, runId).map((e) => e.data as { effect: string; reasons: Reason[]; grant?: unknown });
      expect(decided).toHaveLength(1);
      expect(decided[0]).toMatchObject({ effect: 'allow', grant: expect.anything() });
      expect(decided[0].reasons.map((r) => r.message).join(' ')).toContain('orders-cancel-at-execute-low');
      expect(server.state.calls.filter((c) => c.arguments['orderId'] === 'ord-1001').map((c) => c.tool)).toEqual(['cancel_order', 'lookup_order', 'lookup_order']);
      expect(server.state.orders.get('ord-1001')).toBe('cancelled');
      expect(server.state.requests.length).toBeGreaterThan(0);
      for (const r of server.state.requests) expect(r.headers['authorization']).toBe(`Bearer ${token}`);
      const executions = await db.query<{ agent_id: string; tool: string; status: string; granted: boolean }>(
        'SELECT agent_id, tool, status, grant_id IS NOT NULL AS granted FROM tool_gateway.executions WHERE run_id = $1 ORDER BY agent_id, tool',
        [runId],
      );
      expect(executions).toEqual([
        { agent_id: VERIFIER, tool: 'gateway.execution_lookup', status: 'succeeded', granted: false },
        { agent_id: VERIFIER, tool: 'orders.lookup_order', status: 'succeeded', granted: false },
        { agent_id: VERIFIER, tool: 'orders.lookup_order', status: 'succeeded', granted: false },
        { agent_id: AGENT, tool: 'orders.cancel_order', status: 'succeeded', granted: true },
      ]);
      expect(await db.query('SELECT verdict FROM verifier.verifications WHERE run_id = $1', [runId])).toEqual([{ verdict: 'confirmed' }]);

      // The same call by an agent policy lets through but that holds no grant of the tool: refused, and the server sees nothing.
      const callsBefore = server.state.calls.length;
      const ungrantedKey = await mesh.apiKey('agent', { agentId: UNGRANTED_AGENT });
      const refusedRun = await submit(ungrantedKey, 'order-cancel', { orderId: 'ord-2002' }, 'Cancel order ord-2002, the customer withdrew it');
      const refused = await completed(refusedRun);
      expect(refused.outcome).toBe('failed');
      expect(refused.reasons[0].code).toBe('tool_not_granted');
      expect(eventsOf(Topics.actionDecisions, refusedRun).map((e) => e.data['effect'])).toEqual(['allow']);
      expect(await db.query('SELECT tool, status, reasons->0->>\'code\' AS code FROM tool_gateway.executions WHERE run_id = $1', [refusedRun])).toEqual([
        { tool: 'orders.cancel_order', status: 'rejected', code: 'tool_not_granted' },
      ]);
      expect(server.state.calls.slice(callsBefore)).toEqual([]);
      expect(server.state.orders.has('ord-2002')).toBe(false);
      // The connection map shows who reaches the order system, and the refused attempt.
      const map = await api<{ agents: MapEntry[] }>('tool-gateway', 'GET', '/v1/connections/map', { key: auditorKey });
      const toolOf = (agentId: string, name: string) => map.body.agents.find((a) => a.agentId === agentId)?.tools.find((t) => t.tool === name);
      expect(toolOf(AGENT, 'orders.cancel_order')).toMatchObject({ granted: true, calls: 1, succeeded: 1, refused: 0 });
      expect(toolOf(UNGRANTED_AGENT, 'orders.cancel_order')).toMatchObject({ granted: false, calls: 1, succeeded: 0, refused: 1 });

      // The MCP token went to the server and nowhere else the mesh writes.
      const needles = needlesOf('MCP token', token);
      expect([...leaksIn('Kafka', kafkaMessages(), needles), ...leaksIn('logs', processLogs(), needles), ...leaksIn('API answers', answers, needles), ...leaksIn('Postgres', await databaseRows(), needles)]).toEqual([]);
    } finally {
      await server.close();
    }
  });
});
