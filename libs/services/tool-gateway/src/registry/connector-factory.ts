import { Injectable, type OnModuleDestroy } from '@nestjs/common';
import type { Reason, ToolManifest } from '@govmesh/contracts';
import { ConnectionRefusal, ConnectionsService, type ConnectionCredentials } from '../connections';
import { buildHttpRequest, EgressAllowList, HttpConnector, redactUrl } from '../connectors';
import type { ToolCall, ToolDefinition, ToolResult } from '../tool-definition';
import { SANDBOX_OPERATIONS } from './built-in-tools';
import { McpConnections } from './mcp-connections';

const failed = (reason: Reason, retryable = false): ToolResult => ({ status: 'failed', reasons: [reason], ...(retryable ? { retryable } : {}) });

const isPlainObject = (value: unknown): value is Record<string, unknown> => value !== null && typeof value === 'object' && !Array.isArray(value);

/**
 * Builds the executable tool of a manifest: the sandbox operation it names, or a call through
 * its connection's connector (HTTP or MCP). Credentials are fetched from the connection at each
 * call, right before it is made (a revocation applies to the very next call), injected into the
 * request by the connector and never returned, logged or put in a result.
 */
@Injectable()
export class ConnectorFactory implements OnModuleDestroy {
  constructor(
    private readonly connections: ConnectionsService,
    private readonly mcp: McpConnections,
  ) {}

  async onModuleDestroy(): Promise<void> {
    await this.mcp.closeAll();
  }

  /** Throws when the manifest cannot be executed (an unknown sandbox operation). */
  definitionOf(manifest: ToolManifest): ToolDefinition {
    const common = {
      name: manifest.name,
      description: manifest.description,
      sideEffect: manifest.sideEffect,
      idempotent: manifest.idempotent,
      inputSchema: manifest.inputSchema,
      ...(manifest.outputSchema ? { outputSchema: manifest.outputSchema } : {}),
      ...(manifest.rateLimit ? { rateLimit: manifest.rateLimit } : {}),
      ...(manifest.timeoutMs ? { timeoutMs: manifest.timeoutMs } : {}),
      ...(manifest.retry ? { retry: manifest.retry } : {}),
      manifest,
    };
    const op = manifest.operation;
    switch (op.connector) {
      case 'sandbox': {
        const base = SANDBOX_OPERATIONS.get(op.operation);
        if (!base) throw new Error(`no sandbox operation ${op.operation}`);
        return { ...common, connection: manifest.connection ?? base.connection, preview: async () => ({ connector: 'sandbox', operation: op.operation }), execute: base.execute };
      }
      case 'http': {
        const connectionId = manifest.connection;
        if (!connectionId) throw new Error('an http tool needs a connection');
        return {
          ...common,
          connection: connectionId,
          preview: (args) => this.previewHttp(connectionId, op, args),
          execute: (_db, args, call) => this.callHttp(manifest, connectionId, op, args, call),
        };
      }
      case 'mcp': {
        const connectionId = manifest.connection;
        if (!connectionId) throw new Error('an mcp tool needs a connection');
        return {
          ...common,
          connection: connectionId,
          preview: async () => ({ connector: 'mcp', connection: connectionId, tool: op.tool, ...(await this.connectionRefusal(connectionId, 'mcp')) }),
          execute: async (_db, args, call) => {
            const credentials = await this.credentials(connectionId, 'mcp');
            if ('result' in credentials) return credentials.result;
            return this.withClaim(manifest, connectionId, call, await this.mcp.call(credentials.credentials, op.tool, args, call.signal, manifest.timeoutMs));
          },
        };
      }
    }
  }

  private async callHttp(
    manifest: ToolManifest,
    connectionId: string,
    op: Extract<ToolManifest['operation'], { connector: 'http' }>,
    args: Record<string, unknown>,
    call: ToolCall,
  ): Promise<ToolResult> {
    const got = await this.credentials(connectionId, 'http');
    if ('result' in got) return got.result;
    const { credentials } = got;
    if (!credentials.endpoint || !credentials.egress) return failed({ code: 'connection_misconfigured', message: `connection "${connectionId}" has no endpoint or egress allow-list` });
    const built = buildHttpRequest(credentials.endpoint, { method: op.method, path: op.path, ...(op.query ? { query: op.query } : {}), ...(op.body ? { body: op.body } : {}), ...(op.headers ? { headers: op.headers } : {}) }, args);
    if ('reason' in built) return { status: 'rejected', reasons: [built.reason] };
    const connector = new HttpConnector({
      connectionId,
      egress: credentials.egress,
      authorize: async (headers) => {
        for (const [name, value] of Object.entries(await credentials.headers())) headers.set(name, value);
      },
      ...(manifest.timeoutMs ? { timeoutMs: manifest.timeoutMs } : {}),
    });
    const request = built.request;
    // The system deduplicates by this key when it supports it (the call's key, never a secret).
    const headers = op.method === 'GET' ? request.headers : { ...request.headers, 'idempotency-key': call.idempotencyKey };
    const result = await connector.call({ ...request, ...(headers ? { headers } : {}), signal: call.signal });
    if (result.status !== 'succeeded') return result;
    const body = result.output?.['body'];
    return this.withClaim(manifest, connectionId, call, { ...result, output: isPlainObject(body) ? body : { body: body ?? null } });
  }

