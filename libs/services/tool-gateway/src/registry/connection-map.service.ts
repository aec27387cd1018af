import { Injectable } from '@nestjs/common';
import { InjectDataSource } from '@nestjs/typeorm';
import type { DataSource } from 'typeorm';
import { TOOL_GATEWAY_SERVICE } from '../database';

interface Row {
  agent_id: string;
  agent_version: string | null;
  tool: string;
  constraints: unknown;
  granted: boolean;
  side_effect: string | null;
  classification: string | null;
  tool_status: string | null;
  connection: string | null;
  connection_kind: string | null;
  connection_status: string | null;
  calls: string | null;
  succeeded: string | null;
  refused: string | null;
  last_used_at: Date | string | null;
  agent_status: string | null;
}

export interface ConnectionMapEntry {
  agentId: string;
  status: string;
  tools: Array<{
    tool: string;
    granted: boolean;
    agentVersion: string | null;
    constraints: unknown;
    sideEffect: string | null;
    classification: string | null;
    toolStatus: string | null;
    connection: string | null;
    calls: number;
    succeeded: number;
    refused: number;
    lastUsedAt: Date | null;
  }>;
  connections: Array<{ id: string; kind: string | null; status: string | null; lastUsedAt: Date | null }>;
}

/**
 * What each agent can touch: its granted tools (and the tools it tried without a grant), each
 * tool's connection, with call counts and last use. One query over the gateway's own tables.
 */
@Injectable()
export class ConnectionMapService {
  constructor(@InjectDataSource(TOOL_GATEWAY_SERVICE) private readonly dataSource: DataSource) {}

  async map(): Promise<{ agents: ConnectionMapEntry[]; generatedAt: Date }> {
    const rows = await this.dataSource.query<Row[]>(
      `WITH pairs AS (
         SELECT agent_id, tool FROM "tool_gateway"."tool_grants" WHERE status = 'active'
         UNION SELECT agent_id, tool FROM "tool_gateway"."tool_usage"
       )
       SELECT p.agent_id, g.agent_version, p.tool, g.constraints, g.id IS NOT NULL AS granted,
              t.manifest->>'sideEffect' AS side_effect, t.manifest->>'classification' AS classification, t.status AS tool_status,
              coalesce(t.manifest->>'connection', NULL) AS connection, c.kind AS connection_kind, c.status AS connection_status,
              u.calls::text, u.succeeded::text, u.refused::text, u.last_used_at, a.status AS agent_status
       FROM pairs p
       LEFT JOIN "tool_gateway"."tool_grants" g ON g.agent_id = p.agent_id AND g.tool = p.tool AND g.status = 'active'
       LEFT JOIN "tool_gateway"."tools" t ON t.name = p.tool
       LEFT JOIN "tool_gateway"."connections" c ON c.id = t.manifest->>'connection'
       LEFT JOIN "tool_gateway"."tool_usage" u ON u.agent_id = p.agent_id AND u.tool = p.tool
       LEFT JOIN "tool_gateway"."agent_states" a ON a.agent_id = p.agent_id
       ORDER BY p.agent_id, p.tool, g.agent_version
       LIMIT 20000`,
    );
    const agents = new Map<string, ConnectionMapEntry>();
    for (const r of rows) {
      const entry = agents.get(r.agent_id) ?? { agentId: r.agent_id, status: r.agent_status ?? (r.agent_id === 'govmesh-verifier' ? 'service' : 'unknown'), tools: [], connections: [] };
      const lastUsedAt = r.last_used_at ? new Date(r.last_used_at) : null;
      entry.tools.push({
        tool: r.tool,
        granted: r.granted,
        agentVersion: r.agent_version,
        constraints: r.constraints ?? null,
        sideEffect: r.side_effect,
        classification: r.classification,
        toolStatus: r.tool_status,
        connection: r.connection,
        calls: Number(r.calls ?? 0),
        succeeded: Number(r.succeeded ?? 0),
        refused: Number(r.refused ?? 0),
        lastUsedAt,
      });
      if (r.connection) {
        const known = entry.connections.find((c) => c.id === r.connection);
        if (!known) entry.connections.push({ id: r.connection, kind: r.connection_kind, status: r.connection_status, lastUsedAt });
        else if (lastUsedAt && (!known.lastUsedAt || known.lastUsedAt < lastUsedAt)) known.lastUsedAt = lastUsedAt;
      }
      agents.set(r.agent_id, entry);
    }
    return { agents: [...agents.values()], generatedAt: new Date() };
  }
}
