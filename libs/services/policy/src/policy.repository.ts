import { randomUUID } from 'node:crypto';
import { Inject, Injectable, type OnModuleInit } from '@nestjs/common';
import { InjectDataSource } from '@nestjs/typeorm';
import type { DataSource } from 'typeorm';
import type { UnitOfWork } from '@govmesh/messaging';
import { GOVMESH_CONFIG, type GovmeshConfig } from '@govmesh/nest-runtime';
import type { AgentIdentity, Classification, ResourceProfile, ToolProfile } from '@govmesh/policy-engine';
import { POLICY_SERVICE } from './database';
import { DEMO_AGENTS, DEMO_RESOURCES } from './demo-data';
import { AgentRecord, AgentVersionRecord, PolicySetRecord, ResourceRecord } from './entities';
import type { ToolProfileChange } from './tool-profiles';

export interface DecisionRow {
  runId: string;
  stepId: string | null;
  subject: 'intent' | 'action';
  agentId: string;
  effect: string;
  reasons: Array<{ code: string; message: string }>;
  policyVersion: string;
  grantId: string | null;
  request: Record<string, unknown> | null;
  /** The reviewer approval the decision consumed, if any. */
  approvalId?: string | null;
}

/** A tool profile with where its resource comes from in the arguments. */
export interface ToolEntry extends ToolProfile {
  resourceArgument: string | null;
  resourceKind: string | null;
}

export interface VersionKey {
  publicKey: string | null;
  keyStatus: 'active' | 'revoked';
}

/** An agent as the registry API shows it: its versions and whether each key is live. */
export type AgentView = AgentRecord & { versions: Array<Pick<AgentVersionRecord, 'version' | 'publicKey' | 'keyStatus' | 'createdAt' | 'revokedAt'>> };

const AGENT_COLUMNS = 'id, version, owner, tier, status, clearance, purpose, created_at AS "createdAt", updated_at AS "updatedAt"';

/** All SQL of the policy service: the registry, tool profiles, resources, policy sets and decisions. */
@Injectable()
export class PolicyRepository implements OnModuleInit {
  constructor(
    @InjectDataSource(POLICY_SERVICE) private readonly dataSource: DataSource,
    @Inject(GOVMESH_CONFIG) private readonly config: GovmeshConfig,
  ) {}

  /** Tools are not seeded here: policy learns them from the tool manifest's events only. */
  async onModuleInit(): Promise<void> {
    if (this.config.seedDemoData) {
      await this.dataSource.createQueryBuilder().insert().into(AgentRecord).values(DEMO_AGENTS).orIgnore().execute();
      await this.dataSource
        .createQueryBuilder()
        .insert()
        .into(AgentVersionRecord)
        .values(DEMO_AGENTS.map((a) => ({ agentId: a.id, version: a.version, publicKey: null, createdBy: 'system' })))
        .orIgnore()
        .execute();
      await this.dataSource.createQueryBuilder().insert().into(ResourceRecord).values(DEMO_RESOURCES).orIgnore().execute();
    }
  }

  // ---- decisions (inside a consumed batch) ----

  async agents(uow: UnitOfWork, ids: readonly string[]): Promise<Map<string, AgentIdentity>> {
    const rows = await uow.query<AgentIdentity>(`SELECT id, version, owner, tier, status, clearance FROM ${uow.table('agents')} WHERE id = ANY($1)`, [[...new Set(ids)]]);
    return new Map(rows.map((r) => [r.id, r]));
  }

  /** Keys of agent versions, by `agentId@version`. */
  async versionKeys(uow: UnitOfWork, pairs: ReadonlyArray<{ agentId: string; version: string }>): Promise<Map<string, VersionKey>> {
    if (pairs.length === 0) return new Map();
    const rows = await uow.query<{ agent_id: string; version: string; public_key: string | null; key_status: 'active' | 'revoked' }>(
      `SELECT v.agent_id, v.version, v.public_key, v.key_status FROM ${uow.table('agent_versions')} v
       JOIN unnest($1::text[], $2::text[]) AS p(agent_id, version) ON v.agent_id = p.agent_id AND v.version = p.version`,
      [pairs.map((p) => p.agentId), pairs.map((p) => p.version)],
    );
    return new Map(rows.map((r) => [`${r.agent_id}@${r.version}`, { publicKey: r.public_key, keyStatus: r.key_status }]));
  }

