import { randomUUID } from 'node:crypto';
import { BadRequestException, Inject, Injectable, Logger, NotFoundException, type OnModuleInit } from '@nestjs/common';
import { InjectDataSource } from '@nestjs/typeorm';
import Ajv, { type ValidateFunction } from 'ajv';
import type { DataSource } from 'typeorm';
import { EventTypes, type Actor, type ArgumentConstraints, type Reason, type ToolGrantChangedV1 } from '@govmesh/contracts';
import type { UnitOfWork } from '@govmesh/messaging';
import { ServiceBus } from '@govmesh/nest-runtime';
import { ENDPOINT_DEPS, type FieldProblem, type Principal, type ServiceEndpointDeps } from '@govmesh/nest-runtime';
import { TOOL_GATEWAY_SERVICE } from '../database';
import { SEED_TOOL_GRANTS, VERIFIER_PRINCIPAL } from './built-in-tools';
import { celProblem, conditionHolds, loadCel } from './cel';

interface GrantRow {
  id: string;
  agent_id: string;
  agent_version: string;
  tool: string;
  constraints: ArgumentConstraints | null;
  status: 'active' | 'withdrawn';
  granted_by: string;
  granted_at: Date | string;
  withdrawn_by: string | null;
  withdrawn_at: Date | string | null;
}

export interface ToolGrantView {
  id: string;
  agentId: string;
  agentVersion: string;
  tool: string;
  constraints: ArgumentConstraints | null;
  status: 'active' | 'withdrawn';
  grantedBy: string;
  grantedAt: Date;
  withdrawnBy: string | null;
  withdrawnAt: Date | null;
}

function view(r: GrantRow): ToolGrantView {
  return {
    id: r.id,
    agentId: r.agent_id,
    agentVersion: r.agent_version,
    tool: r.tool,
    constraints: r.constraints,
    status: r.status,
    grantedBy: r.granted_by,
    grantedAt: new Date(r.granted_at),
    withdrawnBy: r.withdrawn_by,
    withdrawnAt: r.withdrawn_at ? new Date(r.withdrawn_at) : null,
  };
}

export interface NewToolGrant {
  agentId: string;
  agentVersion: string;
  tool: string;
  constraints?: ArgumentConstraints;
  reason?: string;
}

/** What a request is checked against: the tool granted to the agent's version (or all versions). */
export interface RequestSubject {
  agentId: string;
  agentVersion: string;
  tool: string;
  arguments: Record<string, unknown>;
}

const SYSTEM: Actor = { kind: 'system', id: 'system', name: 'govmesh' };

/**
 * Least privilege: which agent (version) may use which tool, with optional argument
 * constraints (a JSON Schema the arguments must also match, a CEL condition over `arguments`).
 * Nothing executes without an active grant of the tool to the requesting agent, whatever policy
 * signed; each change is one transaction with its `govmesh.toolgrant.changed.v1` event.
 */
@Injectable()
export class ToolGrantsService implements OnModuleInit {
  private readonly logger = new Logger('tool-grants');
  private readonly ajv = new Ajv({ allErrors: true, strict: true });
  private readonly constraintSchemas = new Map<string, ValidateFunction>();

  constructor(
    @InjectDataSource(TOOL_GATEWAY_SERVICE) private readonly dataSource: DataSource,
    private readonly bus: ServiceBus,
    @Inject(ENDPOINT_DEPS) private readonly deps: ServiceEndpointDeps,
  ) {}

