import type * as http from 'node:http';
import { Readable, Transform } from 'node:stream';
import { inspect } from 'node:util';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StdioClientTransport } from '@modelcontextprotocol/sdk/client/stdio.js';
import { StreamableHTTPClientTransport, StreamableHTTPError } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import type { Transport } from '@modelcontextprotocol/sdk/shared/transport.js';
import { ErrorCode, McpError, type Tool } from '@modelcontextprotocol/sdk/types.js';
import { ToolName, type Reason, type ToolManifest } from '@govmesh/contracts';
import type { ToolResult } from '../tool-definition';
import { credentialWords, scrubJson, scrubText } from './credential-scrub';
import { EgressAllowList, reason, redactUrl, type EgressPolicy, type EgressTarget } from './egress-policy';
import { errorCode, pinnedRequest, resolveAndCheck, sameOrigin, systemResolve, type ResolvedAddress, type Resolver } from './address-pinning';
import { abortable } from './abortable';

/**
 * Where an MCP server is reached: over streamable HTTP at a URL, or over stdio by spawning a local
 * command (no shell) with a minimal environment.
 */
export type McpEndpoint =
  | { transport: 'streamable_http'; url: string }
  | { transport: 'stdio'; command: string; args: string[]; env?: Record<string, string>; cwd?: string };

export type ParsedMcpEndpoint = { ok: true; endpoint: McpEndpoint } | { ok: false; reason: Reason };

/** What an MCP server says about one of its tools (its hints are the server's claims, not verified). */
export interface McpToolAnnotations {
  title?: string;
  readOnlyHint?: boolean;
  destructiveHint?: boolean;
  idempotentHint?: boolean;
  openWorldHint?: boolean;
}

/** A tool as an MCP server lists it. */
export interface McpToolDescription {
  name: string;
  title?: string;
  description?: string;
  inputSchema: Record<string, unknown>;
  outputSchema?: Record<string, unknown>;
  annotations: McpToolAnnotations;
}

export interface McpConnectorOptions {
  /** Named in reasons; never a secret. */
  connectionId: string;
  endpoint: McpEndpoint;
  /** Required for streamable HTTP: every request (and the endpoint, before connecting) is checked against it. */
  egress?: EgressPolicy;
  /**
   * The connection's authentication headers, asked for on every HTTP request and added to requests to
   * the endpoint's origin only. The connector keeps nothing of what it answers.
   */
  headers?: () => Promise<Record<string, string>>;
  /** Per call, connecting included. Defaults to 30 s. */
  timeoutMs?: number;
  /** Defaults to the system resolver; injectable for tests. */
  resolve?: Resolver;
  /** The largest HTTP response body (or stdio message) accepted. Defaults to 4 MiB. */
  maxResponseBytes?: number;
}

export const DEFAULT_MCP_TIMEOUT_MS = 30_000;
export const DEFAULT_MCP_MAX_RESPONSE_BYTES = 4 * 1024 * 1024;
/** The longest text of a tool's error kept as the reason's message. */
export const MCP_ERROR_TEXT_LIMIT = 2000;
/** A server listing more tools than this is cut short. */
export const MAX_MCP_TOOLS = 1000;
const MAX_LIST_PAGES = 50;

/**
 * A refusal or failure of the connector, as a tool result would carry it. Its message is its first
 * reason's, which never holds a credential.
 */
export class McpConnectorError extends Error {
  constructor(
    readonly status: 'failed' | 'rejected',
    readonly reasons: Reason[],
    readonly retryable: boolean,
    /** The request is known not to have reached the server (a reconnection may send it again safely). */
    readonly undelivered = false,
  ) {
    super(reasons[0]?.message ?? 'the MCP call failed');
    this.name = 'McpConnectorError';
  }

  get code(): string {
    return this.reasons[0]?.code ?? 'mcp_unavailable';
  }

  toToolResult(): ToolResult {
    return this.status === 'rejected' ? { status: 'rejected', reasons: this.reasons } : { status: 'failed', reasons: this.reasons, retryable: this.retryable };
  }
}

const failure = (retryable: boolean, code: string, message: string, undelivered = false) => new McpConnectorError('failed', [reason(code, message)], retryable, undelivered);

