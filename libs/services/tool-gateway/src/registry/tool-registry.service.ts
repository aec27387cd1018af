import { isDeepStrictEqual } from 'node:util';
import { BadRequestException, ConflictException, Inject, Injectable, Logger, NotFoundException, type OnModuleInit } from '@nestjs/common';
import { InjectDataSource } from '@nestjs/typeorm';
import Ajv from 'ajv';
import type { DataSource } from 'typeorm';
import type { CelResultType } from '@govmesh/cel';
import { compareVersions, EventTypes, type Actor, type ToolManifest, type ToolRegisteredV1, type VerificationCheck } from '@govmesh/contracts';
import type { UnitOfWork } from '@govmesh/messaging';
import { ServiceBus } from '@govmesh/nest-runtime';
import { ENDPOINT_DEPS, type FieldProblem, type Principal, type ServiceEndpointDeps } from '@govmesh/nest-runtime';
import { TOOL_GATEWAY_SERVICE } from '../database';
import { ToolCatalog } from '../tools';
import type { ToolDefinition } from '../tool-definition';
import { BUILT_IN_MANIFESTS, SANDBOX_OPERATIONS } from './built-in-tools';
import { celProblem, loadCel } from './cel';
import { ConnectorFactory } from './connector-factory';

type Query = (sql: string, params?: readonly unknown[]) => Promise<unknown[]>;

const SYSTEM: Actor = { kind: 'system', id: 'system', name: 'govmesh' };
/** How often an instance looks whether another one changed the manifest. */
const REFRESH_INTERVAL_MS = 1_000;

interface ToolRow {
  name: string;
  version: string;
  status: 'active' | 'retired';
  manifest: ToolManifest;
  registered_by: string;
  updated_at: Date | string;
}

export interface ToolView {
  name: string;
  version: string;
  status: 'active' | 'retired';
  manifest: ToolManifest;
  registeredBy: string;
  updatedAt: Date;
  builtIn: boolean;
}

const BUILT_IN_NAMES = new Set(BUILT_IN_MANIFESTS.map((m) => m.name));

/** What a citation check's read tool is called with: the cited document and version. */
const CITATION_READ_ARGUMENTS: readonly string[] = ['documentId', 'version'];

function view(row: ToolRow): ToolView {
  return { name: row.name, version: row.version, status: row.status, manifest: row.manifest, registeredBy: row.registered_by, updatedAt: new Date(row.updated_at), builtIn: BUILT_IN_NAMES.has(row.name) };
}

function invalid(fields: FieldProblem[]): BadRequestException {
  return new BadRequestException({ code: 'invalid_tool', message: fields.map((f) => `${f.field} ${f.problem}`).join('; '), fields });
}

/**
 * The tool manifest: the one list of tools. Operators register, update (a higher version) and
 * retire tools here; each change is one transaction with its `govmesh.tool.registered.v1` event,
 * from which policy, the model router and the verifier learn tools. The gateway's catalog is
 * rebuilt from the table: at start, after a change here, and within a second of a change made by
 * another instance.
 */
@Injectable()
export class ToolRegistry implements OnModuleInit {
  private readonly logger = new Logger('tools');
  private readonly schemaAjv = new Ajv({ allErrors: true, strict: true });
  private loadedStamp = '';
  private checkedAt = 0;

  constructor(
    private readonly catalog: ToolCatalog,
    private readonly connectors: ConnectorFactory,
    @InjectDataSource(TOOL_GATEWAY_SERVICE) private readonly dataSource: DataSource,
    private readonly bus: ServiceBus,
    @Inject(ENDPOINT_DEPS) private readonly deps: ServiceEndpointDeps,
  ) {}

  /** Registers the built-in tools (those missing or older than this release) and loads the catalog. */
  async onModuleInit(): Promise<void> {
    await loadCel();
    await this.bus.transaction(async (uow) => {
      const rows = await uow.query<ToolRow>(`SELECT * FROM ${uow.table('tools')} WHERE name = ANY($1) FOR UPDATE`, [[...BUILT_IN_NAMES]]);
      const current = new Map(rows.map((r) => [r.name, r]));
      for (const manifest of BUILT_IN_MANIFESTS) {
        const row = current.get(manifest.name);
        if (row && row.status === 'active' && isDeepStrictEqual(row.manifest, manifest)) continue;
        if (row && compareVersions(row.version, manifest.version) > 0) continue;
        await this.write(uow, manifest, row ?? null, 'seeded', SYSTEM);
      }
    });
    await this.reload();
  }

