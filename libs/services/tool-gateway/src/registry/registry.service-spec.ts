import { randomBytes, randomUUID } from 'node:crypto';
import { createServer, type IncomingHttpHeaders, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { issueGrant } from '@govmesh/action-grants';
import { EventTypes, type GovmeshEvent } from '@govmesh/contracts';
import { ServiceKeys } from '@govmesh/nest-runtime';
import { ServiceHarness } from '@govmesh/testing';
import { TOOL_GATEWAY_DATABASE } from '../database';
import { ToolGatewayServiceModule } from '../tool-gateway.module';

const SCHEMA = TOOL_GATEWAY_DATABASE.schema;
const MASTER_KEY = { id: 'kid1', key: randomBytes(32) };
const SECRET = `sk-ledger-${randomUUID()}`;

interface Received {
  method: string;
  url: string;
  headers: IncomingHttpHeaders;
  body: string;
}

/**
 * The tool manifest through the operator API, as an operator drives it: an HTTP API behind a
 * connection registered as a tool, granted to an agent with a constraint, called under policy's
 * grant, dry-run, revoked, withdrawn — and the connection map showing what the agent touched.
 */
describe('tool manifest, tool grants and dry runs through the operator API', () => {
  let h: ServiceHarness;
  let server: Server;
  let port: number;
  const received: Received[] = [];
  let operator: string;

  beforeAll(async () => {
    server = createServer((req, res) => {
      let body = '';
      req.on('data', (chunk: Buffer) => (body += chunk.toString('utf8')));
      req.on('end', () => {
        received.push({ method: req.method ?? '', url: req.url ?? '', headers: req.headers, body });
        res.setHeader('content-type', 'application/json');
        res.end(JSON.stringify({ entryId: `e-${received.length}`, posted: true }));
      });
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    port = (server.address() as AddressInfo).port;
    h = await ServiceHarness.start({
      modules: [ToolGatewayServiceModule],
      schemas: [SCHEMA],
      env: { GOVMESH_CONNECTION_KEYS: `${MASTER_KEY.id}:${MASTER_KEY.key.toString('base64')}` },
    });
    operator = await h.apiKey('operator');
    const created = await h.http('POST', '/v1/connections', {
      key: operator,
      body: {
        id: 'ledger-api',
        kind: 'http',
        endpoint: `http://127.0.0.1:${port}/ledger`,
        auth: { method: 'bearer' },
        egress: { allow: [{ host: '127.0.0.1', port, scheme: 'http', paths: ['/ledger/**'], allowPrivateNetwork: true }] },
        secret: SECRET,
      },
    });
    expect(created.status).toBe(201);
  });

  afterAll(async () => {
    await h?.close();
    await new Promise((resolve) => server?.close(resolve));
  });

  const manifest = (over: Record<string, unknown> = {}) => ({
    name: 'ledger.post_entry',
    version: '1.0.0',
    description: 'Post an entry to the general ledger',
    inputSchema: { type: 'object', properties: { account: { type: 'string', pattern: '^[0-9]{4}$' }, amount: { type: 'number' } }, required: ['account', 'amount'], additionalProperties: false },
    outputSchema: { type: 'object', properties: { entryId: { type: 'string' } }, required: ['entryId'] },
    sideEffect: 'write',
    classification: 'internal',
    idempotent: true,
    operation: { connector: 'http', method: 'POST', path: '/entries', body: ['account', 'amount'] },
    connection: 'ledger-api',
    ...over,
  });

  function request(tool: string, args: Record<string, unknown>, options: { agentId?: string; dryRun?: boolean; idempotencyKey?: string; grantOf?: GovmeshEvent<typeof EventTypes.ToolRequested> } = {}): GovmeshEvent<typeof EventTypes.ToolRequested> {
    const agentId = options.agentId ?? 'ledger-clerk';
    const runId = options.grantOf?.data.runId ?? `r-${randomUUID()}`;
    const grant = options.grantOf?.data.grant ?? issueGrant(h.app.get(ServiceKeys).signingKey('grant'), { agentId, agentVersion: '2.0.0', tool, arguments: args, policyVersion: 'p1' }, { runId, stepId: 'execute' }, randomUUID(), new Date(), 30);
    return h.event(EventTypes.ToolRequested, {
      runId,
      stepId: options.grantOf ? 'execute-again' : 'execute',
      actionStepId: 'execute',
      agentId,
      agentVersion: '2.0.0',
      tool,
      arguments: args,
      grant,
      ...(options.idempotencyKey ? { idempotencyKey: options.idempotencyKey } : {}),
      ...(options.dryRun ? { dryRun: true } : {}),
    });
  }
  const executedFor = (event: GovmeshEvent<typeof EventTypes.ToolRequested>) => h.emitted(EventTypes.ToolExecuted).filter((e) => e.data.runId === event.data.runId && e.data.stepId === event.data.stepId).map((e) => e.data);
  async function call(event: GovmeshEvent<typeof EventTypes.ToolRequested>) {
    await h.send(event);
    const found = executedFor(event);
    expect(found).toHaveLength(1);
    return found[0];
  }

  describe('registration', () => {
    it('registers an HTTP tool, announces it, and answers the same manifest again without a change', async () => {
      const res = await h.http<{ name: string; version: string; status: string }>('POST', '/v1/tools', { key: operator, body: manifest() });
      expect(res.status).toBe(201);
      expect(res.body).toMatchObject({ name: 'ledger.post_entry', version: '1.0.0', status: 'active' });
      const announced = h.emitted(EventTypes.ToolRegistered).filter((e) => e.data.name === 'ledger.post_entry');
      expect(announced.map((e) => [e.data.change, e.data.manifest.version])).toEqual([['registered', '1.0.0']]);
      expect(JSON.stringify(announced)).not.toContain(SECRET);

      const again = await h.http('POST', '/v1/tools', { key: operator, body: manifest() });
      expect(again.status).toBe(200);
      expect(h.emitted(EventTypes.ToolRegistered).filter((e) => e.data.name === 'ledger.post_entry')).toHaveLength(1);
      const listed = await h.http<{ items: Array<{ name: string }> }>('GET', '/v1/tools', { key: await h.apiKey('auditor') });
      expect(listed.status).toBe(200);
      expect(listed.body.items.map((t) => t.name)).toEqual(expect.arrayContaining(['ledger.post_entry', 'invoices.approve_payment']));
    });

    it.each([
      ['a changed manifest under the same version', () => manifest({ description: 'changed' }), 409, 'tool_version_not_newer', undefined],
      ['a built-in tool name', () => manifest({ name: 'invoices.approve_payment', version: '9.0.0' }), 409, 'tool_built_in', undefined],
      ['the reserved gateway. namespace', () => manifest({ name: 'gateway.anything' }), 409, 'tool_built_in', undefined],
      ['a schema keyword ajv does not know', () => manifest({ name: 'ledger.bad_schema', inputSchema: { type: 'object', properties: {}, frobnicate: true } }), 400, 'invalid_tool', '/inputSchema'],
      ['a path naming no argument', () => manifest({ name: 'ledger.bad_path', operation: { connector: 'http', method: 'GET', path: '/entries/{entryId}' } }), 400, 'invalid_tool', '/operation/path'],
      ['a connection that does not exist', () => manifest({ name: 'ledger.no_connection', connection: 'nowhere' }), 400, 'invalid_tool', '/connection'],
      ['a sandbox operation', () => manifest({ name: 'ledger.sandbox', operation: { connector: 'sandbox', operation: 'invoices.lookup' } }), 400, 'invalid_tool', '/operation/connector'],
      ['a verification check reading with a write tool', () => manifest({ name: 'ledger.checked', verification: [{ check: 'read_back', tool: 'invoices.approve_payment', arguments: { invoiceId: 'arguments.account' } }] }), 400, 'invalid_tool', '/verification/0/tool'],
      ['a verification expression that does not parse', () => manifest({ name: 'ledger.checked', verification: [{ check: 'state', tool: 'invoices.lookup', arguments: { invoiceId: 'arguments.account' }, expect: 'record.status ==' }] }), 400, 'invalid_tool', '/verification/0/expect'],
    ])('refuses %s', async (_what, body, status, code, field) => {
      const res = await h.http<{ code: string; fields?: Array<{ field: string }> }>('POST', '/v1/tools', { key: operator, body: body() });
      expect(res.status).toBe(status);
      expect(res.body.code).toBe(code);
      if (field) expect(res.body.fields?.map((f) => f.field)).toContain(field);
    });

    it('lets only operators register, and auditors read', async () => {
      expect((await h.http('POST', '/v1/tools', { key: null, body: manifest({ name: 'ledger.anon' }) })).status).toBe(401);
      for (const role of ['reviewer', 'auditor'] as const) {
        const res = await h.http<{ code: string }>('POST', '/v1/tools', { key: await h.apiKey(role), body: manifest({ name: 'ledger.other' }) });
        expect(res.status).toBe(403);
      }
      expect((await h.http('GET', '/v1/tools/ledger.post_entry', { key: await h.apiKey('reviewer') })).status).toBe(403);
      expect((await h.http('GET', '/v1/tools/no.such_tool', { key: operator })).status).toBe(404);
    });
  });

  describe('tool grants and calls', () => {
    let grantId: string;

    beforeAll(async () => {
      const res = await h.http<{ id: string }>('POST', '/v1/tool-grants', { key: operator, body: { agentId: 'ledger-clerk', agentVersion: '*', tool: 'ledger.post_entry', constraints: { condition: 'arguments.amount <= 100.0' } } });
      expect(res.status).toBe(201);
      grantId = res.body.id;
      expect(h.emitted(EventTypes.ToolGrantChanged).filter((e) => e.data.agentId === 'ledger-clerk')).toHaveLength(1);
    });

    it('refuses a grant the gateway cannot enforce', async () => {
      const bad = await h.http<{ code: string; fields: Array<{ field: string }> }>('POST', '/v1/tool-grants', { key: operator, body: { agentId: 'ledger-clerk', agentVersion: '*', tool: 'ledger.post_entry', constraints: { condition: 'arguments.amount <=' } } });
      expect(bad.status).toBe(400);
      expect(bad.body.fields.map((f) => f.field)).toContain('/constraints/condition');
      const write = await h.http<{ code: string }>('POST', '/v1/tool-grants', { key: operator, body: { agentId: 'govmesh-verifier', agentVersion: '*', tool: 'ledger.post_entry' } });
      expect(write.status).toBe(400);
    });

    it('calls the API with the connection secret injected, and the secret appears in nothing the gateway emits', async () => {
      const before = received.length;
      const done = await call(request('ledger.post_entry', { account: '4000', amount: 42.5 }));
      expect(done).toMatchObject({ status: 'succeeded', output: { entryId: expect.any(String), posted: true } });
      expect(received).toHaveLength(before + 1);
      const sent = received[received.length - 1];
      expect(sent).toMatchObject({ method: 'POST', url: '/ledger/entries' });
      expect(sent.headers['authorization']).toBe(`Bearer ${SECRET}`);
      expect(sent.headers['idempotency-key']).toEqual(expect.any(String));
      expect(JSON.parse(sent.body)).toEqual({ account: '4000', amount: 42.5 });
      expect(JSON.stringify(h.emitted(EventTypes.ToolExecuted))).not.toContain(SECRET);
      expect(JSON.stringify(await h.query(`SELECT * FROM "${SCHEMA}"."executions"`))).not.toContain(SECRET);
    });

    it("refuses arguments outside the grant's condition and outside the schema, without calling the API", async () => {
      const before = received.length;
      expect(await call(request('ledger.post_entry', { account: '4000', amount: 500 }))).toMatchObject({ status: 'rejected', reasons: [{ code: 'argument_constraint_failed' }] });
      const invalid = await call(request('ledger.post_entry', { account: 'cash', amount: 5 }));
      expect(invalid).toMatchObject({ status: 'rejected', reasons: [{ code: 'arguments_invalid' }] });
      expect(invalid.reasons[0].message).toContain('/account');
      expect(await call(request('ledger.post_entry', { account: '4000', amount: 5 }, { agentId: 'stranger' }))).toMatchObject({ status: 'rejected', reasons: [{ code: 'tool_not_granted' }] });
      expect(received).toHaveLength(before);
    });

    it('a dry run checks everything, answers what it would have sent, calls nothing and uses the grant up', async () => {
      const before = received.length;
      const dry = request('ledger.post_entry', { account: '4100', amount: 7 }, { dryRun: true, idempotencyKey: `k-${randomUUID()}` });
      const done = await call(dry);
      expect(done.status).toBe('dry_run');
      expect(done.output).toEqual({
        dryRun: true,
        tool: 'ledger.post_entry',
        version: '1.0.0',
        sideEffect: 'write',
        connection: 'ledger-api',
        call: { connector: 'http', connection: 'ledger-api', request: { method: 'POST', url: `http://127.0.0.1:${port}/ledger/entries`, bodyFields: ['account', 'amount'], authentication: 'bearer' } },
      });
      expect(done.reasons.map((r) => r.code)).toEqual(['dry_run']);
      expect(JSON.stringify(done)).not.toContain(SECRET);
      expect(received).toHaveLength(before);
      const [row] = await h.query<{ status: string; dry_run: boolean; idempotency_key: string | null }>(`SELECT status, dry_run, idempotency_key FROM "${SCHEMA}"."executions" WHERE id = $1`, [done.executionId]);
      expect(row).toEqual({ status: 'dry_run', dry_run: true, idempotency_key: null });

      // The dry run's grant is spent: it cannot be replayed into a real call.
      expect(await call(request('ledger.post_entry', { account: '4100', amount: 7 }, { grantOf: dry }))).toMatchObject({ status: 'rejected', reasons: [{ code: 'grant_already_used' }] });
      // The key the dry run carried still belongs to nobody: a real call under it is performed.
      const real = await call(request('ledger.post_entry', { account: '4100', amount: 7 }, { idempotencyKey: dry.data.idempotencyKey! }));
      expect(real.status).toBe('succeeded');
      expect(received).toHaveLength(before + 1);
    });

    it('a dry run is refused like a call when a check fails', async () => {
      expect(await call(request('ledger.post_entry', { account: '4000', amount: 1000 }, { dryRun: true }))).toMatchObject({ status: 'rejected', reasons: [{ code: 'argument_constraint_failed' }] });
      const other = request('ledger.post_entry', { account: '4000', amount: 1 }, { dryRun: true });
      const forged = h.event(EventTypes.ToolRequested, { ...other.data, arguments: { account: '4000', amount: 99 } });
      expect(await call(forged)).toMatchObject({ status: 'rejected', reasons: [{ code: expect.stringMatching(/^grant_/) }] });
    });

    it('a dry run of a tool whose request would leave the allow-list says it would be refused', async () => {
      const outside = manifest({ name: 'ledger.admin_reset', operation: { connector: 'http', method: 'POST', path: '/../admin/reset' }, inputSchema: { type: 'object', properties: {} } });
      expect((await h.http('POST', '/v1/tools', { key: operator, body: outside })).status).toBe(201);
      await h.http('POST', '/v1/tool-grants', { key: operator, body: { agentId: 'ledger-clerk', agentVersion: '*', tool: 'ledger.admin_reset' } });
      const done = await call(request('ledger.admin_reset', {}, { dryRun: true }));
      expect(done.status).toBe('dry_run');
      expect(done.reasons.map((r) => r.code)).toEqual(['dry_run', 'dry_run_would_be_refused']);
      expect((done.output?.['call'] as { wouldBeRefused: { code: string } }).wouldBeRefused.code).toBe('egress_path_not_allowed');
    });

    it('the connection map shows the agent, its tools, its connection and its calls', async () => {
      const res = await h.http<{ agents: Array<{ agentId: string; tools: Array<{ tool: string; granted: boolean; connection: string | null; calls: number; succeeded: number; refused: number }>; connections: Array<{ id: string; status: string | null }> }> }>('GET', '/v1/connections/map', { key: operator });
      expect(res.status).toBe(200);
      const clerk = res.body.agents.find((a) => a.agentId === 'ledger-clerk');
      expect(clerk?.connections).toEqual(expect.arrayContaining([expect.objectContaining({ id: 'ledger-api', status: 'active' })]));
      const tool = clerk?.tools.find((t) => t.tool === 'ledger.post_entry');
      expect(tool).toMatchObject({ granted: true, connection: 'ledger-api' });
      expect(tool!.succeeded).toBe(2);
      expect(tool!.refused).toBeGreaterThanOrEqual(4);
      const stranger = res.body.agents.find((a) => a.agentId === 'stranger');
      expect(stranger?.tools).toEqual([expect.objectContaining({ tool: 'ledger.post_entry', granted: false, refused: 1 })]);
      expect(JSON.stringify(res.body)).not.toContain(SECRET);
    });

    it('after the connection is revoked, a dry run says the call would be refused and a call is refused', async () => {
      const revoked = await h.http('POST', '/v1/connections/ledger-api/revoke', { key: operator, body: { reason: 'rotation drill' } });
      expect(revoked.status).toBe(200);
      const before = received.length;
      const dry = await call(request('ledger.post_entry', { account: '4000', amount: 3 }, { dryRun: true }));
      expect(dry.status).toBe('dry_run');
      expect((dry.output?.['call'] as { wouldBeRefused: { code: string } }).wouldBeRefused.code).toBe('connection_revoked');
      expect(await call(request('ledger.post_entry', { account: '4000', amount: 3 }))).toMatchObject({ status: 'rejected', reasons: [{ code: 'connection_revoked' }] });
      expect(received).toHaveLength(before);
    });

    it('a withdrawn grant stops the next call', async () => {
      const res = await h.http('POST', `/v1/tool-grants/${grantId}/withdraw`, { key: operator, body: { reason: 'done' } });
      expect(res.status).toBe(200);
      expect(await call(request('ledger.post_entry', { account: '4000', amount: 3 }))).toMatchObject({ status: 'rejected', reasons: [{ code: 'tool_not_granted' }] });
    });
  });
});