  /** The verifier's read grants always; the seed agents' grants with the demo data. */
  async onModuleInit(): Promise<void> {
    await loadCel();
    const seeds = SEED_TOOL_GRANTS.filter((g) => g.agentId === VERIFIER_PRINCIPAL || this.deps.config.seedDemoData);
    await this.bus.transaction(async (uow) => {
      for (const seed of seeds) {
        const [inserted] = await uow.query<GrantRow>(
          `INSERT INTO ${uow.table('tool_grants')} (id, agent_id, agent_version, tool, constraints, status, granted_by) VALUES ($1, $2, '*', $3, NULL, 'active', 'system')
           ON CONFLICT (agent_id, agent_version, tool) DO NOTHING RETURNING *`,
          [randomUUID(), seed.agentId, seed.tool],
        );
        if (inserted) this.emit(uow, inserted, 'seeded', SYSTEM);
      }
    });
  }

  async list(filter: { agentId?: string; tool?: string } = {}): Promise<ToolGrantView[]> {
    const rows = await this.dataSource.query<GrantRow[]>(
      `SELECT * FROM "tool_gateway"."tool_grants" WHERE ($1::text IS NULL OR agent_id = $1) AND ($2::text IS NULL OR tool = $2) ORDER BY agent_id, tool, agent_version LIMIT 5000`,
      [filter.agentId ?? null, filter.tool ?? null],
    );
    return rows.map(view);
  }

  async grant(spec: NewToolGrant, principal: Principal): Promise<{ grant: ToolGrantView; created: boolean }> {
    const problems: FieldProblem[] = [];
    const [tool] = await this.dataSource.query<Array<{ status: string; side_effect: string }>>(`SELECT status, manifest->>'sideEffect' AS side_effect FROM "tool_gateway"."tools" WHERE name = $1`, [spec.tool]);
    if (!tool || tool.status !== 'active') problems.push({ field: '/tool', problem: `names no active tool (${spec.tool})` });
    else if (spec.agentId === VERIFIER_PRINCIPAL && tool.side_effect !== 'read') problems.push({ field: '/tool', problem: `the verifier may be granted read tools only; ${spec.tool} is a ${tool.side_effect} tool` });
    if (spec.constraints?.schema) {
      try {
        this.ajv.compile(spec.constraints.schema);
      } catch (err) {
        problems.push({ field: '/constraints/schema', problem: `is not a JSON Schema the gateway can enforce: ${(err as Error).message.slice(0, 300)}` });
      }
    }
    if (spec.constraints?.condition) {
      const problem = await celProblem(spec.constraints.condition);
      if (problem) problems.push({ field: '/constraints/condition', problem: `is not a valid CEL expression over arguments: ${problem}` });
    }
    if (problems.length > 0) throw new BadRequestException({ code: 'invalid_tool_grant', message: problems.map((p) => `${p.field} ${p.problem}`).join('; '), fields: problems });
    const actor: Actor = { kind: 'operator', id: principal.id, name: principal.name.slice(0, 200) };
    return this.bus.transaction(async (uow) => {
      const [current] = await uow.query<GrantRow>(`SELECT * FROM ${uow.table('tool_grants')} WHERE agent_id = $1 AND agent_version = $2 AND tool = $3 FOR UPDATE`, [spec.agentId, spec.agentVersion, spec.tool]);
      const constraints = spec.constraints && (spec.constraints.schema || spec.constraints.condition) ? spec.constraints : null;
      if (current && current.status === 'active' && JSON.stringify(current.constraints) === JSON.stringify(constraints)) return { grant: view(current), created: false };
      const [row] = await uow.query<GrantRow>(
        `INSERT INTO ${uow.table('tool_grants')} (id, agent_id, agent_version, tool, constraints, status, granted_by) VALUES ($1, $2, $3, $4, $5::jsonb, 'active', $6)
         ON CONFLICT (agent_id, agent_version, tool) DO UPDATE SET constraints = EXCLUDED.constraints, status = 'active', granted_by = EXCLUDED.granted_by, granted_at = now(), withdrawn_by = NULL, withdrawn_at = NULL
         RETURNING *`,
        [randomUUID(), spec.agentId, spec.agentVersion, spec.tool, constraints ? JSON.stringify(constraints) : null, principal.id],
      );
      this.emit(uow, row, 'granted', actor, spec.reason);
      return { grant: view(row), created: true };
    });
  }