// ---------------------------------------------------------------------------------------------------
// Endpoints
// ---------------------------------------------------------------------------------------------------

/**
 * Reads a connection's endpoint: `https://…` or `http://…` is an MCP server over streamable HTTP;
 * `stdio:<command> <args…>` (split on whitespace, never through a shell) one spawned over stdio.
 */
export function parseMcpEndpoint(endpoint: string): ParsedMcpEndpoint {
  const text = endpoint.trim();
  if (text === '') return { ok: false, reason: reason('mcp_endpoint_invalid', 'the MCP endpoint is empty') };
  if (/^stdio:/i.test(text)) {
    const parts = text.slice('stdio:'.length).trim().split(/\s+/).filter((part) => part !== '');
    if (parts.length === 0) return { ok: false, reason: reason('mcp_endpoint_invalid', 'the stdio MCP endpoint names no command (stdio:<command> <args…>)') };
    if (parts.some((part) => [...part].some((char) => char.charCodeAt(0) < 0x20 || char.charCodeAt(0) === 0x7f))) {
      return { ok: false, reason: reason('mcp_endpoint_invalid', 'the stdio MCP endpoint holds control characters') };
    }
    const [command, ...args] = parts;
    return { ok: true, endpoint: { transport: 'stdio', command, args } };
  }
  if (/^https?:\/\//i.test(text)) {
    let url: URL;
    try {
      url = new URL(text);
    } catch {
      return { ok: false, reason: reason('mcp_endpoint_invalid', 'the MCP endpoint is not a valid URL') };
    }
    if (url.username !== '' || url.password !== '') {
      return { ok: false, reason: reason('mcp_endpoint_invalid', `credentials in the MCP endpoint URL are refused (${redactUrl(url)}); they belong to the connection's secret`) };
    }
    return { ok: true, endpoint: { transport: 'streamable_http', url: url.href } };
  }
  const scheme = /^([A-Za-z][A-Za-z0-9+.-]{0,31}):/.exec(text)?.[1];
  return {
    ok: false,
    reason: reason(
      'mcp_endpoint_invalid',
      scheme ? `MCP endpoints of scheme ${scheme.toLowerCase()}: are not supported (https://…, http://… or stdio:<command> <args…>)` : 'the MCP endpoint is neither a URL (https://…, http://…) nor stdio:<command> <args…>',
    ),
  };
}

// ---------------------------------------------------------------------------------------------------
// Manifests
// ---------------------------------------------------------------------------------------------------

const TOOL_NAME = new RegExp(ToolName.pattern ?? '^$');
const MAX_SYSTEM_SEGMENT = 48;
const MAX_OPERATION_SEGMENT = 64;
const MAX_DESCRIPTION = 2000;

/** What an administrator may set over what the server's listing says; the operation and connection stay the server's. */
export type McpManifestOverrides = Partial<Omit<ToolManifest, 'operation' | 'connection'>>;

export type McpManifestResult = { ok: true; manifest: ToolManifest } | { ok: false; reason: Reason };

/**
 * The gateway's name for an MCP tool: `<connection>.<tool>`, the connection id with every character but
 * `[a-z0-9_]` made `_`, the tool's name lower-cased with every character but `[a-z0-9_-]` made `_`.
 * Two tools of a server may come to the same name (`Get.Order`, `get_order`): the registry refuses the second.
 */
export function mcpToolName(connectionId: string, toolName: string): { ok: true; name: string } | { ok: false; reason: Reason } {
  const system = connectionId.toLowerCase().replace(/[^a-z0-9_]/g, '_');
  const operation = toolName.toLowerCase().replace(/[^a-z0-9_-]/g, '_');
  const shown = JSON.stringify(toolName.slice(0, 128));
  if (!/^[a-z]/.test(system) || system.length > MAX_SYSTEM_SEGMENT) {
    return {
      ok: false,
      reason: reason('mcp_tool_name_invalid', `connection id ${JSON.stringify(connectionId)} cannot prefix a tool name: it must start with a letter and be at most ${MAX_SYSTEM_SEGMENT} characters`),
    };
  }
  if (!/^[a-z]/.test(operation) || operation.length > MAX_OPERATION_SEGMENT) {
    return {
      ok: false,
      reason: reason('mcp_tool_name_invalid', `MCP tool ${shown} of connection ${connectionId} cannot be named: its name must start with a letter and be at most ${MAX_OPERATION_SEGMENT} characters`),
    };
  }
  const name = `${system}.${operation}`;
  if (!TOOL_NAME.test(name)) return { ok: false, reason: reason('mcp_tool_name_invalid', `MCP tool ${shown} of connection ${connectionId} does not fit a tool name (${name})`) };
  return { ok: true, name };
}

