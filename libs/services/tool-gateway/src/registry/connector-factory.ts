import { Injectable, type OnModuleDestroy } from '@nestjs/common';
import type { Reason, ToolManifest } from '@govmesh/contracts';
import { ConnectionRefusal, ConnectionsService, type ConnectionCredentials } from '../connections';
import { buildHttpRequest, HttpConnector } from '../connectors';
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
        return { ...common, connection: manifest.connection ?? base.connection, execute: base.execute };
      }
      case 'http': {
        const connectionId = manifest.connection;
        if (!connectionId) throw new Error('an http tool needs a connection');
        return {
          ...common,
          connection: connectionId,
          execute: (_db, args, call) => this.callHttp(manifest, connectionId, op, args, call),
        };
      }
      case 'mcp': {
        const connectionId = manifest.connection;
        if (!connectionId) throw new Error('an mcp tool needs a connection');
        return {
          ...common,
          connection: connectionId,
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