  /**
   * Rebuilds the catalog when the table changed since it was loaded (looked at most once a
   * second). Reads through the caller's unit of work: a handler holds the connection already.
   */
  async refreshIfStale(uow: UnitOfWork): Promise<void> {
    if (Date.now() - this.checkedAt < REFRESH_INTERVAL_MS) return;
    this.checkedAt = Date.now();
    const query: Query = (sql, params) => uow.query(sql, params as unknown[]);
    const stamp = await this.stamp(query);
    if (stamp !== this.loadedStamp) await this.reload(query);
  }

  /** Loads every active tool into the catalog. A manifest that cannot be built is left out, with a log line. */
  async reload(query: Query = (sql, params) => this.dataSource.query(sql, params as unknown[])): Promise<void> {
    const stamp = await this.stamp(query);
    const rows = (await query(`SELECT * FROM "tool_gateway"."tools" WHERE status = 'active' ORDER BY name`)) as ToolRow[];
    const definitions: ToolDefinition[] = [];
    for (const row of rows) {
      try {
        definitions.push(this.connectors.definitionOf(row.manifest));
      } catch (err) {
        this.logger.error(`tool ${row.name} ${row.version} cannot be loaded and is unavailable: ${(err as Error).message}`);
      }
    }
    this.catalog.replace(definitions);
    this.loadedStamp = stamp;
    this.checkedAt = Date.now();
  }

  private async stamp(query: Query): Promise<string> {
    const [row] = (await query(`SELECT coalesce(max(updated_at)::text, '') || ':' || count(*)::text AS stamp FROM "tool_gateway"."tools"`)) as Array<{ stamp: string }>;
    return row?.stamp ?? '';
  }

  async list(): Promise<ToolView[]> {
    const rows = await this.dataSource.query<ToolRow[]>(`SELECT * FROM "tool_gateway"."tools" ORDER BY name`);
    return rows.map(view);
  }

  async get(name: string): Promise<ToolView | null> {
    const [row] = await this.dataSource.query<ToolRow[]>(`SELECT * FROM "tool_gateway"."tools" WHERE name = $1`, [name]);
    return row ? view(row) : null;
  }

  /**
   * Registers a tool or a new version of it. The same version with the same manifest changes
   * nothing (a repeated call answers `created: false`); a lower or equal version with another
   * manifest is refused.
   */
  async register(manifest: ToolManifest, principal: Principal): Promise<{ tool: ToolView; created: boolean }> {
    if (BUILT_IN_NAMES.has(manifest.name) || manifest.name.startsWith('gateway.')) {
      throw new ConflictException({ code: 'tool_built_in', message: `${manifest.name} is a built-in tool (or in the reserved gateway. namespace); it cannot be registered over` });
    }
    await this.check(manifest);
    const actor: Actor = { kind: 'operator', id: principal.id, name: principal.name.slice(0, 200) };
    const result = await this.bus.transaction(async (uow) => {
      const [row] = await uow.query<ToolRow>(`SELECT * FROM ${uow.table('tools')} WHERE name = $1 FOR UPDATE`, [manifest.name]);
      if (row) {
        const order = compareVersions(manifest.version, row.version);
        if (order === 0 && row.status === 'active' && isDeepStrictEqual(row.manifest, manifest)) return { row, created: false };
        if (order <= 0) {
          throw new ConflictException({
            code: 'tool_version_not_newer',
            message: `${manifest.name} is at version ${row.version} (${row.status}); register a higher version to change it`,
          });
        }
      }
      return { row: await this.write(uow, manifest, row ?? null, row ? 'updated' : 'registered', actor), created: true };
    });
    if (result.created) {
      this.logger.log(`tool ${manifest.name} ${manifest.version} registered by ${principal.id}`);
      await this.reload();
    }
    return { tool: view(result.row), created: result.created };
  }

  /** Retires a tool: from the next request on, nothing executes it. Retiring twice changes nothing. */
  async retire(name: string, principal: Principal, reason?: string): Promise<ToolView> {
    const row = await this.bus.transaction(async (uow) => {
      const [current] = await uow.query<ToolRow>(`SELECT * FROM ${uow.table('tools')} WHERE name = $1 FOR UPDATE`, [name]);
      if (!current) throw new NotFoundException({ code: 'tool_not_found', message: `no tool ${name} in the manifest` });
      if (BUILT_IN_NAMES.has(name)) throw new ConflictException({ code: 'tool_built_in', message: `${name} is a built-in tool; it cannot be retired` });
      if (current.status === 'retired') return current;
      const [updated] = await uow.query<ToolRow>(`UPDATE ${uow.table('tools')} SET status = 'retired', updated_at = clock_timestamp() WHERE name = $1 RETURNING *`, [name]);
      this.emit(uow, updated, 'retired', { kind: 'operator', id: principal.id, name: principal.name.slice(0, 200) }, current.version, reason);
      return updated;
    });
    await this.reload();
    return view(row);
  }

