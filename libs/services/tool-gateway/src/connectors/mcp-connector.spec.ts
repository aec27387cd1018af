import * as path from 'node:path';
import { inspect } from 'node:util';
import { Value } from '@sinclair/typebox/value';
import { ToolManifest } from '@govmesh/contracts';
import { startTestMcpServer, TEST_MCP_STDIO_SCRIPT, type TestMcpServer } from '@govmesh/testing';
import type { EgressPolicy } from './egress-policy';
import { manifestFromMcpTool, McpConnector, McpConnectorError, parseMcpEndpoint, type McpEndpoint, type McpToolDescription } from './mcp-connector';

jest.setTimeout(30_000);

const TOKEN = 'mcp-test-token-7f3a9c1e5b2d';
const REPO_ROOT = path.resolve(__dirname, '../../../../..');
const STDIO_SCRIPT = TEST_MCP_STDIO_SCRIPT;

function loopback(port: number, extra: Partial<EgressPolicy['allow'][number]> = {}): EgressPolicy {
  return { allow: [{ host: '127.0.0.1', port, scheme: 'http', paths: ['/mcp'], allowPrivateNetwork: true, ...extra }] };
}

function bearer(token: string) {
  const calls = { count: 0 };
  return { calls, headers: async () => (calls.count++, { authorization: `Bearer ${token}` }) };
}

function stdioEndpoint(env?: Record<string, string>): McpEndpoint {
  const parsed = parseMcpEndpoint(`stdio:${process.execPath} -r @swc-node/register ${STDIO_SCRIPT}`);
  if (!parsed.ok) throw new Error(parsed.reason.message);
  return { ...parsed.endpoint, cwd: REPO_ROOT, ...(env ? { env } : {}) } as McpEndpoint;
}

function expectNoSecret(value: unknown, secret: string): void {
  const text = value instanceof Error ? `${value.message} ${value.stack ?? ''} ${JSON.stringify(value)} ${inspect(value)}` : `${JSON.stringify(value)} ${inspect(value, { depth: 10 })}`;
  expect(text).not.toContain(secret);
}

async function thrown(promise: Promise<unknown>): Promise<McpConnectorError> {
  try {
    await promise;
  } catch (error) {
    expect(error).toBeInstanceOf(McpConnectorError);
    return error as McpConnectorError;
  }
  throw new Error('expected the call to throw');
}

describe('parseMcpEndpoint', () => {
  it('reads HTTP(S) URLs as streamable HTTP and stdio: as a command split on whitespace', () => {
    expect(parseMcpEndpoint('https://mcp.example.com/mcp')).toEqual({ ok: true, endpoint: { transport: 'streamable_http', url: 'https://mcp.example.com/mcp' } });
    expect(parseMcpEndpoint(' http://127.0.0.1:8080/mcp ')).toEqual({ ok: true, endpoint: { transport: 'streamable_http', url: 'http://127.0.0.1:8080/mcp' } });
    expect(parseMcpEndpoint('stdio:npx  -y   @acme/mcp-server --read-only')).toEqual({
      ok: true,
      endpoint: { transport: 'stdio', command: 'npx', args: ['-y', '@acme/mcp-server', '--read-only'] },
    });
    expect(parseMcpEndpoint('stdio:/opt/mcp/server')).toEqual({ ok: true, endpoint: { transport: 'stdio', command: '/opt/mcp/server', args: [] } });
  });

  it('refuses anything else with a reason that shows no credential', () => {
    for (const bad of ['', 'stdio:', 'stdio:   ', 'ftp://files.example.com/mcp', 'mcp.example.com/mcp', 'https://exa mple.com/']) {
      const parsed = parseMcpEndpoint(bad);
      expect(parsed).toMatchObject({ ok: false, reason: { code: 'mcp_endpoint_invalid' } });
    }
    const withSecret = parseMcpEndpoint('https://admin:hunter2secret@mcp.example.com/mcp?key=abc123secret');
    expect(withSecret).toMatchObject({ ok: false, reason: { code: 'mcp_endpoint_invalid' } });
    expectNoSecret(withSecret, 'hunter2secret');
    expectNoSecret(withSecret, 'abc123secret');
    expect(parseMcpEndpoint('stdio:server \u0001x')).toMatchObject({ ok: false, reason: { code: 'mcp_endpoint_invalid' } });
    const scheme = parseMcpEndpoint('ws://mcp.example.com/mcp');
    expect(scheme.ok ? '' : scheme.reason.message).toContain('ws:');
  });
});