  /**
   * The request an HTTP call would send: method, URL (without any credential), body fields, literal
   * header names, how the connection authenticates — and the refusal it would meet first, if any.
   * Reads the connection's metadata only, never its secret.
   */
  private async previewHttp(connectionId: string, op: Extract<ToolManifest['operation'], { connector: 'http' }>, args: Record<string, unknown>): Promise<Record<string, unknown>> {
    const base = { connector: 'http', connection: connectionId };
    const view = await this.connections.get(connectionId);
    const refusal = await this.connectionRefusal(connectionId, 'http', view);
    if (!view?.endpoint || !view.egress) return { ...base, ...(Object.keys(refusal).length > 0 ? refusal : { wouldBeRefused: { code: 'connection_misconfigured', message: `connection "${connectionId}" has no endpoint or egress allow-list` } }) };
    const built = buildHttpRequest(view.endpoint, { method: op.method, path: op.path, ...(op.query ? { query: op.query } : {}), ...(op.body ? { body: op.body } : {}), ...(op.headers ? { headers: op.headers } : {}) }, args);
    if ('reason' in built) return { ...base, wouldBeRefused: built.reason };
    const { request } = built;
    const egress = new EgressAllowList(view.egress).check(request.method, request.url);
    return {
      ...base,
      request: {
        method: request.method,
        url: redactUrl(request.url),
        ...(request.json ? { bodyFields: Object.keys(request.json) } : {}),
        ...(request.headers ? { headers: Object.keys(request.headers) } : {}),
        // How the secret would be sent, never the secret: it is read only when a call is made.
        authentication: view.auth.method,
      },
      ...refusal,
      ...(!egress.allowed && Object.keys(refusal).length === 0 ? { wouldBeRefused: egress.reason } : {}),
    };
  }

  /** `{ wouldBeRefused }` when the connection would refuse a call now (missing, revoked, of another kind); else nothing. */
  private async connectionRefusal(connectionId: string, kind: 'http' | 'mcp', known?: Awaited<ReturnType<ConnectionsService['get']>>): Promise<Record<string, unknown>> {
    const view = known === undefined ? await this.connections.get(connectionId) : known;
    if (!view) return { wouldBeRefused: { code: 'connection_not_found', message: `connection "${connectionId}" does not exist` } };
    if (view.status === 'revoked') return { wouldBeRefused: { code: 'connection_revoked', message: `connection "${connectionId}" is revoked` } };
    if (view.kind !== kind) return { wouldBeRefused: { code: 'connection_misconfigured', message: `connection "${connectionId}" is a ${view.kind} connection, not ${kind}` } };
    return {};
  }

  /** A succeeded call of a connector claims what it answered, for the verifier's checks to confirm. */
  private withClaim(manifest: ToolManifest, connectionId: string, call: ToolCall, result: ToolResult): ToolResult {
    if (result.status !== 'succeeded' || result.claim) return result;
    return { ...result, claim: { system: connectionId, entity: manifest.name, id: call.executionId, fields: result.output ?? {} } };
  }

  private async credentials(connectionId: string, kind: 'http' | 'mcp'): Promise<{ credentials: ConnectionCredentials } | { result: ToolResult }> {
    try {
      const credentials = await this.connections.credentialsFor(connectionId);
      if (credentials.kind !== kind) return { result: failed({ code: 'connection_misconfigured', message: `connection "${connectionId}" is a ${credentials.kind} connection, not ${kind}` }) };
      return { credentials };
    } catch (err) {
      if (err instanceof ConnectionRefusal) return { result: { status: 'rejected', reasons: [err.toReason()] } };
      throw err;
    }
  }
}