  async withdraw(id: string, principal: Principal, reason?: string): Promise<ToolGrantView> {
    const row = await this.bus.transaction(async (uow) => {
      const [current] = await uow.query<GrantRow>(`SELECT * FROM ${uow.table('tool_grants')} WHERE id = $1 FOR UPDATE`, [id]);
      if (!current) throw new NotFoundException({ code: 'tool_grant_not_found', message: `no tool grant ${id}` });
      if (current.status === 'withdrawn') return current;
      const [updated] = await uow.query<GrantRow>(`UPDATE ${uow.table('tool_grants')} SET status = 'withdrawn', withdrawn_by = $2, withdrawn_at = now() WHERE id = $1 RETURNING *`, [id, principal.id]);
      this.emit(uow, updated, 'withdrawn', { kind: 'operator', id: principal.id, name: principal.name.slice(0, 200) }, reason);
      return updated;
    });
    this.logger.log(`tool grant ${id} (${row.agent_id}@${row.agent_version} → ${row.tool}) withdrawn by ${principal.id}`);
    return view(row);
  }

  /**
   * For each request, null when an active grant of the tool to the agent's version (or to all its
   * versions) lets these arguments through; otherwise why not. One query for the batch.
   */
  async check(uow: UnitOfWork, requests: readonly RequestSubject[]): Promise<Array<Reason | null>> {
    if (requests.length === 0) return [];
    const rows = await uow.query<GrantRow>(
      `SELECT * FROM ${uow.table('tool_grants')} WHERE status = 'active' AND agent_id = ANY($1) AND tool = ANY($2)`,
      [[...new Set(requests.map((r) => r.agentId))], [...new Set(requests.map((r) => r.tool))]],
    );
    return requests.map((r) => {
      const grants = rows.filter((g) => g.agent_id === r.agentId && g.tool === r.tool && (g.agent_version === '*' || g.agent_version === r.agentVersion));
      if (grants.length === 0) return { code: 'tool_not_granted', message: `${r.tool} is not granted to agent "${r.agentId}" version ${r.agentVersion}; an operator grants tools with POST /v1/tool-grants` };
      // The most specific grant decides: the version's own over the agent-wide one.
      const grant = grants.find((g) => g.agent_version === r.agentVersion) ?? grants[0];
      return this.constraintProblem(grant, r.arguments);
    });
  }

  private constraintProblem(grant: GrantRow, args: Record<string, unknown>): Reason | null {
    const c = grant.constraints;
    if (!c) return null;
    if (c.schema) {
      let validate = this.constraintSchemas.get(grant.id);
      if (!validate) {
        validate = this.ajv.compile(c.schema);
        this.constraintSchemas.set(grant.id, validate);
      }
      if (!validate(args)) {
        const where = (validate.errors ?? []).map((e) => `${e.instancePath || '/'} ${e.message}`).join('; ');
        return { code: 'argument_constraint_failed', message: `the arguments are outside what tool grant ${grant.id} allows: ${where}`.slice(0, 2000) };
      }
    }
    if (c.condition) {
      const { holds, error } = conditionHolds(c.condition, args);
      if (!holds) return { code: 'argument_constraint_failed', message: `the arguments do not meet the condition of tool grant ${grant.id}${error ? ` (${error})` : ''}`.slice(0, 2000) };
    }
    return null;
  }

  private emit(uow: UnitOfWork, row: GrantRow, change: ToolGrantChangedV1['change'], actor: Actor, reason?: string): void {
    uow.emit(EventTypes.ToolGrantChanged, {
      grantId: row.id,
      agentId: row.agent_id,
      agentVersion: row.agent_version,
      tool: row.tool,
      change,
      ...(row.constraints ? { constraints: row.constraints } : {}),
      ...(reason ? { reason } : {}),
      actor,
    });
  }
}