describe('manifestFromMcpTool', () => {
  const tool = (name: string, annotations: McpToolDescription['annotations'] = {}, extra: Partial<McpToolDescription> = {}): McpToolDescription => ({
    name,
    inputSchema: { type: 'object', properties: { id: { type: 'string' } } },
    annotations,
    ...extra,
  });
  const manifest = (t: McpToolDescription, connectionId = 'orders') => {
    const result = manifestFromMcpTool(connectionId, t);
    if (!result.ok) throw new Error(result.reason.message);
    expect(Value.Check(ToolManifest, result.manifest)).toBe(true);
    return result.manifest;
  };

  it('maps the hints to the side effect and idempotence', () => {
    expect(manifest(tool('lookup', { readOnlyHint: true, destructiveHint: true, openWorldHint: true }))).toMatchObject({ sideEffect: 'read', idempotent: true });
    expect(manifest(tool('cancel', { destructiveHint: true, openWorldHint: true }))).toMatchObject({ sideEffect: 'destructive', idempotent: false });
    expect(manifest(tool('cancel', { destructiveHint: true, idempotentHint: true }))).toMatchObject({ sideEffect: 'destructive', idempotent: true });
    expect(manifest(tool('notify', { openWorldHint: true }))).toMatchObject({ sideEffect: 'external_send', idempotent: false });
    expect(manifest(tool('update', {}))).toMatchObject({ sideEffect: 'write', idempotent: false });
    expect(manifest(tool('update', { readOnlyHint: false, destructiveHint: false, openWorldHint: false, idempotentHint: true }))).toMatchObject({ sideEffect: 'write', idempotent: true });
  });

  it('builds the whole draft: name, defaults, schemas, operation with the original name, connection', () => {
    const output = { type: 'object', properties: { status: { type: 'string' } } };
    expect(manifest(tool('Get Order/v2', { readOnlyHint: true }, { description: 'Reads an order.', outputSchema: output }), 'crm-prod.eu')).toEqual({
      name: 'crm_prod_eu.get_order_v2',
      version: '1.0.0',
      description: 'Reads an order.',
      inputSchema: { type: 'object', properties: { id: { type: 'string' } } },
      outputSchema: output,
      sideEffect: 'read',
      classification: 'internal',
      idempotent: true,
      operation: { connector: 'mcp', tool: 'Get Order/v2' },
      connection: 'crm-prod.eu',
    });
    const bare = manifest({ name: 'list-items', inputSchema: undefined as unknown as Record<string, unknown>, annotations: {} });
    expect(bare).toMatchObject({ name: 'orders.list-items', inputSchema: { type: 'object' }, operation: { connector: 'mcp', tool: 'list-items' } });
    expect(bare.description).toContain('list-items');
    expect(bare).not.toHaveProperty('outputSchema');
    expect(manifest(tool('x.y.z'))).toMatchObject({ name: 'orders.x_y_z' });
  });

  it('applies overrides but keeps the operation and connection', () => {
    const result = manifestFromMcpTool('orders', tool('send_mail', { openWorldHint: true }), { classification: 'confidential', sideEffect: 'write', maxTier: 'prepare', description: undefined });
    expect(result).toMatchObject({ ok: true, manifest: { classification: 'confidential', sideEffect: 'write', maxTier: 'prepare', operation: { connector: 'mcp', tool: 'send_mail' }, connection: 'orders' } });
    const renamed = manifestFromMcpTool('9lives', tool('_internal'), { name: 'lives.internal' });
    expect(renamed).toMatchObject({ ok: true, manifest: { name: 'lives.internal', operation: { tool: '_internal' }, connection: '9lives' } });
    expect(manifestFromMcpTool('orders', tool('ok'), { name: 'Not A Name' })).toMatchObject({ ok: false, reason: { code: 'mcp_tool_name_invalid' } });
  });

  it('refuses a name that cannot fit the tool name pattern', () => {
    expect(manifestFromMcpTool('9lives', tool('lookup'))).toMatchObject({ ok: false, reason: { code: 'mcp_tool_name_invalid' } });
    expect(manifestFromMcpTool('orders', tool('_private'))).toMatchObject({ ok: false, reason: { code: 'mcp_tool_name_invalid' } });
    expect(manifestFromMcpTool('orders', tool('2fa_reset'))).toMatchObject({ ok: false, reason: { code: 'mcp_tool_name_invalid' } });
    expect(manifestFromMcpTool('orders', tool(`a${'b'.repeat(64)}`))).toMatchObject({ ok: false, reason: { code: 'mcp_tool_name_invalid' } });
    expect(manifestFromMcpTool('a'.repeat(49), tool('lookup'))).toMatchObject({ ok: false, reason: { code: 'mcp_tool_name_invalid' } });
    expect(manifestFromMcpTool('orders', tool(`a${'b'.repeat(63)}`))).toMatchObject({ ok: true });
  });
});

