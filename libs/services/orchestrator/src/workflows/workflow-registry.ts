import { createHash } from 'node:crypto';
import { Injectable, Logger, type OnModuleInit } from '@nestjs/common';
import { InjectDataSource } from '@nestjs/typeorm';
import canonicalize from 'canonicalize';
import type { DataSource } from 'typeorm';
import { compileWorkflow, DEFAULT_WORKFLOW, SEED_WORKFLOWS, WorkflowInvalidError, type CompiledWorkflow, type WorkflowDefinition, type WorkflowSpec } from '@govmesh/workflow';
import { ORCHESTRATOR_DATABASE, ORCHESTRATOR_SERVICE } from '../database';

interface DefinitionRow {
  id: string;
  version: number;
  definition: WorkflowSpec;
  digest: string;
  published_by: string;
  published_at: Date | string;
}

export interface PublishedWorkflow {
  id: string;
  version: number;
  digest: string;
  publishedBy: string;
  publishedAt: string;
  definition: WorkflowDefinition;
}

/** Runs SQL: the caller's transaction when there is one (an embedded database has one connection). */
export type Query = (sql: string, params?: unknown[]) => Promise<unknown[]>;

/** How long the latest version of a workflow is taken from memory before it is read again (another instance may publish). */
const LATEST_TTL_MS = 2000;

const digestOf = (spec: WorkflowSpec): string => createHash('sha256').update(canonicalize(spec) as string).digest('hex');

/**
 * Published workflow definitions: versioned, immutable, validated before they are stored. A run is
 * pinned to the version it started with; compiled versions are cached (they never change).
 */
@Injectable()
export class WorkflowRegistry implements OnModuleInit {
  private readonly logger = new Logger(ORCHESTRATOR_SERVICE);
  private readonly compiled = new Map<string, Promise<CompiledWorkflow>>();
  private readonly latestVersion = new Map<string, { version: number; at: number }>();
  private readonly table = `"${ORCHESTRATOR_DATABASE.schema}"."workflow_definitions"`;

  constructor(@InjectDataSource(ORCHESTRATOR_SERVICE) private readonly dataSource: DataSource) {}

  /** The seed workflows are published at start when this installation has no version of them. */
  async onModuleInit(): Promise<void> {
    for (const seed of SEED_WORKFLOWS) {
      const { version: _version, ...spec } = seed;
      await compileWorkflow(seed);
      await this.dataSource.query(`INSERT INTO ${this.table} (id, version, definition, digest, published_by) SELECT $1::varchar, 1, $2::jsonb, $3::varchar, 'system' WHERE NOT EXISTS (SELECT 1 FROM ${this.table} WHERE id = $1::varchar)`, [
        seed.id,
        JSON.stringify(spec),
        digestOf(spec),
      ]);
    }
  }

  /**
   * Publishes a definition as the next version of its id. The same definition as the latest
   * version is not a new version (returns it, `created: false`). Throws WorkflowInvalidError.
   */
  async publish(spec: WorkflowSpec, publishedBy: string): Promise<{ workflow: PublishedWorkflow; created: boolean }> {
    await compileWorkflow({ ...spec, version: 1 });
    const digest = digestOf(spec);
    return this.dataSource.transaction(async (manager) => {
      // One publisher of an id at a time: versions are dense and never reused.
      await manager.query('SELECT pg_advisory_xact_lock(hashtext($1))', [`workflow:${spec.id}`]);
      const latest: DefinitionRow[] = await manager.query(`SELECT * FROM ${this.table} WHERE id = $1 ORDER BY version DESC LIMIT 1`, [spec.id]);
      if (latest[0] && latest[0].digest === digest) return { workflow: toPublished(latest[0]), created: false };
      const version = (latest[0]?.version ?? 0) + 1;
      const rows: DefinitionRow[] = await manager.query(`INSERT INTO ${this.table} (id, version, definition, digest, published_by) VALUES ($1, $2, $3::jsonb, $4, $5) RETURNING *`, [
        spec.id,
        version,
        JSON.stringify(spec),
        digest,
        publishedBy,
      ]);
      this.latestVersion.set(spec.id, { version, at: Date.now() });
      this.logger.log(`workflow ${spec.id} version ${version} published by ${publishedBy}`);
      return { workflow: toPublished(rows[0]), created: true };
    });
  }

  async list(): Promise<Array<Omit<PublishedWorkflow, 'definition'> & { description?: string; versions: number }>> {
    const rows: Array<DefinitionRow & { versions: number }> = await this.dataSource.query(
      `SELECT DISTINCT ON (id) id, version, definition, digest, published_by, published_at, count(*) OVER (PARTITION BY id)::int AS versions FROM ${this.table} ORDER BY id, version DESC`,
    );
    return rows.map((r) => {
      const { definition, ...rest } = toPublished(r);
      return { ...rest, ...(definition.description ? { description: definition.description } : {}), versions: r.versions };
    });
  }

  async versions(id: string): Promise<PublishedWorkflow[]> {
    const rows: DefinitionRow[] = await this.dataSource.query(`SELECT * FROM ${this.table} WHERE id = $1 ORDER BY version DESC`, [id]);
    return rows.map(toPublished);
  }

  async get(id: string, version?: number, query: Query = (sql, params) => this.dataSource.query(sql, params)): Promise<PublishedWorkflow | null> {
    const rows = (version === undefined
      ? await query(`SELECT * FROM ${this.table} WHERE id = $1 ORDER BY version DESC LIMIT 1`, [id])
      : await query(`SELECT * FROM ${this.table} WHERE id = $1 AND version = $2`, [id, version])) as DefinitionRow[];
    return rows[0] ? toPublished(rows[0]) : null;
  }

  /** The compiled definition of one version (cached: versions are immutable). */
  compiledVersion(id: string, version: number, query?: Query): Promise<CompiledWorkflow> {
    const key = `${id}@${version}`;
    let found = this.compiled.get(key);
    if (!found) {
      found = (async () => {
        const published = await this.get(id, version, query);
        if (!published) throw new WorkflowInvalidError([{ field: '/workflow', problem: `workflow ${id} has no version ${version}` }]);
        return compileWorkflow(published.definition);
      })();
      found.catch(() => this.compiled.delete(key));
      this.compiled.set(key, found);
    }
    return found;
  }

  /** The latest version of a workflow, compiled; null when there is no such workflow. */
  async latest(id: string = DEFAULT_WORKFLOW.id, query?: Query): Promise<CompiledWorkflow | null> {
    const cached = this.latestVersion.get(id);
    if (cached && Date.now() - cached.at < LATEST_TTL_MS) return this.compiledVersion(id, cached.version, query);
    const published = await this.get(id, undefined, query);
    if (!published) return null;
    this.latestVersion.set(id, { version: published.version, at: Date.now() });
    return this.compiledVersion(id, published.version, query);
  }
}

function toPublished(r: DefinitionRow): PublishedWorkflow {
  return { id: r.id, version: r.version, digest: r.digest, publishedBy: r.published_by, publishedAt: new Date(r.published_at).toISOString(), definition: { ...r.definition, version: r.version } };
}
