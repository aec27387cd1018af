import { randomUUID } from 'node:crypto';
import { Inject, Injectable, type OnModuleInit } from '@nestjs/common';
import { InjectDataSource } from '@nestjs/typeorm';
import type { DataSource } from 'typeorm';
import type { UnitOfWork } from '@govmesh/messaging';
import { GOVMESH_CONFIG, type GovmeshConfig } from '@govmesh/nest-runtime';
import type { AgentIdentity, ToolProfile } from '@govmesh/policy-engine';
import { POLICY_SERVICE } from './database';
import { BUILT_IN_TOOL_PROFILES, DEMO_AGENTS } from './demo-data';
import { AgentRecord, ToolProfileRecord } from './entities';

export interface DecisionRow {
  runId: string;
  stepId: string | null;
  subject: 'intent' | 'action';
  agentId: string;
  effect: string;
  reasons: Array<{ code: string; message: string }>;
  policyVersion: string;
  grantId: string | null;
}

/** All SQL of the policy service: agents, tool profiles and decisions. */
@Injectable()
export class PolicyRepository implements OnModuleInit {
  constructor(
    @InjectDataSource(POLICY_SERVICE) private readonly dataSource: DataSource,
    @Inject(GOVMESH_CONFIG) private readonly config: GovmeshConfig,
  ) {}

  async onModuleInit(): Promise<void> {
    await this.dataSource.getRepository(ToolProfileRecord).upsert(BUILT_IN_TOOL_PROFILES, ['name']);
    if (this.config.seedDemoData) {
      await this.dataSource.createQueryBuilder().insert().into(AgentRecord).values(DEMO_AGENTS).orIgnore().execute();
    }
  }

  async agents(uow: UnitOfWork, ids: readonly string[]): Promise<Map<string, AgentIdentity>> {
    const rows = await uow.query<AgentIdentity>(`SELECT id, version, owner, tier, status FROM ${uow.table('agents')} WHERE id = ANY($1)`, [[...new Set(ids)]]);
    return new Map(rows.map((r) => [r.id, r]));
  }

  async toolProfiles(uow: UnitOfWork, names: readonly string[]): Promise<Map<string, ToolProfile>> {
    const rows = await uow.query<{ name: string; side_effect: 'read' | 'write' }>(`SELECT name, side_effect FROM ${uow.table('tool_profiles')} WHERE name = ANY($1)`, [[...new Set(names)]]);
    return new Map(rows.map((r) => [r.name, { name: r.name, sideEffect: r.side_effect }]));
  }

  /** Runs among `runIds` whose intent policy allowed: the only runs it decides actions for. */
  async admittedRuns(uow: UnitOfWork, runIds: readonly string[]): Promise<Set<string>> {
    const rows = await uow.query<{ run_id: string }>(
      `SELECT DISTINCT run_id FROM ${uow.table('decisions')} WHERE run_id = ANY($1) AND subject = 'intent' AND effect = 'allow'`,
      [[...new Set(runIds)]],
    );
    return new Set(rows.map((r) => r.run_id));
  }

  async recordDecisions(uow: UnitOfWork, decisions: readonly DecisionRow[]): Promise<void> {
    await uow.insertMany(
      'decisions',
      decisions.map((d) => ({
        id: randomUUID(),
        run_id: d.runId,
        step_id: d.stepId,
        subject: d.subject,
        agent_id: d.agentId,
        effect: d.effect,
        reasons: d.reasons,
        policy_version: d.policyVersion,
        grant_id: d.grantId,
      })),
    );
  }

  list(): Promise<AgentRecord[]> {
    return this.dataSource.getRepository(AgentRecord).find({ order: { id: 'ASC' } });
  }

  find(id: string): Promise<AgentRecord | null> {
    return this.dataSource.getRepository(AgentRecord).findOne({ where: { id } });
  }

  async lockAgent(uow: UnitOfWork, id: string): Promise<AgentRecord | undefined> {
    const rows = await uow.query<AgentRecord>(`SELECT id, version, owner, tier, status, description FROM ${uow.table('agents')} WHERE id = $1 FOR UPDATE`, [id]);
    return rows[0];
  }

  async upsertAgent(uow: UnitOfWork, agent: Pick<AgentRecord, 'id' | 'version' | 'owner' | 'tier' | 'status' | 'description'>): Promise<AgentRecord> {
    const rows = await uow.query<AgentRecord>(
      `INSERT INTO ${uow.table('agents')} (id, version, owner, tier, status, description) VALUES ($1, $2, $3, $4, $5, $6)
       ON CONFLICT (id) DO UPDATE SET version = EXCLUDED.version, owner = EXCLUDED.owner, tier = EXCLUDED.tier, status = EXCLUDED.status, description = EXCLUDED.description, updated_at = now()
       RETURNING id, version, owner, tier, status, description, created_at AS "createdAt", updated_at AS "updatedAt"`,
      [agent.id, agent.version, agent.owner, agent.tier, agent.status, agent.description],
    );
    return rows[0];
  }
}
