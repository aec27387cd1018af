import { createHash, timingSafeEqual } from 'node:crypto';
import { chmodSync, existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { Inject, Injectable, Logger, type OnModuleInit } from '@nestjs/common';
import { InjectDataSource } from '@nestjs/typeorm';
import type { DataSource } from 'typeorm';
import { generateApiKey, parseApiKey } from '@govmesh/signing';
import { GOVMESH_CONFIG } from '../tokens';
import type { GovmeshConfig } from '../config';
import { ApiKeyRecord } from './identity.entities';
import { AuthRefusal, type Principal, type Role } from './principal';

export const OPERATOR_KEY_FILE = 'operator-key';

export interface NewApiKey {
  name: string;
  role: Role;
  groups?: string[];
  agentId?: string;
}

/** What an API listing shows of a key: never its secret or its hash. */
export type ApiKeyView = Omit<ApiKeyRecord, 'secretSha256'>;

const sha256 = (text: string) => createHash('sha256').update(text).digest('hex');

function view(record: ApiKeyRecord): ApiKeyView {
  const { secretSha256: _hidden, ...rest } = record;
  return rest;
}

/**
 * API keys: created by operators (or at first start), verified on every request with one
 * primary-key lookup, revoked in one call. A revoked key is refused from the next request on.
 */
@Injectable()
export class ApiKeyStore implements OnModuleInit {
  private readonly logger = new Logger('identity');
  /** The operator key this process installed (bootstrap, file or generated): the demo and tests use it in-process. */
  operatorKey?: string;

  constructor(
    @InjectDataSource('identity') private readonly dataSource: DataSource,
    @Inject(GOVMESH_CONFIG) private readonly config: GovmeshConfig,
  ) {}

  async onModuleInit(): Promise<void> {
    if (this.config.bootstrapOperatorKey) {
      this.operatorKey = this.config.bootstrapOperatorKey;
      await this.install(this.operatorKey, 'bootstrap operator (GOVMESH_BOOTSTRAP_OPERATOR_KEY)');
      return;
    }
    if (this.config.mode !== 'embedded') return;
    if (this.config.dataDir.startsWith('memory://')) {
      this.operatorKey = generateApiKey().key;
      await this.install(this.operatorKey, 'embedded operator');
      return;
    }
    const file = join(this.config.dataDir, OPERATOR_KEY_FILE);
    if (existsSync(file)) {
      // The database may have been reset while the file stayed: the file's key stays valid.
      this.operatorKey = readFileSync(file, 'utf8').trim();
      await this.install(this.operatorKey, 'embedded operator');
      this.logger.log(`operator API key: in ${file}`);
      return;
    }
    const key = generateApiKey().key;
    this.operatorKey = key;
    await this.install(key, 'embedded operator');
    mkdirSync(this.config.dataDir, { recursive: true });
    writeFileSync(file, `${key}\n`, { mode: 0o600, flag: 'wx' });
    chmodSync(file, 0o600);
    process.stdout.write(
      `\n  govmesh generated an operator API key (shown once; stored in ${file}):\n\n    ${key}\n\n` +
        `  Use it as: curl -H "authorization: Bearer $(cat ${file})" http://127.0.0.1:${this.config.port}/v1/agents\n\n`,
    );
  }

  /** Registers a known key (bootstrap) unless it exists; a revoked key stays revoked. */
  private async install(key: string, name: string): Promise<void> {
    const parsed = parseApiKey(key);
    if (!parsed) throw new Error('Config validation error: the bootstrap operator key is not a govmesh API key (gm_<12 characters>_<43 characters>; `npx govmesh keygen --service` makes one)');
    await this.dataSource
      .createQueryBuilder()
      .insert()
      .into(ApiKeyRecord)
      .values({ id: parsed.id, name, secretSha256: sha256(parsed.secret), role: 'operator', groups: [], agentId: null, createdBy: 'system' })
      .orIgnore()
      .execute();
  }

  async create(spec: NewApiKey, createdBy: string): Promise<{ key: string; record: ApiKeyView }> {
    const generated = generateApiKey();
    const record = await this.dataSource.getRepository(ApiKeyRecord).save({
      id: generated.id,
      name: spec.name,
      secretSha256: sha256(generated.secret),
      role: spec.role,
      groups: spec.groups ?? [],
      agentId: spec.agentId ?? null,
      createdBy,
      revokedAt: null,
      revokedBy: null,
    });
    return { key: generated.key, record: view(record) };
  }

  async list(): Promise<ApiKeyView[]> {
    return (await this.dataSource.getRepository(ApiKeyRecord).find({ order: { createdAt: 'ASC' } })).map(view);
  }

  async find(id: string): Promise<ApiKeyView | undefined> {
    const record = await this.dataSource.getRepository(ApiKeyRecord).findOne({ where: { id } });
    return record ? view(record) : undefined;
  }

  /** Revokes a key; answers the key as it is now, or undefined when there is no such key. */
  async revoke(id: string, revokedBy: string): Promise<ApiKeyView | undefined> {
    await this.dataSource.query(`UPDATE "identity"."api_keys" SET revoked_at = now(), revoked_by = $2 WHERE id = $1 AND revoked_at IS NULL`, [id, revokedBy]);
    return this.find(id);
  }

  /** Revokes every live key of an agent (its suspension or retirement), answering how many. */
  async revokeAgentKeys(agentId: string, revokedBy: string): Promise<number> {
    const rows: unknown[] = await this.dataSource.query(
      `UPDATE "identity"."api_keys" SET revoked_at = now(), revoked_by = $2 WHERE agent_id = $1 AND revoked_at IS NULL RETURNING id`,
      [agentId, revokedBy],
    );
    return Array.isArray(rows[0]) ? (rows[0] as unknown[]).length : rows.length;
  }

  /** The principal a presented API key stands for; a 401 refusal when it stands for no one. */
  async authenticate(presented: string): Promise<Principal> {
    const parsed = parseApiKey(presented);
    if (!parsed) throw new AuthRefusal(401, 'credential_invalid', 'the credential is neither a govmesh API key (gm_…) nor a token this service accepts');
    const rows: Array<{ id: string; name: string; secret_sha256: string; role: Role; groups: string[]; agent_id: string | null; revoked_at: Date | null }> = await this.dataSource.query(
      `SELECT id, name, secret_sha256, role, groups, agent_id, revoked_at FROM "identity"."api_keys" WHERE id = $1`,
      [parsed.id],
    );
    const row = rows[0];
    const expected = Buffer.from(row?.secret_sha256 ?? '0'.repeat(64), 'hex');
    const matches = timingSafeEqual(expected, Buffer.from(sha256(parsed.secret), 'hex'));
    if (!row || !matches) throw new AuthRefusal(401, 'credential_invalid', 'the API key is not known here');
    if (row.revoked_at) throw new AuthRefusal(401, 'credential_revoked', `the API key ${row.id} was revoked at ${new Date(row.revoked_at).toISOString()}`);
    return { id: `key:${row.id}`, kind: 'api_key', name: row.name, roles: [row.role], groups: row.groups ?? [], ...(row.agent_id ? { agentId: row.agent_id } : {}) };
  }
}