describe('McpConnector over streamable HTTP', () => {
  let server: TestMcpServer;
  const connectors: McpConnector[] = [];
  const connector = (options: Partial<ConstructorParameters<typeof McpConnector>[0]> = {}) => {
    const c = new McpConnector({ connectionId: 'orders', endpoint: { transport: 'streamable_http', url: server.url }, egress: loopback(server.port), headers: bearer(TOKEN).headers, timeoutMs: 5000, ...options });
    connectors.push(c);
    return c;
  };

  beforeEach(async () => {
    server = await startTestMcpServer({ token: TOKEN, slowMs: 10_000 });
  });
  afterEach(async () => {
    await Promise.all(connectors.splice(0).map((c) => c.close()));
    await server.close();
  });

  it('lists the tools with their schemas and hints', async () => {
    const tools = await connector().listTools();
    expect(tools.map((t) => t.name)).toEqual(['lookup_order', 'cancel_order', 'fail', 'slow', 'environment']);
    const lookup = tools.find((t) => t.name === 'lookup_order')!;
    expect(lookup).toMatchObject({
      description: 'Looks up an order by its id.',
      inputSchema: { type: 'object', properties: { orderId: { type: 'string', pattern: '^ord-[0-9]+$' } }, required: ['orderId'] },
      outputSchema: { type: 'object', required: ['orderId', 'status', 'total'] },
      annotations: { readOnlyHint: true, openWorldHint: false },
    });
    expect(tools.find((t) => t.name === 'cancel_order')!.annotations).toEqual({ readOnlyHint: false, destructiveHint: true, idempotentHint: true, openWorldHint: false });
    const manifests = tools.map((t) => manifestFromMcpTool('orders', t));
    expect(manifests.map((m) => (m.ok ? [m.manifest.name, m.manifest.sideEffect] : m.reason.code))).toEqual([
      ['orders.lookup_order', 'read'],
      ['orders.cancel_order', 'destructive'],
      ['orders.fail', 'write'],
      ['orders.slow', 'external_send'],
      ['orders.environment', 'read'],
    ]);
  });

  it('calls lookup and cancel end to end', async () => {
    const c = connector();
    expect(await c.callTool('lookup_order', { orderId: 'ord-17' })).toEqual({
      status: 'succeeded',
      output: { orderId: 'ord-17', status: 'shipped', total: 42 },
      reasons: [{ code: 'mcp_call_completed', message: expect.stringContaining('lookup_order') }],
    });
    expect(await c.callTool('cancel_order', { orderId: 'ord-17', reason: 'customer asked' })).toMatchObject({ status: 'succeeded', output: { orderId: 'ord-17', status: 'cancelled' } });
    expect(server.state.orders.get('ord-17')).toBe('cancelled');
    expect(await c.callTool('lookup_order', { orderId: 'ord-17' })).toMatchObject({ status: 'succeeded', output: { status: 'cancelled' } });
    expect(server.state.calls).toEqual([
      { tool: 'lookup_order', arguments: { orderId: 'ord-17' } },
      { tool: 'cancel_order', arguments: { orderId: 'ord-17', reason: 'customer asked' } },
      { tool: 'lookup_order', arguments: { orderId: 'ord-17' } },
    ]);
    // One session for all three calls: one initialize.
    expect(server.state.requests.filter((r) => r.method === 'POST' && r.headers['mcp-session-id'] === undefined)).toHaveLength(1);
  });

  it('maps a text-only success to its text parts', async () => {
    const c = connector({ timeoutMs: 5000 });
    server.state.slowMs = 10;
    expect(await c.callTool('slow', {})).toMatchObject({ status: 'succeeded', output: { content: ['done at last'] } });
  });

  it('sends the credentials on every request, asked for per request, and shows them nowhere', async () => {
    const auth = bearer(TOKEN);
    const c = connector({ headers: auth.headers });
    const tools = await c.listTools();
    const results = [await c.callTool('lookup_order', { orderId: 'ord-1' }), await c.callTool('fail', {}), await c.callTool('lookup_order', { orderId: 'bad' })];
    expect(server.state.requests.length).toBeGreaterThanOrEqual(5);
    for (const request of server.state.requests) expect(request.headers.authorization).toBe(`Bearer ${TOKEN}`);
    expect(auth.calls.count).toBeGreaterThanOrEqual(server.state.requests.length);
    for (const value of [tools, ...results, c]) expectNoSecret(value, TOKEN);
    expect(String(c)).toBe('McpConnector(orders, streamable_http)');
  });

  it('scrubs a credential the server echoes in an error', async () => {
    const result = await connector().callTool('fail', { detail: `I saw Bearer ${TOKEN}` });
    expect(result).toMatchObject({ status: 'failed', retryable: false, reasons: [{ code: 'mcp_tool_error' }] });
    expect(result.reasons[0].message).toContain('[redacted]');
    expectNoSecret(result, TOKEN);
  });

  it('scrubs a credential the server echoes in a result', async () => {
    // A token that looks like an order id: the lookup answers it back.
    const token = 'ord-4242424242';
    await server.close();
    server = await startTestMcpServer({ token });
    const result = await connector({ headers: bearer(token).headers }).callTool('lookup_order', { orderId: token });
    expect(result).toMatchObject({ status: 'succeeded', output: { orderId: '[redacted]', status: 'shipped', total: 42 } });
    expectNoSecret(result, token);
  });

  it('fails with mcp_unauthorized on a wrong or missing token, naming no token', async () => {
    const wrong = 'wrong-token-0a1b2c3d4e5f';
    const c = connector({ headers: bearer(wrong).headers });
    const error = await thrown(c.listTools());
    expect(error).toMatchObject({ status: 'failed', retryable: false, code: 'mcp_unauthorized' });
    expectNoSecret(error, wrong);
    expectNoSecret(error, TOKEN);
    const result = await c.callTool('lookup_order', { orderId: 'ord-1' });
    expect(result).toMatchObject({ status: 'failed', retryable: false, reasons: [{ code: 'mcp_unauthorized' }] });
    expectNoSecret(result, wrong);
    expect(server.state.requests.every((r) => r.headers.authorization === `Bearer ${wrong}`)).toBe(true);

    const anonymous = connector({ headers: undefined });
    expect(await anonymous.callTool('lookup_order', { orderId: 'ord-1' })).toMatchObject({ status: 'failed', reasons: [{ code: 'mcp_unauthorized' }] });
    expect(server.state.calls).toEqual([]);
  });

  it('reports credentials that cannot be had by code only', async () => {
    const c = connector({
      headers: async () => {
        throw Object.assign(new Error(`token endpoint said ${TOKEN}`), { code: 'oauth2_token_failed' });
      },
    });
    const result = await c.callTool('lookup_order', { orderId: 'ord-1' });
    expect(result).toMatchObject({ status: 'failed', reasons: [{ code: 'authorization_failed', message: expect.stringContaining('oauth2_token_failed') }] });
    expectNoSecret(result, TOKEN);
    expect(server.state.requests).toEqual([]);
  });

  it('refuses an endpoint off the egress allow-list before any connection', async () => {
    const otherPort = connector({ egress: loopback(server.port + 1) });
    const result = await otherPort.callTool('lookup_order', { orderId: 'ord-1' });
    expect(result).toMatchObject({ status: 'rejected', reasons: [{ code: 'egress_refused' }, { code: 'egress_host_not_allowed' }] });
    expect(result.retryable).toBeUndefined();
    expect(await thrown(otherPort.listTools())).toMatchObject({ status: 'rejected', code: 'egress_refused' });

    const noPolicy = connector({ egress: undefined });
    expect(await noPolicy.callTool('lookup_order', { orderId: 'ord-1' })).toMatchObject({ status: 'rejected', reasons: [{ code: 'egress_refused' }] });

    const otherPath = connector({ egress: loopback(server.port, { paths: ['/other'] }) });
    expect(await otherPath.callTool('lookup_order', { orderId: 'ord-1' })).toMatchObject({ status: 'rejected', reasons: [{ code: 'egress_refused' }, { code: 'egress_path_not_allowed' }] });

    // Loopback is a private address: refused unless the entry allows private networks.
    const privateRefused = connector({ egress: loopback(server.port, { allowPrivateNetwork: false }) });
    expect(await privateRefused.callTool('lookup_order', { orderId: 'ord-1' })).toMatchObject({
      status: 'rejected',
      reasons: [{ code: 'egress_refused' }, { code: 'egress_address_not_allowed' }],
    });

    // A host name is resolved and every answer checked; the socket goes to the address checked.
    const named = connector({
      endpoint: { transport: 'streamable_http', url: `http://mcp.orders.test:${server.port}/mcp?key=q-secret-value` },
      egress: { allow: [{ host: 'mcp.orders.test', port: server.port, scheme: 'http', paths: ['/mcp'] }] },
      resolve: async () => [{ address: '127.0.0.1', family: 4 }],
    });
    const refused = await named.callTool('lookup_order', { orderId: 'ord-1' });
    expect(refused).toMatchObject({ status: 'rejected', reasons: [{ code: 'egress_refused' }, { code: 'egress_address_not_allowed' }] });
    expectNoSecret(refused, 'q-secret-value');
    expect(server.state.requests).toEqual([]);

    const namedAllowed = connector({
      endpoint: { transport: 'streamable_http', url: `http://mcp.orders.test:${server.port}/mcp` },
      egress: { allow: [{ host: 'mcp.orders.test', port: server.port, scheme: 'http', paths: ['/mcp'], allowPrivateNetwork: true }] },
      resolve: async () => [{ address: '127.0.0.1', family: 4 }],
    });
    expect(await namedAllowed.callTool('lookup_order', { orderId: 'ord-2' })).toMatchObject({ status: 'succeeded' });
    expect(server.state.requests[0].headers.host).toBe(`mcp.orders.test:${server.port}`);
  });

  it("maps a tool's error to mcp_tool_error with its text", async () => {
    expect(await connector().callTool('fail', {})).toEqual({
      status: 'failed',
      retryable: false,
      reasons: [{ code: 'mcp_tool_error', message: 'the order system is read-only during the monthly close' }],
    });
    const long = await connector().callTool('fail', { detail: 'x'.repeat(5000) });
    expect(long.reasons[0].message.length).toBe(2000);
  });

  it('maps a request the server refuses (an unknown tool) to mcp_request_failed, not retryable', async () => {
    const c = connector();
    const result = await c.callTool('no_such_tool', { detail: TOKEN });
    expect(result).toMatchObject({ status: 'failed', retryable: false, reasons: [{ code: 'mcp_request_failed', message: expect.stringContaining('no_such_tool not found') }] });
    expect(await c.callTool('lookup_order', { orderId: 'nope' })).toMatchObject({ status: 'failed', reasons: [{ code: 'mcp_tool_error', message: 'orderId must match ^ord-[0-9]+$' }] });
  });

  it('times out a slow tool with mcp_timeout, retryable, and the connection stays usable', async () => {
    const c = connector({ timeoutMs: 400 });
    await c.listTools();
    const started = Date.now();
    const result = await c.callTool('slow', {});
    expect(Date.now() - started).toBeLessThan(3000);
    expect(result).toMatchObject({ status: 'failed', retryable: true, reasons: [{ code: 'mcp_timeout', message: expect.stringContaining('400 ms') }] });
    expect(await c.callTool('lookup_order', { orderId: 'ord-3' })).toMatchObject({ status: 'succeeded' });
  });

  it("maps the caller's abort to mcp_timeout", async () => {
    const c = connector({ timeoutMs: 5000 });
    const controller = new AbortController();
    setTimeout(() => controller.abort(), 200);
    expect(await c.callTool('slow', {}, controller.signal)).toMatchObject({ status: 'failed', retryable: true, reasons: [{ code: 'mcp_timeout' }] });
    expect(await thrown(c.listTools(AbortSignal.abort()))).toMatchObject({ code: 'mcp_timeout', retryable: true });
  });

  it('reconnects once when the server lost the session', async () => {
    const c = connector();
    expect(await c.callTool('lookup_order', { orderId: 'ord-1' })).toMatchObject({ status: 'succeeded' });
    await server.dropSessions();
    expect(await c.callTool('cancel_order', { orderId: 'ord-1' })).toMatchObject({ status: 'succeeded' });
    expect(server.state.calls.map((call) => call.tool)).toEqual(['lookup_order', 'cancel_order']);
    expect(server.state.requests.filter((r) => r.method === 'POST' && r.headers['mcp-session-id'] === undefined)).toHaveLength(2);
  });

  it('fails with mcp_unavailable, retryable, when the server is down', async () => {
    const c = connector();
    await server.close();
    const result = await c.callTool('lookup_order', { orderId: 'ord-1' });
    expect(result).toMatchObject({ status: 'failed', retryable: true, reasons: [{ code: 'mcp_unavailable', message: expect.stringContaining('ECONNREFUSED') }] });
    expect(await thrown(c.listTools())).toMatchObject({ code: 'mcp_unavailable', retryable: true });
    server = await startTestMcpServer({ token: TOKEN });
  });

  it('fails a response over the size limit', async () => {
    const c = connector({ maxResponseBytes: 4096 });
    await c.listTools();
    const result = await c.callTool('fail', { detail: 'x'.repeat(10_000) });
    expect(result).toMatchObject({ status: 'failed', retryable: false, reasons: [{ code: 'mcp_response_too_large' }] });
    expect(await c.callTool('lookup_order', { orderId: 'ord-1' })).toMatchObject({ status: 'succeeded' });
  });

  it('refuses calls after close', async () => {
    const c = connector();
    await c.listTools();
    await c.close();
    expect(await c.callTool('lookup_order', { orderId: 'ord-1' })).toMatchObject({ status: 'failed', reasons: [{ code: 'mcp_unavailable' }] });
  });
});