  /** What the schema cannot say: schemas that compile, the connector's needs, the verification spec. */
  private async check(manifest: ToolManifest): Promise<void> {
    const problems: FieldProblem[] = [];
    for (const key of ['inputSchema', 'outputSchema'] as const) {
      const schema = manifest[key];
      if (!schema) continue;
      try {
        this.schemaAjv.compile(schema);
      } catch (err) {
        problems.push({ field: `/${key}`, problem: `is not a JSON Schema the gateway can enforce: ${(err as Error).message.slice(0, 300)}` });
      }
    }
    if (manifest.inputSchema['type'] !== 'object') problems.push({ field: '/inputSchema/type', problem: 'must be "object": a tool takes named arguments' });
    const op = manifest.operation;
    if (op.connector === 'sandbox') {
      problems.push({ field: '/operation/connector', problem: 'sandbox operations belong to the built-in tools; register an http or mcp tool' });
    } else {
      if (!manifest.connection) problems.push({ field: '/connection', problem: `is required for an ${op.connector} tool` });
      else {
        const [connection] = await this.dataSource.query<Array<{ kind: string; status: string }>>(`SELECT kind, status FROM "tool_gateway"."connections" WHERE id = $1`, [manifest.connection]);
        if (!connection) problems.push({ field: '/connection', problem: `names no connection ("${manifest.connection}"); create it first` });
        else if (connection.kind !== op.connector) problems.push({ field: '/connection', problem: `is a ${connection.kind} connection; an ${op.connector} tool needs an ${op.connector} connection` });
      }
      if (op.connector === 'http') {
        const properties = (manifest.inputSchema['properties'] ?? {}) as Record<string, unknown>;
        for (const m of op.path.matchAll(/\{([A-Za-z_][A-Za-z0-9_]*)\}/g)) {
          if (!(m[1] in properties)) problems.push({ field: '/operation/path', problem: `names {${m[1]}}, which is not an argument of the input schema` });
        }
        for (const [list, names] of [['query', op.query ?? []], ['body', op.body ?? []]] as const) {
          for (const name of names) if (!(name in properties)) problems.push({ field: `/operation/${list}`, problem: `names ${name}, which is not an argument of the input schema` });
        }
      }
    }
    for (const [i, check] of (manifest.verification ?? []).entries()) {
      const at = `/verification/${i}`;
      const expressions: Array<[string, string]> = [];
      if (check.check === 'read_back' || check.check === 'state') {
        const found = check.tool === manifest.name ? { manifest, status: 'active' } : await this.get(check.tool);
        const reader = found?.manifest;
        const status = found?.status;
        if (!reader || status !== 'active') problems.push({ field: `${at}/tool`, problem: `names no active tool (${check.tool})` });
        else if (reader.sideEffect !== 'read') problems.push({ field: `${at}/tool`, problem: `${check.tool} is a ${reader.sideEffect} tool; the verifier reads with read tools only` });
        for (const [name, expression] of Object.entries(check.arguments)) expressions.push([`${at}/arguments/${name}`, expression]);
        if (check.check === 'state') expressions.push([`${at}/expect`, check.expect]);
      } else if (check.check === 'citation') {
        problems.push(...(await this.citationProblems(manifest, check, at)));
      }
      for (const [field, expression] of expressions) {
        const problem = await celProblem(expression);
        if (problem) problems.push({ field, problem: `is not a valid CEL expression: ${problem}` });
      }
    }
    if (problems.length > 0) throw invalid(problems);
    try {
      this.connectors.definitionOf(manifest);
    } catch (err) {
      throw invalid([{ field: '/operation', problem: (err as Error).message.slice(0, 300) }]);
    }
  }