  /** Intent ids policy has decided before: a second intent with one of them is a replay. */
  async decidedIntents(uow: UnitOfWork, ids: readonly string[]): Promise<Set<string>> {
    if (ids.length === 0) return new Set();
    const rows = await uow.query<{ run_id: string }>(`SELECT DISTINCT run_id FROM ${uow.table('decisions')} WHERE run_id = ANY($1) AND subject = 'intent'`, [[...new Set(ids)]]);
    return new Set(rows.map((r) => r.run_id));
  }

  /** The active tools among `names`: a retired or never registered tool is absent. */
  async toolProfiles(uow: UnitOfWork, names: readonly string[]): Promise<Map<string, ToolEntry>> {
    const rows = await uow.query<{ name: string; side_effect: ToolProfile['sideEffect']; classification: Classification; max_tier: ToolProfile['maxTier'] | null; resource_argument: string | null; resource_kind: string | null }>(
      `SELECT name, side_effect, classification, max_tier, resource_argument, resource_kind FROM ${uow.table('tool_profiles')} WHERE name = ANY($1) AND status = 'active'`,
      [[...new Set(names)]],
    );
    return new Map(
      rows.map((r) => [
        r.name,
        { name: r.name, sideEffect: r.side_effect, classification: r.classification, ...(r.max_tier ? { maxTier: r.max_tier } : {}), resourceArgument: r.resource_argument, resourceKind: r.resource_kind },
      ]),
    );
  }

  /**
   * Upserts tool profiles (one change per tool: see newestPerTool). A stored profile is replaced
   * only by a newer version, or by the same version said at the same time or later, so an event
   * that arrives late never undoes a newer one. Answers the changes that were applied.
   */
  async saveToolProfiles(uow: UnitOfWork, changes: readonly ToolProfileChange[]): Promise<ToolProfileChange[]> {
    if (changes.length === 0) return [];
    const t = uow.table('tool_profiles');
    const rows = await uow.query<{ name: string }>(
      `INSERT INTO ${t} AS t (name, version, status, side_effect, classification, max_tier, resource_argument, resource_kind, updated_at)
       SELECT * FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::text[], $6::text[], $7::text[], $8::text[], $9::timestamptz[])
       ON CONFLICT (name) DO UPDATE SET version = EXCLUDED.version, status = EXCLUDED.status, side_effect = EXCLUDED.side_effect, classification = EXCLUDED.classification,
         max_tier = EXCLUDED.max_tier, resource_argument = EXCLUDED.resource_argument, resource_kind = EXCLUDED.resource_kind, updated_at = EXCLUDED.updated_at
       WHERE (string_to_array(t.version, '.')::int[], t.updated_at) <= (string_to_array(EXCLUDED.version, '.')::int[], EXCLUDED.updated_at)
       RETURNING name`,
      [
        changes.map((c) => c.name),
        changes.map((c) => c.version),
        changes.map((c) => c.status),
        changes.map((c) => c.sideEffect),
        changes.map((c) => c.classification),
        changes.map((c) => c.maxTier),
        changes.map((c) => c.resourceArgument),
        changes.map((c) => c.resourceKind),
        changes.map((c) => c.changedAt),
      ],
    );
    const applied = new Set(rows.map((r) => r.name));
    return changes.filter((c) => applied.has(c.name));
  }

  /** Resources by `kind/id`. */
  async resources(uow: UnitOfWork, refs: ReadonlyArray<{ kind: string; id: string }>): Promise<Map<string, ResourceProfile>> {
    if (refs.length === 0) return new Map();
    const rows = await uow.query<{ kind: string; id: string; classification: Classification; owner: string | null }>(
      `SELECT r.kind, r.id, r.classification, r.owner FROM ${uow.table('resources')} r
       JOIN unnest($1::text[], $2::text[]) AS p(kind, id) ON r.kind = p.kind AND r.id = p.id`,
      [refs.map((r) => r.kind), refs.map((r) => r.id)],
    );
    return new Map(rows.map((r) => [`${r.kind}/${r.id}`, { type: r.kind, id: r.id, classification: r.classification, ...(r.owner ? { owner: r.owner } : {}) }]));
  }

  /**
   * Runs among `runIds` whose intent policy allowed, with the agent it admitted each for: the
   * only runs it decides actions for, and only that agent's.
   */
  async admittedRuns(uow: UnitOfWork, runIds: readonly string[]): Promise<Map<string, string>> {
    const rows = await uow.query<{ run_id: string; agent_id: string }>(
      `SELECT DISTINCT run_id, agent_id FROM ${uow.table('decisions')} WHERE run_id = ANY($1) AND subject = 'intent' AND effect = 'allow'`,
      [[...new Set(runIds)]],
    );
    return new Map(rows.map((r) => [r.run_id, r.agent_id]));
  }

