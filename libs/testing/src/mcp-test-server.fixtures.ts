import { randomUUID } from 'node:crypto';
import * as http from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { Server } from '@modelcontextprotocol/sdk/server/index.js';
import { StreamableHTTPServerTransport } from '@modelcontextprotocol/sdk/server/streamableHttp.js';
import { CallToolRequestSchema, ErrorCode, isInitializeRequest, McpError, ListToolsRequestSchema, type CallToolResult, type Tool } from '@modelcontextprotocol/sdk/types.js';

/**
 * A small MCP server for tests: an order system with a read tool, a destructive tool, a tool that
 * answers an error and a slow tool. Served over streamable HTTP on 127.0.0.1 (bearer token required)
 * by `startTestMcpServer`, and over stdio by `mcp-test-server.stdio.fixtures.ts`
 * (`TEST_MCP_STDIO_SCRIPT`). In the test harness so that the connector's unit tests and the
 * integration tests on the mesh use the same server.
 */

/** The stdio server's script: run it with `node -r @swc-node/register <script>` from the repository root. */
export const TEST_MCP_STDIO_SCRIPT = join(__dirname, 'mcp-test-server.stdio.fixtures.ts');

export const ORDER_ID_PATTERN = '^ord-[0-9]+$';

/** What the server holds and what it saw; tests assert on it. */
export interface TestMcpState {
  /** Order statuses changed by `cancel_order`; an order not in the map is `shipped`. */
  orders: Map<string, string>;
  /** Every tool call the server received, in order. */
  calls: { tool: string; arguments: Record<string, unknown> }[];
  /** Every HTTP request the server received, authorised or not (streamable HTTP only). */
  requests: { method: string; url: string; headers: http.IncomingHttpHeaders }[];
  /** How long `slow` takes. */
  slowMs: number;
}

export function createTestMcpState(slowMs = 10_000): TestMcpState {
  return { orders: new Map(), calls: [], requests: [], slowMs };
}

export const TEST_MCP_TOOLS: Tool[] = [
  {
    name: 'lookup_order',
    description: 'Looks up an order by its id.',
    inputSchema: {
      type: 'object',
      properties: { orderId: { type: 'string', pattern: ORDER_ID_PATTERN } },
      required: ['orderId'],
      additionalProperties: false,
    },
    outputSchema: {
      type: 'object',
      properties: { orderId: { type: 'string' }, status: { type: 'string' }, total: { type: 'number' } },
      required: ['orderId', 'status', 'total'],
    },
    annotations: { readOnlyHint: true, openWorldHint: false },
  },
  {
    name: 'cancel_order',
    description: 'Cancels an order.',
    inputSchema: {
      type: 'object',
      properties: { orderId: { type: 'string', pattern: ORDER_ID_PATTERN }, reason: { type: 'string' } },
      required: ['orderId'],
      additionalProperties: false,
    },
    annotations: { readOnlyHint: false, destructiveHint: true, idempotentHint: true, openWorldHint: false },
  },
  {
    name: 'fail',
    description: 'Always answers an error (ending with `detail` when given).',
    inputSchema: { type: 'object', properties: { detail: { type: 'string' } } },
  },
  {
    name: 'slow',
    description: 'Answers after a long wait.',
    inputSchema: { type: 'object', properties: {} },
    annotations: { openWorldHint: true },
  },
  {
    name: 'environment',
    description: 'Names the environment variables the server process runs with, and its process id.',
    inputSchema: { type: 'object', properties: {} },
    annotations: { readOnlyHint: true },
  },
];

const text = (value: string): CallToolResult['content'] => [{ type: 'text', text: value }];

function toolError(message: string): CallToolResult {
  return { isError: true, content: text(message) };
}

function wait(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    const timer = setTimeout(resolve, ms);
    signal.addEventListener('abort', () => {
      clearTimeout(timer);
      resolve();
    }, { once: true });
  });
}

/** The MCP server (low level: tools as raw JSON Schemas) over the given state; connect it to one transport. */
export function createTestMcpServer(state: TestMcpState): Server {
  const server = new Server({ name: 'govmesh-test-orders', version: '1.0.0' }, { capabilities: { tools: {} } });
  server.setRequestHandler(ListToolsRequestSchema, async () => ({ tools: TEST_MCP_TOOLS }));
  server.setRequestHandler(CallToolRequestSchema, async (request, extra): Promise<CallToolResult> => {
    const args = (request.params.arguments ?? {}) as Record<string, unknown>;
    state.calls.push({ tool: request.params.name, arguments: args });
    const orderId = args['orderId'];
    switch (request.params.name) {
      case 'lookup_order': {
        if (typeof orderId !== 'string' || !new RegExp(ORDER_ID_PATTERN).test(orderId)) return toolError(`orderId must match ${ORDER_ID_PATTERN}`);
        const order = { orderId, status: state.orders.get(orderId) ?? 'shipped', total: 42 };
        return { content: text(JSON.stringify(order)), structuredContent: order };
      }
      case 'cancel_order': {
        if (typeof orderId !== 'string' || !new RegExp(ORDER_ID_PATTERN).test(orderId)) return toolError(`orderId must match ${ORDER_ID_PATTERN}`);
        state.orders.set(orderId, 'cancelled');
        return { content: text(`order ${orderId} cancelled`), structuredContent: { orderId, status: 'cancelled' } };
      }
      case 'fail': {
        const detail = typeof args['detail'] === 'string' ? `: ${args['detail']}` : '';
        return toolError(`the order system is read-only during the monthly close${detail}`);
      }
      case 'slow':
        await wait(state.slowMs, extra.signal);
        return { content: text('done at last') };
      case 'environment':
        return { content: text('environment'), structuredContent: { names: Object.keys(process.env).sort(), pid: process.pid } };
      default:
        throw new McpError(ErrorCode.InvalidParams, `Tool ${request.params.name} not found`);
    }
  });
  return server;
}