/**
 * A manifest draft for a tool an MCP server lists. Its side effect comes from the server's hints:
 * `readOnlyHint` → read, else `destructiveHint` → destructive, else `openWorldHint` → external_send,
 * else write; it is idempotent when read-only or `idempotentHint`. Hints are the server's claims: an
 * administrator reviews the draft (and sets overrides) before registering it.
 */
export function manifestFromMcpTool(connectionId: string, tool: McpToolDescription, overrides: McpManifestOverrides = {}): McpManifestResult {
  const named = mcpToolName(connectionId, tool.name);
  if (!named.ok && overrides.name === undefined) return named;
  const name = overrides.name ?? (named.ok ? named.name : '');
  if (!TOOL_NAME.test(name)) return { ok: false, reason: reason('mcp_tool_name_invalid', `${JSON.stringify(name.slice(0, 128))} is not a tool name (<system>.<operation>, lower case)`) };
  const hints = tool.annotations ?? {};
  const sideEffect: ToolManifest['sideEffect'] =
    hints.readOnlyHint === true ? 'read' : hints.destructiveHint === true ? 'destructive' : hints.openWorldHint === true ? 'external_send' : 'write';
  const described = (tool.description ?? tool.title ?? hints.title ?? '').trim();
  const description = described === '' ? `The tool ${tool.name.slice(0, 128)} of the MCP server of connection ${connectionId}.` : described;
  const manifest: ToolManifest = {
    name,
    version: '1.0.0',
    description: description.length > MAX_DESCRIPTION ? `${description.slice(0, MAX_DESCRIPTION - 1)}…` : description,
    inputSchema: isObject(tool.inputSchema) ? tool.inputSchema : { type: 'object' },
    ...(isObject(tool.outputSchema) ? { outputSchema: tool.outputSchema } : {}),
    sideEffect,
    classification: 'internal',
    idempotent: hints.readOnlyHint === true || hints.idempotentHint === true,
    ...Object.fromEntries(Object.entries(overrides).filter(([, value]) => value !== undefined)),
    operation: { connector: 'mcp', tool: tool.name },
    connection: connectionId,
  };
  manifest.name = name;
  if (!TOOL_NAME.test(manifest.name)) return { ok: false, reason: reason('mcp_tool_name_invalid', `${JSON.stringify(name.slice(0, 128))} is not a tool name`) };
  return { ok: true, manifest };
}

// ---------------------------------------------------------------------------------------------------
// The connector
// ---------------------------------------------------------------------------------------------------

/** Set by the connector alone: neither the SDK nor the credentials may point a request elsewhere. */
const CONNECTOR_HEADERS = ['host', 'content-length', 'transfer-encoding', 'connection', 'keep-alive', 'upgrade', 'te', 'trailer', 'proxy-connection', 'expect'];
/** Socket errors raised before a request could be written: the server never saw it. */
const NOT_DELIVERED = new Set(['ECONNREFUSED', 'ENOTFOUND', 'EHOSTUNREACH', 'ENETUNREACH', 'EAI_AGAIN', 'EADDRNOTAVAIL']);
/** Spawn errors that a new attempt will meet again. */
const PERMANENT_SPAWN = new Set(['ENOENT', 'EACCES', 'ENOTDIR', 'EISDIR']);
const NULL_BODY_STATUSES = new Set([101, 103, 204, 205, 304]);

interface Session {
  client: Client;
  transport: Transport;
  connected: Promise<void>;
  /** The connection completed once: a failure now is a stale connection's. */
  ready: boolean;
  closed: boolean;
  /** Why the session was ended by the connector (a response over the size limit): what its pending calls fail with. */
  fatal?: McpConnectorError;
}