  /** The approvals among these that a decision already consumed. */
  async usedApprovals(uow: UnitOfWork, approvalIds: readonly string[]): Promise<Set<string>> {
    if (approvalIds.length === 0) return new Set();
    const rows = await uow.query<{ approval_id: string }>(`SELECT approval_id FROM ${uow.table('decisions')} WHERE approval_id = ANY($1)`, [[...new Set(approvalIds)]]);
    return new Set(rows.map((r) => r.approval_id));
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
        approval_id: d.approvalId ?? null,
        request: d.request,
      })),
    );
  }

  /** The most recent recorded decisions with their requests, newest first, for impact analysis. */
  async recentDecisions(limit: number): Promise<Array<{ id: string; run_id: string; step_id: string | null; subject: string; agent_id: string; effect: string; policy_version: string; request: Record<string, unknown>; decided_at: Date }>> {
    return this.dataSource.query(
      `SELECT id, run_id, step_id, subject, agent_id, effect, policy_version, request, decided_at FROM "policy"."decisions" WHERE request IS NOT NULL ORDER BY decided_at DESC LIMIT $1`,
      [limit],
    );
  }

  // ---- the registry (operator API) ----

  async list(): Promise<AgentView[]> {
    const agents: AgentRecord[] = await this.dataSource.query(`SELECT ${AGENT_COLUMNS} FROM "policy"."agents" ORDER BY id`);
    const versions = await this.versionsOf(agents.map((a) => a.id));
    return agents.map((a) => ({ ...a, versions: versions.get(a.id) ?? [] }));
  }

  async find(id: string): Promise<AgentView | null> {
    const rows: AgentRecord[] = await this.dataSource.query(`SELECT ${AGENT_COLUMNS} FROM "policy"."agents" WHERE id = $1`, [id]);
    if (!rows[0]) return null;
    return { ...rows[0], versions: (await this.versionsOf([id])).get(id) ?? [] };
  }

  private async versionsOf(ids: string[]): Promise<Map<string, AgentView['versions']>> {
    const rows: Array<AgentView['versions'][number] & { agentId: string }> = await this.dataSource.query(
      `SELECT agent_id AS "agentId", version, public_key AS "publicKey", key_status AS "keyStatus", created_at AS "createdAt", revoked_at AS "revokedAt"
       FROM "policy"."agent_versions" WHERE agent_id = ANY($1) ORDER BY created_at, version`,
      [ids],
    );
    const byAgent = new Map<string, AgentView['versions']>();
    for (const { agentId, ...v } of rows) byAgent.set(agentId, [...(byAgent.get(agentId) ?? []), v]);
    return byAgent;
  }

  async lockAgent(uow: UnitOfWork, id: string): Promise<AgentRecord | undefined> {
    const rows = await uow.query<AgentRecord>(`SELECT ${AGENT_COLUMNS} FROM ${uow.table('agents')} WHERE id = $1 FOR UPDATE`, [id]);
    return rows[0];
  }

  async saveAgent(uow: UnitOfWork, agent: Pick<AgentRecord, 'id' | 'version' | 'owner' | 'tier' | 'status' | 'clearance' | 'purpose'>): Promise<AgentRecord> {
    const rows = await uow.query<AgentRecord>(
      `INSERT INTO ${uow.table('agents')} (id, version, owner, tier, status, clearance, purpose) VALUES ($1, $2, $3, $4, $5, $6, $7)
       ON CONFLICT (id) DO UPDATE SET version = EXCLUDED.version, owner = EXCLUDED.owner, tier = EXCLUDED.tier, status = EXCLUDED.status,
         clearance = EXCLUDED.clearance, purpose = EXCLUDED.purpose, updated_at = now()
       RETURNING ${AGENT_COLUMNS}`,
      [agent.id, agent.version, agent.owner, agent.tier, agent.status, agent.clearance, agent.purpose],
    );
    return rows[0];
  }

  async version(uow: UnitOfWork, agentId: string, version: string): Promise<VersionKey | undefined> {
    return (await this.versionKeys(uow, [{ agentId, version }])).get(`${agentId}@${version}`);
  }

  async addVersion(uow: UnitOfWork, agentId: string, version: string, publicKey: string | null, createdBy: string): Promise<void> {
    await uow.query(`INSERT INTO ${uow.table('agent_versions')} (agent_id, version, public_key, created_by) VALUES ($1, $2, $3, $4)`, [agentId, version, publicKey, createdBy]);
  }

  async revokeVersion(uow: UnitOfWork, agentId: string, version: string): Promise<void> {
    await uow.query(`UPDATE ${uow.table('agent_versions')} SET key_status = 'revoked', revoked_at = now() WHERE agent_id = $1 AND version = $2 AND key_status = 'active'`, [agentId, version]);
  }

  async revokedVersions(uow: UnitOfWork, agentId: string): Promise<string[]> {
    const rows = await uow.query<{ version: string }>(`SELECT version FROM ${uow.table('agent_versions')} WHERE agent_id = $1 AND key_status = 'revoked' ORDER BY version`, [agentId]);
    return rows.map((r) => r.version);
  }

  // ---- policy sets ----

  async activePolicySet(uow?: UnitOfWork): Promise<{ version: string; policies: Record<string, string> } | undefined> {
    const sql = `SELECT version, policies FROM "policy"."policy_sets" WHERE status = 'active'`;
    const rows: Array<{ version: string; policies: Record<string, string> }> = uow ? await uow.query(sql) : await this.dataSource.query(sql);
    return rows[0];
  }

  /** Only the active version's id: the one query every decided batch makes. */
  async activeVersion(uow: UnitOfWork): Promise<string | undefined> {
    const rows = await uow.query<{ version: string }>(`SELECT version FROM ${uow.table('policy_sets')} WHERE status = 'active'`);
    return rows[0]?.version;
  }

  async policySet(version: string, uow?: UnitOfWork): Promise<PolicySetRecord | null> {
    if (!uow) return this.dataSource.getRepository(PolicySetRecord).findOne({ where: { version } });
    const rows = await uow.query<PolicySetRecord>(`SELECT version, policies, status FROM ${uow.table('policy_sets')} WHERE version = $1`, [version]);
    return rows[0] ?? null;
  }

  async policySets(): Promise<Array<Omit<PolicySetRecord, 'policies'> & { policyCount: number }>> {
    return this.dataSource.query(
      `SELECT version, status, description, created_by AS "createdBy", created_at AS "createdAt", activated_at AS "activatedAt", activated_by AS "activatedBy",
              (SELECT count(*) FROM jsonb_object_keys(policies))::int AS "policyCount"
       FROM "policy"."policy_sets" ORDER BY created_at DESC`,
    );
  }

  /** Stores a validated candidate; an identical set already stored is answered as it is. */
  async addCandidate(uow: UnitOfWork, version: string, policies: Record<string, string>, description: string, createdBy: string): Promise<{ created: boolean }> {
    const rows = await uow.query(
      `INSERT INTO ${uow.table('policy_sets')} (version, policies, status, description, created_by) VALUES ($1, $2, 'candidate', $3, $4) ON CONFLICT (version) DO NOTHING RETURNING version`,
      [version, JSON.stringify(policies), description, createdBy],
    );
    return { created: rows.length > 0 };
  }

  /** Serializes activations (and the first start's seeding) across instances. */
  async lockPolicySets(uow: UnitOfWork): Promise<void> {
    await uow.query(`LOCK TABLE ${uow.table('policy_sets')} IN SHARE ROW EXCLUSIVE MODE`);
  }

  /** Makes `version` the active set (call under lockPolicySets); answers the previous version. */
  async activate(uow: UnitOfWork, version: string, actor: string, change: 'activated' | 'rolled_back' | 'seeded'): Promise<string | null> {
    const previous = await uow.query<{ version: string }>(`SELECT version FROM ${uow.table('policy_sets')} WHERE status = 'active'`);
    await uow.query(`UPDATE ${uow.table('policy_sets')} SET status = 'inactive' WHERE status = 'active'`);
    await uow.query(`UPDATE ${uow.table('policy_sets')} SET status = 'active', activated_at = now(), activated_by = $2 WHERE version = $1`, [version, actor]);
    await uow.query(`INSERT INTO ${uow.table('policy_activations')} (version, previous_version, change, activated_by) VALUES ($1, $2, $3, $4)`, [version, previous[0]?.version ?? null, change, actor]);
    return previous[0]?.version ?? null;
  }

  /** The version active before the current one, from the activation log. */
  async previousActivation(uow: UnitOfWork): Promise<string | undefined> {
    const rows = await uow.query<{ previous_version: string | null }>(`SELECT previous_version FROM ${uow.table('policy_activations')} ORDER BY seq DESC LIMIT 1`);
    return rows[0]?.previous_version ?? undefined;
  }
}
