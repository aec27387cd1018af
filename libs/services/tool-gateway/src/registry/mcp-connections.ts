import { Injectable } from '@nestjs/common';
import type { ConnectionCredentials } from '../connections';
import { McpConnector, parseMcpEndpoint, type McpToolDescription } from '../connectors/mcp-connector';
import type { ToolResult } from '../tool-definition';

interface Pooled {
  version: number;
  connector: McpConnector;
}

/**
 * One MCP client per connection, reused across calls and replaced when the connection's version
 * changes (a rotated secret, a re-activated connection). Credentials are asked of the connection
 * for every request, so a revocation applies to the very next call.
 */
@Injectable()
export class McpConnections {
  private readonly pool = new Map<string, Pooled>();

  private connectorFor(credentials: ConnectionCredentials): McpConnector | { reason: { code: string; message: string } } {
    const pooled = this.pool.get(credentials.connectionId);
    if (pooled && pooled.version === credentials.version) return pooled.connector;
    if (pooled) void pooled.connector.close().catch(() => undefined);
    const parsed = parseMcpEndpoint(credentials.endpoint ?? '');
    if (!parsed.ok) return { reason: parsed.reason };
    const connector = new McpConnector({
      connectionId: credentials.connectionId,
      endpoint: parsed.endpoint,
      ...(credentials.egress ? { egress: credentials.egress } : {}),
      headers: () => credentials.headers(),
    });
    this.pool.set(credentials.connectionId, { version: credentials.version, connector });
    return connector;
  }

  async call(credentials: ConnectionCredentials, tool: string, args: Record<string, unknown>, signal: AbortSignal, _timeoutMs?: number): Promise<ToolResult> {
    const connector = this.connectorFor(credentials);
    if ('reason' in connector) return { status: 'failed', reasons: [connector.reason] };
    return connector.callTool(tool, args, signal);
  }

  async listTools(credentials: ConnectionCredentials, signal?: AbortSignal): Promise<McpToolDescription[] | { reason: { code: string; message: string } }> {
    const connector = this.connectorFor(credentials);
    if ('reason' in connector) return connector;
    return connector.listTools(signal);
  }

  async closeAll(): Promise<void> {
    const all = [...this.pool.values()];
    this.pool.clear();
    await Promise.all(all.map((p) => p.connector.close().catch(() => undefined)));
  }
}