export interface TestMcpServer {
  /** The MCP endpoint, `http://127.0.0.1:<port>/mcp`. */
  url: string;
  port: number;
  state: TestMcpState;
  /** Forgets every session, as a restarted server would: the next request of a client answers 404. */
  dropSessions(): Promise<void>;
  close(): Promise<void>;
}

function readBody(req: http.IncomingMessage): Promise<unknown> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    req.on('data', (chunk: Buffer) => chunks.push(chunk));
    req.on('error', reject);
    req.on('end', () => {
      const raw = Buffer.concat(chunks).toString('utf8');
      try {
        resolve(raw === '' ? undefined : JSON.parse(raw));
      } catch {
        resolve(undefined);
      }
    });
  });
}

function answer(res: http.ServerResponse, status: number, body: unknown, headers: Record<string, string> = {}): void {
  res.writeHead(status, { 'content-type': 'application/json', ...headers }).end(JSON.stringify(body));
}

/**
 * Serves the test MCP server over streamable HTTP (stateful sessions) at `/mcp` on an ephemeral port of
 * 127.0.0.1. Every request must carry `authorization: Bearer <token>` (401 otherwise); every request's
 * headers are recorded in `state.requests`.
 */
export async function startTestMcpServer(options: { token: string; slowMs?: number }): Promise<TestMcpServer> {
  const state = createTestMcpState(options.slowMs);
  const sessions = new Map<string, { transport: StreamableHTTPServerTransport; server: Server }>();

  const handle = async (req: http.IncomingMessage, res: http.ServerResponse): Promise<void> => {
    state.requests.push({ method: req.method ?? '', url: req.url ?? '', headers: { ...req.headers } });
    if (req.url !== '/mcp') return answer(res, 404, { error: 'not found' });
    if (req.headers.authorization !== `Bearer ${options.token}`) {
      return answer(res, 401, { error: 'invalid_token' }, { 'www-authenticate': 'Bearer error="invalid_token"' });
    }
    const sessionId = req.headers['mcp-session-id'];
    const body = req.method === 'POST' ? await readBody(req) : undefined;
    if (typeof sessionId === 'string') {
      const session = sessions.get(sessionId);
      if (!session) return answer(res, 404, { jsonrpc: '2.0', error: { code: -32001, message: 'Session not found' }, id: null });
      return session.transport.handleRequest(req, res, body);
    }
    if (req.method !== 'POST' || !isInitializeRequest(body)) {
      return answer(res, 400, { jsonrpc: '2.0', error: { code: -32000, message: 'No session: initialize first' }, id: null });
    }
    const server = createTestMcpServer(state);
    const transport: StreamableHTTPServerTransport = new StreamableHTTPServerTransport({
      sessionIdGenerator: () => randomUUID(),
      onsessioninitialized: (id) => {
        sessions.set(id, { transport, server });
      },
    });
    transport.onclose = () => {
      if (transport.sessionId) sessions.delete(transport.sessionId);
    };
    await server.connect(transport);
    await transport.handleRequest(req, res, body);
  };

  const httpServer = http.createServer((req, res) => {
    handle(req, res).catch(() => {
      if (!res.headersSent) answer(res, 500, { error: 'internal' });
      else res.destroy();
    });
  });
  await new Promise<void>((resolve, reject) => {
    httpServer.once('error', reject);
    httpServer.listen(0, '127.0.0.1', () => resolve());
  });
  const port = (httpServer.address() as AddressInfo).port;

  const dropSessions = async () => {
    const open = [...sessions.values()];
    sessions.clear();
    await Promise.all(open.map((s) => s.server.close().catch(() => undefined)));
  };

  return {
    url: `http://127.0.0.1:${port}/mcp`,
    port,
    state,
    dropSessions,
    close: async () => {
      await dropSessions();
      httpServer.closeAllConnections();
      await new Promise<void>((resolve) => httpServer.close(() => resolve()));
    },
  };
}