/** A deadline for one call: the connector's timeout or the caller's abort, whichever comes first. */
class Deadline {
  private readonly controller = new AbortController();
  private readonly timer: NodeJS.Timeout;
  timedOut = false;

  constructor(
    ms: number,
    private readonly outer?: AbortSignal,
  ) {
    this.timer = setTimeout(() => {
      this.timedOut = true;
      this.controller.abort(new Error('timed out'));
    }, ms);
    if (outer?.aborted) this.controller.abort(new Error('aborted'));
    outer?.addEventListener('abort', this.onAbort, { once: true });
  }

  private readonly onAbort = () => this.controller.abort(new Error('aborted'));

  get signal(): AbortSignal {
    return this.controller.signal;
  }

  dispose(): void {
    clearTimeout(this.timer);
    this.outer?.removeEventListener('abort', this.onAbort);
  }
}

function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function bounded(text: string, limit: number): string {
  return text.length > limit ? `${text.slice(0, limit - 1)}…` : text;
}

function describeTool(tool: Tool): McpToolDescription {
  const hints = tool.annotations ?? {};
  const annotations: McpToolAnnotations = {};
  if (typeof hints.title === 'string') annotations.title = hints.title;
  for (const hint of ['readOnlyHint', 'destructiveHint', 'idempotentHint', 'openWorldHint'] as const) {
    if (typeof hints[hint] === 'boolean') annotations[hint] = hints[hint];
  }
  return {
    name: tool.name,
    ...(typeof tool.title === 'string' ? { title: tool.title } : {}),
    ...(typeof tool.description === 'string' ? { description: tool.description } : {}),
    inputSchema: tool.inputSchema as Record<string, unknown>,
    ...(isObject(tool.outputSchema) ? { outputSchema: tool.outputSchema } : {}),
    annotations,
  };
}

/**
 * A client of one connection's MCP server (one connector per connection id and version). It connects
 * on first use and reconnects when the connection was lost: a stale connection's failure is retried
 * once on a fresh one when the request cannot have reached the server (or only lists tools).
 *
 * Over streamable HTTP every request, the first included, goes through the connection's egress
 * allow-list, its host's addresses are checked and the socket made to the address checked; the
 * credentials are asked for per request and sent to the endpoint's origin only. Over stdio the server
 * runs without a shell, with PATH and the connection's own variables (and the few the MCP SDK always
 * passes on: HOME, LOGNAME, SHELL, TERM, USER), never the gateway's environment.
 *
 * Reasons never carry a credential: URLs are redacted, errors are reported by code, and any text from
 * the server is scrubbed of the connection's credential values.
 */
export class McpConnector {
  readonly connectionId: string;
  readonly #options: McpConnectorOptions;
  readonly #timeoutMs: number;
  readonly #maxResponseBytes: number;
  readonly #resolve: Resolver;
  #allowList: EgressAllowList | undefined;
  #origin: EgressTarget | undefined;
  #session: Session | undefined;
  #closed = false;

  constructor(options: McpConnectorOptions) {
    this.connectionId = options.connectionId;
    this.#options = options;
    this.#timeoutMs = Math.max(1, options.timeoutMs ?? DEFAULT_MCP_TIMEOUT_MS);
    this.#maxResponseBytes = Math.max(1024, options.maxResponseBytes ?? DEFAULT_MCP_MAX_RESPONSE_BYTES);
    this.#resolve = options.resolve ?? systemResolve;
  }

  get transport(): McpEndpoint['transport'] {
    return this.#options.endpoint.transport;
  }