  /**
   * A citation check's problems: its tool must be an active read tool that answers a document
   * version (it is called with `documentId` and `version` only, and answers `text` and `version`),
   * and its expressions CEL over the call (`arguments`, `output`, `claim`; nothing is read yet when
   * they are evaluated): `document`, `version` and `quote` strings, `offset` a number or null.
   */
  private async citationProblems(manifest: ToolManifest, check: Extract<VerificationCheck, { check: 'citation' }>, at: string): Promise<FieldProblem[]> {
    const problems: FieldProblem[] = [];
    const row = check.tool === manifest.name ? null : await this.get(check.tool);
    const reader = check.tool === manifest.name ? manifest : row?.status === 'active' ? row.manifest : undefined;
    if (!reader) problems.push({ field: `${at}/tool`, problem: `names no active tool (${check.tool})` });
    else if (reader.sideEffect !== 'read') problems.push({ field: `${at}/tool`, problem: `${check.tool} is a ${reader.sideEffect} tool; the verifier reads with read tools only` });
    else {
      const takes = reader.inputSchema;
      const properties = (takes['properties'] ?? {}) as Record<string, unknown>;
      const closed = takes['additionalProperties'] === false;
      const missing = CITATION_READ_ARGUMENTS.filter((name) => closed && !(name in properties));
      const required = (Array.isArray(takes['required']) ? takes['required'] : []) as unknown[];
      const others = required.filter((name) => !CITATION_READ_ARGUMENTS.includes(name as string));
      if (missing.length > 0 || others.length > 0) {
        problems.push({
          field: `${at}/tool`,
          problem: `${check.tool} cannot read a cited document: the verifier calls it with documentId and version only, and it ${missing.length > 0 ? `does not take ${missing.join(' and ')}` : `requires ${others.map(String).join(', ')}`}`,
        });
      }
      const answers = reader.outputSchema;
      const answered = (answers?.['properties'] ?? {}) as Record<string, unknown>;
      const lacking = answers && answers['additionalProperties'] === false ? ['text', 'version'].filter((name) => !(name in answered)) : [];
      if (lacking.length > 0) problems.push({ field: `${at}/tool`, problem: `${check.tool} cannot answer a document version: its output schema has no ${lacking.join(' and ')}` });
    }
    const expressions: Array<[string, string | undefined, CelResultType | CelResultType[]]> = [
      ['document', check.document, 'string'],
      ['version', check.version, 'string'],
      ['quote', check.quote, 'string'],
      ['offset', check.offset, ['int', 'double', 'null']],
    ];
    for (const [name, expression, type] of expressions) {
      if (expression === undefined) continue;
      const problem = await celProblem(expression, { over: 'call', type });
      if (problem) problems.push({ field: `${at}/${name}`, problem: `is not a valid CEL expression: ${problem}` });
    }
    return problems;
  }

  private async write(uow: UnitOfWork, manifest: ToolManifest, previous: ToolRow | null, change: ToolRegisteredV1['change'], actor: Actor): Promise<ToolRow> {
    const [row] = await uow.query<ToolRow>(
      `INSERT INTO ${uow.table('tools')} (name, version, status, manifest, registered_by, updated_at) VALUES ($1, $2, 'active', $3::jsonb, $4, clock_timestamp())
       ON CONFLICT (name) DO UPDATE SET version = EXCLUDED.version, status = 'active', manifest = EXCLUDED.manifest, registered_by = EXCLUDED.registered_by, updated_at = EXCLUDED.updated_at
       RETURNING *`,
      [manifest.name, manifest.version, JSON.stringify(manifest), actor.id],
    );
    await uow.query(
      `INSERT INTO ${uow.table('tool_versions')} (name, version, manifest, registered_by) VALUES ($1, $2, $3::jsonb, $4)
       ON CONFLICT (name, version) DO UPDATE SET manifest = EXCLUDED.manifest, registered_by = EXCLUDED.registered_by, registered_at = now()`,
      [manifest.name, manifest.version, JSON.stringify(manifest), actor.id],
    );
    this.emit(uow, row, change, actor, previous && previous.version !== manifest.version ? previous.version : undefined);
    return row;
  }

  private emit(uow: UnitOfWork, row: ToolRow, change: ToolRegisteredV1['change'], actor: Actor, previousVersion?: string, reason?: string): void {
    uow.emit(EventTypes.ToolRegistered, {
      name: row.name,
      change,
      status: row.status,
      manifest: row.manifest,
      ...(previousVersion ? { previousVersion } : {}),
      ...(reason ? { reason } : {}),
      actor,
    });
  }

  /** A sandbox operation's code, for tests and the connector factory. */
  static sandboxOperation(name: string): ToolDefinition | undefined {
    return SANDBOX_OPERATIONS.get(name);
  }
}