describe('McpConnector over stdio', () => {
  const connectors: McpConnector[] = [];
  const connector = (endpoint: McpEndpoint = stdioEndpoint(), timeoutMs = 20_000) => {
    const c = new McpConnector({ connectionId: 'orders-local', endpoint, timeoutMs });
    connectors.push(c);
    return c;
  };
  afterEach(async () => {
    await Promise.all(connectors.splice(0).map((c) => c.close()));
  });

  it('lists the tools and calls lookup and cancel end to end', async () => {
    const c = connector();
    const tools = await c.listTools();
    expect(tools.map((t) => t.name)).toEqual(['lookup_order', 'cancel_order', 'fail', 'slow', 'environment']);
    expect(tools[0].annotations).toEqual({ readOnlyHint: true, openWorldHint: false });
    expect(await c.callTool('lookup_order', { orderId: 'ord-5' })).toMatchObject({ status: 'succeeded', output: { orderId: 'ord-5', status: 'shipped', total: 42 } });
    expect(await c.callTool('cancel_order', { orderId: 'ord-5' })).toMatchObject({ status: 'succeeded', output: { status: 'cancelled' } });
    expect(await c.callTool('lookup_order', { orderId: 'ord-5' })).toMatchObject({ status: 'succeeded', output: { status: 'cancelled' } });
    expect(await c.callTool('fail', {})).toMatchObject({ status: 'failed', retryable: false, reasons: [{ code: 'mcp_tool_error' }] });
  });

  it("runs the server with PATH and the connection's variables, never the gateway's environment", async () => {
    process.env['GOVMESH_MCP_TEST_GATEWAY_SECRET'] = 'gateway-only-value';
    try {
      const c = connector(stdioEndpoint({ ORDERS_API_KEY: 'orders-key-123456789' }));
      const result = await c.callTool('environment', {});
      const names = (result.output as { names: string[] }).names;
      expect(names).toContain('PATH');
      expect(names).toContain('ORDERS_API_KEY');
      expect(names).not.toContain('GOVMESH_MCP_TEST_GATEWAY_SECRET');
      expect(names).not.toContain('NODE_OPTIONS');
      // The MCP SDK always passes on its short list of login variables.
      expect(names.filter((n) => !['PATH', 'ORDERS_API_KEY', 'HOME', 'LOGNAME', 'SHELL', 'TERM', 'USER'].includes(n))).toEqual([]);
      expectNoSecret(c, 'orders-key-123456789');
      const echoed = await c.callTool('fail', { detail: 'key orders-key-123456789' });
      expectNoSecret(echoed, 'orders-key-123456789');
    } finally {
      delete process.env['GOVMESH_MCP_TEST_GATEWAY_SECRET'];
    }
  });

  it('starts a new server process when the old one died', async () => {
    const c = connector();
    const first = await c.callTool('environment', {});
    const pid = (first.output as { pid: number }).pid;
    await c.callTool('cancel_order', { orderId: 'ord-9' });
    process.kill(pid, 'SIGKILL');
    for (let i = 0; i < 100; i++) {
      try {
        process.kill(pid, 0);
      } catch {
        break;
      }
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
    await new Promise((resolve) => setTimeout(resolve, 200));
    const second = await c.callTool('environment', {});
    expect(second).toMatchObject({ status: 'succeeded' });
    expect((second.output as { pid: number }).pid).not.toBe(pid);
    // A new process: a new, empty order state.
    expect(await c.callTool('lookup_order', { orderId: 'ord-9' })).toMatchObject({ output: { status: 'shipped' } });
  });

  it('times out a slow tool with mcp_timeout', async () => {
    const c = connector(stdioEndpoint(), 20_000);
    await c.listTools();
    const controller = new AbortController();
    setTimeout(() => controller.abort(), 300);
    expect(await c.callTool('slow', {}, controller.signal)).toMatchObject({ status: 'failed', retryable: true, reasons: [{ code: 'mcp_timeout' }] });
    expect(await c.callTool('lookup_order', { orderId: 'ord-1' })).toMatchObject({ status: 'succeeded' });
  });

  it('fails a message over the size limit and starts afresh', async () => {
    const c = new McpConnector({ connectionId: 'orders-local', endpoint: stdioEndpoint(), timeoutMs: 20_000, maxResponseBytes: 4096 });
    connectors.push(c);
    await c.listTools();
    expect(await c.callTool('fail', { detail: 'x'.repeat(10_000) })).toMatchObject({ status: 'failed', retryable: false, reasons: [{ code: 'mcp_response_too_large' }] });
    expect(await c.callTool('lookup_order', { orderId: 'ord-1' })).toMatchObject({ status: 'succeeded' });
  });

  it('fails, not retryable, when the command does not exist', async () => {
    const c = connector({ transport: 'stdio', command: '/nonexistent/mcp-server', args: ['--token', 'arg-secret-value'] });
    const result = await c.callTool('lookup_order', { orderId: 'ord-1' });
    expect(result).toMatchObject({ status: 'failed', retryable: false, reasons: [{ code: 'mcp_unavailable', message: expect.stringContaining('ENOENT') }] });
    expectNoSecret(result, 'arg-secret-value');
  });
});