  /** Every tool the server lists (up to {@link MAX_MCP_TOOLS}); throws {@link McpConnectorError}. */
  async listTools(signal?: AbortSignal): Promise<McpToolDescription[]> {
    const deadline = new Deadline(this.#timeoutMs, signal);
    try {
      return await this.withSession(deadline, () => true, async (client) => {
        const tools: McpToolDescription[] = [];
        let cursor: string | undefined;
        for (let page = 0; page < MAX_LIST_PAGES && tools.length < MAX_MCP_TOOLS; page++) {
          const result = await client.listTools(cursor === undefined ? undefined : { cursor }, { signal: deadline.signal, timeout: this.#timeoutMs });
          for (const tool of result.tools) if (tools.length < MAX_MCP_TOOLS) tools.push(describeTool(tool));
          cursor = result.nextCursor;
          if (!cursor) break;
        }
        return tools;
      });
    } catch (error) {
      throw await this.classify(error, deadline);
    } finally {
      deadline.dispose();
    }
  }

  /**
   * Calls one tool of the server by its name there. An error the tool reports is a failed result
   * `mcp_tool_error` with its text; a success's output is its structured content, else its text parts.
   */
  async callTool(name: string, args: Record<string, unknown>, signal?: AbortSignal): Promise<ToolResult> {
    const deadline = new Deadline(this.#timeoutMs, signal);
    try {
      // A server of an old protocol version may answer `toolResult` only: it then has no content.
      const result = (await this.withSession(
        deadline,
        (failed) => failed.undelivered,
        (client) => client.callTool({ name, arguments: args }, undefined, { signal: deadline.signal, timeout: this.#timeoutMs }),
      )) as { content?: unknown; isError?: unknown; structuredContent?: unknown };
      const content = Array.isArray(result.content) ? (result.content as unknown[]) : [];
      const texts = content.filter((part): part is { type: 'text'; text: string } => isObject(part) && part['type'] === 'text' && typeof part['text'] === 'string').map((part) => part.text);
      if (result.isError === true) {
        const text = texts.join('\n').trim();
        const message = text === '' ? `connection ${this.connectionId}: MCP tool ${name.slice(0, 128)} reported an error without a message` : await this.scrub(text);
        return { status: 'failed', reasons: [{ code: 'mcp_tool_error', message: bounded(message, MCP_ERROR_TEXT_LIMIT) }], retryable: false };
      }
      // An answer that echoes the credential sent does not carry it any further.
      const output = scrubJson(isObject(result.structuredContent) ? result.structuredContent : { content: texts }, await this.credentialTexts());
      return { status: 'succeeded', output, reasons: [reason('mcp_call_completed', `connection ${this.connectionId}: MCP tool ${name.slice(0, 128)} answered`)] };
    } catch (error) {
      return (await this.classify(error, deadline)).toToolResult();
    } finally {
      deadline.dispose();
    }
  }

  /** Ends the session (and the stdio server's process); the connector cannot be used again. */
  async close(): Promise<void> {
    this.#closed = true;
    const session = this.#session;
    this.#session = undefined;
    if (!session) return;
    if (session.ready && session.transport instanceof StreamableHTTPClientTransport) {
      const transport = session.transport;
      await Promise.race([transport.terminateSession().catch(() => undefined), new Promise((resolve) => setTimeout(resolve, 1000).unref())]);
    }
    await session.client.close().catch(() => undefined);
  }

  toJSON(): Record<string, unknown> {
    return { connectionId: this.connectionId, transport: this.transport };
  }

  toString(): string {
    return `McpConnector(${this.connectionId}, ${this.transport})`;
  }

  [inspect.custom](): string {
    return this.toString();
  }

  // -------------------------------------------------------------------------------------------------

  private async withSession<T>(deadline: Deadline, mayRetry: (failed: McpConnectorError) => boolean, operation: (client: Client) => Promise<T>): Promise<T> {
    for (let attempt = 0; ; attempt++) {
      if (this.#closed) throw failure(true, 'mcp_unavailable', `connection ${this.connectionId}: the MCP connector was closed`, true);
      const current = this.#session && !this.#session.closed ? this.#session : undefined;
      const session = current ?? (this.#session = this.open());
      const stale = session.ready;
      try {
        await abortable(session.connected, deadline.signal);
        return await operation(session.client);
      } catch (error) {
        if (deadline.signal.aborted) throw error;
        const failed = session.fatal ?? (await this.classify(error, deadline));
        if (failed.code === 'mcp_unavailable') this.discard(session);
        if (attempt === 0 && stale && failed.code === 'mcp_unavailable' && mayRetry(failed)) continue;
        throw failed;
      }
    }
  }

  /** Starts a session; the connection completes in the background (`connected`). */
  private open(): Session {
    const client = new Client({ name: 'govmesh-tool-gateway', version: '1.0.0' }, { capabilities: {} });
    const session: Session = { client, transport: undefined as unknown as Transport, connected: Promise.resolve(), ready: false, closed: false };
    session.transport = this.createTransport(session);
    // Errors surface through the requests they fail; what the transport reports besides may quote the server,
    // so it is not logged. A stdio message over the size limit ends the session (the SDK closes it).
    client.onerror = (error) => {
      if (this.#options.endpoint.transport === 'stdio' && /^ReadBuffer exceeded maximum size/.test(error.message)) session.fatal ??= this.tooLarge();
    };
    client.onclose = () => {
      session.closed = true;
      if (this.#session === session) this.#session = undefined;
    };
    session.connected = client.connect(session.transport, { timeout: this.#timeoutMs }).then(
      () => {
        session.ready = true;
      },
      (error: unknown) => {
        this.discard(session);
        throw error;
      },
    );
    // A caller that stopped waiting must not leave the rejection unhandled.
    session.connected.catch(() => undefined);
    return session;
  }

  private discard(session: Session): void {
    session.closed = true;
    if (this.#session === session) this.#session = undefined;
    void session.client.close().catch(() => undefined);
  }

  private tooLarge(): McpConnectorError {
    return failure(false, 'mcp_response_too_large', `connection ${this.connectionId}: the MCP server sent more than ${this.#maxResponseBytes} bytes in one response`);
  }

  private createTransport(session: Session): Transport {
    const endpoint = this.#options.endpoint;
    if (endpoint.transport === 'stdio') {
      const path = process.env['PATH'];
      return new StdioClientTransport({
        command: endpoint.command,
        args: endpoint.args,
        env: { ...(path === undefined ? {} : { PATH: path }), ...(endpoint.env ?? {}) },
        ...(endpoint.cwd === undefined ? {} : { cwd: endpoint.cwd }),
        // The server's diagnostics may hold its secrets: they are not passed on to the gateway's logs.
        stderr: 'ignore',
        maxBufferSize: this.#maxResponseBytes,
      });
    }
    const url = new URL(endpoint.url);
    this.#origin = this.checkEgress('POST', url).target;
    return new StreamableHTTPClientTransport(url, {
      fetch: (input, init) => this.fetch(session, input, init),
      redirectPolicy: 'same-origin',
    });
  }

  /** Checks a request against the egress allow-list; throws the refusal. */
  private checkEgress(method: string, url: URL): { target: EgressTarget; allowPrivateNetwork: boolean } {
    const id = this.connectionId;
    const refuse = (message: string, ...detail: Reason[]) => new McpConnectorError('rejected', [reason('egress_refused', `connection ${id}: ${message}`), ...detail], false, true);
    if (!this.#options.egress) throw refuse('no egress allow-list is configured, so its MCP server may not be reached');
    try {
      this.#allowList ??= new EgressAllowList(this.#options.egress);
    } catch (error) {
      throw refuse(`the egress allow-list cannot be enforced (${bounded(error instanceof Error ? error.message : 'invalid', 300)})`);
    }
    const decision = this.#allowList.check(method, url);
    if (!decision.allowed) throw refuse(`${method} ${redactUrl(url)} is not on the egress allow-list`, decision.reason);
    return { target: decision.target, allowPrivateNetwork: decision.allowPrivateNetwork };
  }

  /**
   * The fetch the streamable HTTP transport uses: egress-checked, resolved and pinned, credentials added
   * for the endpoint's origin, no redirect followed here (the SDK follows same-origin ones through it).
   */
  private async fetch(session: Session, input: string | URL, init?: RequestInit): Promise<Response> {
    const url = new URL(typeof input === 'string' ? input : input.href);
    const method = (init?.method ?? 'GET').toUpperCase();
    const { target, allowPrivateNetwork } = this.checkEgress(method, url);
    const signal = init?.signal ?? undefined;
    const pinned = await this.checkAddress(target, allowPrivateNetwork);

    let headers: Headers;
    try {
      headers = new Headers(init?.headers);
    } catch {
      throw failure(false, 'mcp_protocol_error', `connection ${this.connectionId}: the MCP request's headers are not valid`, true);
    }
    if (this.#options.headers && this.#origin && sameOrigin(target, this.#origin)) {
      let credentials: Record<string, string>;
      try {
        credentials = await this.#options.headers();
      } catch (error) {
        // The error may carry a secret: only its code is reported.
        throw failure(false, 'authorization_failed', `connection ${this.connectionId}: credentials could not be added (${errorCode(error)})`, true);
      }
      for (const [name, value] of Object.entries(credentials)) {
        try {
          headers.set(name, value);
        } catch {
          throw failure(false, 'authorization_failed', `connection ${this.connectionId}: the credentials are not valid HTTP headers`, true);
        }
      }
    }
    for (const name of CONNECTOR_HEADERS) headers.delete(name);
    // Bodies are read as sent: a compressed body would get round the size limit.
    headers.set('accept-encoding', 'identity');
    let body: Buffer | undefined;
    if (typeof init?.body === 'string') body = Buffer.from(init.body, 'utf8');
    else if (init?.body !== undefined && init.body !== null) throw failure(false, 'mcp_protocol_error', `connection ${this.connectionId}: an MCP request body of an unexpected kind`, true);
    if (body !== undefined) headers.set('content-length', String(body.length));
    return this.send(session, target, pinned, method, Object.fromEntries(headers.entries()), body, signal);
  }

  /** Resolves the host (or takes the IP literal) and checks every answer; answers the address to connect to. */
  private async checkAddress(target: EgressTarget, allowPrivateNetwork: boolean): Promise<ResolvedAddress> {
    const id = this.connectionId;
    const checked = await resolveAndCheck(target, allowPrivateNetwork, this.#resolve, id);
    if ('unresolved' in checked) throw failure(checked.retryable, 'mcp_unavailable', checked.unresolved.message, true);
    if ('refused' in checked) throw new McpConnectorError('rejected', [reason('egress_refused', `connection ${id}: ${target.host} may not be reached`), checked.refused], false, true);
    return checked.address;
  }

  private send(session: Session, target: EgressTarget, pinned: ResolvedAddress, method: string, headers: Record<string, string>, body: Buffer | undefined, signal: AbortSignal | undefined): Promise<Response> {
    const id = this.connectionId;
    const limit = this.#maxResponseBytes;
    const oversize = () => {
      // A streamed answer would never arrive: the session ends, failing its pending calls with this reason.
      const error = this.tooLarge();
      session.fatal ??= error;
      this.discard(session);
      return error;
    };
    return new Promise<Response>((resolve, reject) => {
      if (signal?.aborted) return reject(signal.reason);
      const req = pinnedRequest(target, pinned, method, headers);
      let response: http.IncomingMessage | undefined;
      const onAbort = () => {
        if (response) response.destroy(signal?.reason instanceof Error ? signal.reason : new Error('aborted'));
        else {
          req.destroy();
          reject(signal?.reason);
        }
      };
      signal?.addEventListener('abort', onAbort, { once: true });
      const release = () => signal?.removeEventListener('abort', onAbort);
      req.on('response', (res) => {
        response = res;
        res.once('close', release);
        const status = res.statusCode ?? 0;
        if (status < 200 || status > 599) {
          res.destroy();
          return reject(failure(true, 'mcp_unavailable', `connection ${id}: ${redactUrl(target.url)} answered HTTP status ${status}`));
        }
        const responseHeaders = new Headers();
        for (let i = 0; i + 1 < res.rawHeaders.length; i += 2) {
          try {
            responseHeaders.append(res.rawHeaders[i], res.rawHeaders[i + 1]);
          } catch {
            // A header the fetch API cannot hold is left out.
          }
        }
        if (NULL_BODY_STATUSES.has(status) || method === 'HEAD') {
          res.resume();
          return resolve(new Response(null, { status, headers: responseHeaders }));
        }
        let size = 0;
        const counted = new Transform({
          transform(chunk: Buffer, _encoding, callback) {
            size += chunk.length;
            if (size > limit) callback(oversize());
            else callback(null, chunk);
          },
        });
        res.on('error', (error) => counted.destroy(error));
        counted.on('error', () => res.destroy());
        res.pipe(counted);
        const stream = Readable.toWeb(counted) as unknown as ReadableStream<Uint8Array>;
        resolve(new Response(stream, { status, headers: responseHeaders }));
      });
      req.on('error', (error) => {
        release();
        if (signal?.aborted) return reject(signal.reason);
        const code = errorCode(error);
        if (/CERT|TLS|SSL|SELF_SIGNED|ALTNAME/.test(code)) {
          return reject(failure(false, 'mcp_unavailable', `connection ${id}: TLS with ${target.host} failed (${code})`, true));
        }
        reject(failure(true, 'mcp_unavailable', `connection ${id}: ${target.host} port ${target.port} could not be reached (${code})`, NOT_DELIVERED.has(code)));
      });
      req.end(body);
    });
  }

  /** Maps whatever a call threw to the connector's failure, naming no credential. */
  private async classify(error: unknown, deadline: Deadline): Promise<McpConnectorError> {
    const id = this.connectionId;
    if (deadline.signal.aborted) {
      return deadline.timedOut
        ? failure(true, 'mcp_timeout', `connection ${id}: the MCP server gave no answer within ${this.#timeoutMs} ms`)
        : failure(true, 'mcp_timeout', `connection ${id}: the MCP call was aborted before an answer`);
    }
    if (error instanceof McpConnectorError) return error;
    if (error instanceof McpError) {
      if (error.code === ErrorCode.RequestTimeout) return failure(true, 'mcp_timeout', `connection ${id}: the MCP server gave no answer within ${this.#timeoutMs} ms`);
      if (error.code === ErrorCode.ConnectionClosed) return failure(true, 'mcp_unavailable', `connection ${id}: the connection to the MCP server closed before an answer`);
      const text = await this.scrub(error.message);
      return failure(false, 'mcp_request_failed', `connection ${id}: the MCP server refused the request (${bounded(text, 400)})`);
    }
    if (error instanceof StreamableHTTPError) {
      const status = error.code ?? -1;
      const endpoint = this.#options.endpoint;
      const where = endpoint.transport === 'streamable_http' ? redactUrl(endpoint.url) : 'the MCP server';
      if (status === 401 || status === 403) {
        return failure(false, 'mcp_unauthorized', `connection ${id}: ${where} answered ${status}: the connection's credentials were refused`);
      }
      // The server no longer knows the session (it restarted): the request was not processed.
      if (status === 404) return failure(true, 'mcp_unavailable', `connection ${id}: ${where} no longer knows the MCP session`, true);
      if (status === 408 || status === 429 || status >= 500) return failure(true, 'mcp_unavailable', `connection ${id}: ${where} answered ${status}`);
      return failure(false, 'mcp_protocol_error', status > 0 ? `connection ${id}: ${where} answered ${status}` : `connection ${id}: ${where} answered in a way MCP does not allow`);
    }
    const code = errorCode(error);
    if (this.#options.endpoint.transport === 'stdio') {
      const command = this.#options.endpoint.command;
      if (PERMANENT_SPAWN.has(code)) return failure(false, 'mcp_unavailable', `connection ${id}: the MCP server command ${bounded(command, 200)} could not be started (${code})`);
      if (error instanceof Error && error.message === 'Not connected') return failure(true, 'mcp_unavailable', `connection ${id}: the MCP server process is not running`, true);
    }
    return failure(true, 'mcp_unavailable', `connection ${id}: the MCP server could not be reached or broke off (${code})`);
  }

  /** Removes every credential value (whole, or each of its words of 8 characters or more) from text the server sent. */
  private async scrub(text: string): Promise<string> {
    return scrubText(text, await this.credentialTexts());
  }

  /** The connection's credential values as `credentialWords` scrubs them: its headers and a stdio server's variables. */
  private async credentialTexts(): Promise<string[]> {
    const values: string[] = [];
    if (this.#options.headers) {
      try {
        values.push(...Object.values(await this.#options.headers()));
      } catch {
        // No credentials to scrub when none can be had.
      }
    }
    const endpoint = this.#options.endpoint;
    if (endpoint.transport === 'stdio') for (const value of Object.values(endpoint.env ?? {})) values.push(value);
    return credentialWords(values);
  }
}
