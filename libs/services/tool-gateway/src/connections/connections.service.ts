import type { EgressPolicy } from '../connectors/egress-policy';
import { HttpConnector } from '../connectors/http-connector';
import { inspect } from 'node:util';
import { ConflictException, Inject, Injectable, Logger, NotFoundException, type OnModuleInit } from '@nestjs/common';
import { InjectDataSource } from '@nestjs/typeorm';
import type { DataSource } from 'typeorm';
import { EventTypes, type ConnectionChangedV1 } from '@govmesh/contracts';
import { queryRows, type UnitOfWork } from '@govmesh/messaging';
import { GOVMESH_CONFIG, ServiceBus, type GovmeshConfig, type Principal } from '@govmesh/nest-runtime';
import { TOOL_GATEWAY_DATABASE, TOOL_GATEWAY_SERVICE } from '../database';
import type { AuthMethod, ConnectionAuth, ConnectionKind } from './connection.entity';
import { CredentialCryptoError, decryptSecret, encryptSecret, rewrapSecret, Secret, type EncryptedSecret, type KeyProvider } from './crypto';
import { CONNECTION_KEY_PROVIDER } from './key-provider';

const TABLE = `"${TOOL_GATEWAY_DATABASE.schema}"."connections"`;

/** Why an execution gets no credentials: a reason code a tool result can carry. */
export type ConnectionRefusalCode = 'connection_not_found' | 'connection_revoked' | 'connection_key_unknown' | 'connection_secret_unreadable' | 'oauth2_token_failed';

export class ConnectionRefusal extends Error {
  constructor(
    readonly code: ConnectionRefusalCode,
    message: string,
  ) {
    super(message);
    this.name = 'ConnectionRefusal';
  }

  toReason(): { code: string; message: string } {
    return { code: this.code, message: this.message };
  }
}

/** A connection as the API shows it: never the secret, only whether one is set and under which master key. */
export interface ConnectionView {
  id: string;
  kind: ConnectionKind;
  endpoint: string | null;
  description: string;
  auth: ConnectionAuth;
  egress: EgressPolicy | null;
  secret: { set: true; keyId: string; rotatedAt: Date } | { set: false };
  status: 'active' | 'revoked';
  version: number;
  createdAt: Date;
  createdBy: string;
  rotatedAt: Date | null;
  rotatedBy: string | null;
  revokedAt: Date | null;
  revokedBy: string | null;
  lastUsedAt: Date | null;
}

export interface NewConnection {
  id: string;
  kind: ConnectionKind;
  endpoint?: string;
  description?: string;
  auth: ConnectionAuth;
  /** Required for http and mcp connections: where calls may go. */
  egress?: EgressPolicy;
  /** Required for every auth method but `none`. */
  secret?: string;
}

interface Row {
  id: string;
  kind: ConnectionKind;
  endpoint: string | null;
  description: string;
  auth: ConnectionAuth;
  egress: EgressPolicy | null;
  secret_key_id: string | null;
  secret_wrapped_key: string | null;
  secret_iv: string | null;
  secret_tag: string | null;
  secret_ciphertext: string | null;
  status: 'active' | 'revoked';
  version: number;
  created_at: Date;
  created_by: string;
  rotated_at: Date | null;
  rotated_by: string | null;
  revoked_at: Date | null;
  revoked_by: string | null;
  last_used_at: Date | null;
}

/** How often `last_used_at` is written at most: a busy connection is not one row update per call. */
const LAST_USED_RESOLUTION_MS = 60_000;
/** An OAuth2 access token is renewed this long before it expires. */
const TOKEN_RENEWAL_MARGIN_MS = 30_000;
/** When the token endpoint does not say how long its token lives. */
const DEFAULT_TOKEN_TTL_SECONDS = 300;

const toDate = (value: Date | string | null): Date | null => (value === null ? null : new Date(value));

function view(row: Row): ConnectionView {
  const createdAt = new Date(row.created_at);
  const rotatedAt = toDate(row.rotated_at);
  return {
    id: row.id,
    kind: row.kind,
    endpoint: row.endpoint,
    description: row.description,
    auth: row.auth,
    egress: row.egress ?? null,
    secret: row.secret_key_id && row.secret_ciphertext ? { set: true, keyId: row.secret_key_id, rotatedAt: rotatedAt ?? createdAt } : { set: false },
    status: row.status,
    version: row.version,
    createdAt,
    createdBy: row.created_by,
    rotatedAt,
    rotatedBy: row.rotated_by,
    revokedAt: toDate(row.revoked_at),
    revokedBy: row.revoked_by,
    lastUsedAt: toDate(row.last_used_at),
  };
}

function encrypted(row: Row): EncryptedSecret | null {
  if (!row.secret_key_id || !row.secret_wrapped_key || !row.secret_iv || !row.secret_tag || row.secret_ciphertext === null) return null;
  return { keyId: row.secret_key_id, wrappedKey: row.secret_wrapped_key, iv: row.secret_iv, tag: row.secret_tag, ciphertext: row.secret_ciphertext };
}

/**
 * The credentials of one connection for one execution: they inject its auth into a request's
 * headers and show nothing of the secret otherwise (printing, logging or serialising them gives
 * the connection id, version and method only).
 */
export class ConnectionCredentials {
  readonly #secret: Secret | null;
  readonly #token: (() => Promise<Secret>) | null;

  constructor(
    readonly connectionId: string,
    readonly version: number,
    readonly kind: ConnectionKind,
    readonly endpoint: string | null,
    readonly auth: ConnectionAuth,
    secret: Secret | null,
    token: (() => Promise<Secret>) | null,
    /** Where calls over the connection may go; null: nowhere outside the gateway. */
    readonly egress: EgressPolicy | null = null,
  ) {
    this.#secret = secret;
    this.#token = token;
  }

  get method(): AuthMethod {
    return this.auth.method;
  }

  /** The headers that authenticate a request to the connection (an OAuth2 token is fetched or reused). */
  async headers(): Promise<Record<string, string>> {
    const auth = this.auth;
    const secret = () => {
      if (!this.#secret) throw new ConnectionRefusal('connection_secret_unreadable', `connection "${this.connectionId}" has no secret`);
      return this.#secret.reveal();
    };
    switch (auth.method) {
      case 'none':
        return {};
      case 'api_key_header':
        return { [auth.header.toLowerCase()]: secret() };
      case 'bearer':
        return { authorization: `Bearer ${secret()}` };
      case 'basic':
        return { authorization: `Basic ${Buffer.from(`${auth.username}:${secret()}`, 'utf8').toString('base64')}` };
      case 'oauth2_client_credentials':
        if (!this.#token) throw new ConnectionRefusal('connection_secret_unreadable', `connection "${this.connectionId}" has no client secret`);
        return { authorization: `Bearer ${(await this.#token()).reveal()}` };
    }
  }

  /** A copy of `headers` with the connection's auth added (replacing any header of the same name). */
  async inject(headers: Record<string, string> = {}): Promise<Record<string, string>> {
    const added = await this.headers();
    const names = new Set(Object.keys(added));
    return { ...Object.fromEntries(Object.entries(headers).filter(([name]) => !names.has(name.toLowerCase()))), ...added };
  }

  toJSON(): Record<string, unknown> {
    return { connectionId: this.connectionId, version: this.version, method: this.auth.method, secret: '[redacted]' };
  }

  toString(): string {
    return `ConnectionCredentials(${this.connectionId} v${this.version}, ${this.auth.method}, [redacted])`;
  }

  [inspect.custom](): string {
    return this.toString();
  }
}

interface CachedToken {
  version: number;
  expiresAt: number;
  token: Promise<Secret>;
}

/**
 * Connections and their encrypted credentials: create, list, get, rotate and revoke (each one call,
 * one transaction with its `govmesh.connection.changed.v1` event), and `credentialsFor`, which an
 * execution calls right before it talks to the system: it reads the row afresh every time, so a
 * revocation applies to the very next call, in-flight runs included.
 */
@Injectable()
export class ConnectionsService implements OnModuleInit {
  private readonly logger = new Logger('connections');
  /** OAuth2 access tokens by connection id, valid for one version: a rotation or revocation drops them. */
  private readonly tokens = new Map<string, CachedToken>();

  constructor(
    @InjectDataSource(TOOL_GATEWAY_SERVICE) private readonly dataSource: DataSource,
    private readonly bus: ServiceBus,
    @Inject(CONNECTION_KEY_PROVIDER) private readonly keys: KeyProvider,
    @Inject(GOVMESH_CONFIG) private readonly config: GovmeshConfig,
  ) {}

  /** After a master key rotation, the secrets still under an older key are re-wrapped under the current one. */
  async onModuleInit(): Promise<void> {
    const { rewrapped, failed } = await this.rewrapAll();
    if (rewrapped > 0) this.logger.log(`re-wrapped ${rewrapped} connection secret(s) under master key "${this.keys.currentKeyId}"`);
    if (failed.length > 0) this.logger.warn(`could not re-wrap the secrets of ${failed.length} connection(s) (${failed.slice(0, 10).join(', ')}): their master key is not configured or they were altered`);
  }

  async list(): Promise<ConnectionView[]> {
    const rows = await this.dataSource.query<Row[]>(`SELECT * FROM ${TABLE} ORDER BY id`);
    return rows.map(view);
  }

  async get(id: string): Promise<ConnectionView | null> {
    const [row] = await this.dataSource.query<Row[]>(`SELECT * FROM ${TABLE} WHERE id = $1`, [id]);
    return row ? view(row) : null;
  }

  async create(spec: NewConnection, principal: Principal): Promise<ConnectionView> {
    const secret = spec.auth.method === 'none' || spec.secret === undefined ? null : await encryptSecret(this.keys, spec.id, spec.secret);
    const row = await this.bus.transaction(async (uow) => {
      const [inserted] = await uow.query<Row>(
        `INSERT INTO ${uow.table('connections')} (id, kind, endpoint, description, auth, secret_key_id, secret_wrapped_key, secret_iv, secret_tag, secret_ciphertext, status, version, created_by, egress)
         VALUES ($1, $2, $3, $4, $5::jsonb, $6, $7, $8, $9, $10, 'active', 1, $11, $12::jsonb)
         ON CONFLICT (id) DO NOTHING RETURNING *`,
        [spec.id, spec.kind, spec.endpoint ?? null, spec.description ?? '', JSON.stringify(spec.auth), secret?.keyId ?? null, secret?.wrappedKey ?? null, secret?.iv ?? null, secret?.tag ?? null, secret?.ciphertext ?? null, principal.id, spec.egress ? JSON.stringify(spec.egress) : null],
      );
      if (!inserted) throw new ConflictException({ code: 'connection_exists', message: `connection "${spec.id}" exists already; rotate its secret or revoke it instead` });
      this.emitChange(uow, inserted, 'created', principal);
      return inserted;
    });
    this.logger.log(`connection "${row.id}" created (${row.kind}, ${row.auth.method}) by ${principal.id}`);
    return view(row);
  }

  /**
   * Replaces the secret (a new data key, version + 1) in one call; a revoked connection becomes
   * active again with the new secret. Calls from then on use the new secret; a cached OAuth2 token
   * of the old version is not used again.
   */
  async rotate(id: string, newSecret: string, principal: Principal, reason?: string): Promise<ConnectionView> {
    const current = await this.get(id);
    if (!current) throw this.notFound(id);
    if (current.auth.method === 'none') throw new ConflictException({ code: 'connection_has_no_secret', message: `connection "${id}" authenticates with no secret (method none); there is nothing to rotate` });
    const secret = await encryptSecret(this.keys, id, newSecret);
    const row = await this.bus.transaction(async (uow) => {
      const [updated] = await uow.query<Row>(
        `UPDATE ${uow.table('connections')}
         SET secret_key_id = $2, secret_wrapped_key = $3, secret_iv = $4, secret_tag = $5, secret_ciphertext = $6,
             status = 'active', version = version + 1, rotated_at = now(), rotated_by = $7
         WHERE id = $1 RETURNING *`,
        [id, secret.keyId, secret.wrappedKey, secret.iv, secret.tag, secret.ciphertext, principal.id],
      );
      if (!updated) throw this.notFound(id);
      this.emitChange(uow, updated, 'rotated', principal, reason);
      return updated;
    });
    this.tokens.delete(id);
    this.logger.log(`connection "${id}" rotated to version ${row.version} by ${principal.id}`);
    return view(row);
  }

  /** Revokes a connection in one call: its secret is erased and every call from the next one on is refused. Revoking twice changes nothing. */
  async revoke(id: string, principal: Principal, reason?: string): Promise<ConnectionView> {
    const row = await this.bus.transaction(async (uow) => {
      const [locked] = await uow.query<Row>(`SELECT * FROM ${uow.table('connections')} WHERE id = $1 FOR UPDATE`, [id]);
      if (!locked) throw this.notFound(id);
      if (locked.status === 'revoked') return locked;
      const [updated] = await uow.query<Row>(
        `UPDATE ${uow.table('connections')}
         SET status = 'revoked', secret_key_id = NULL, secret_wrapped_key = NULL, secret_iv = NULL, secret_tag = NULL, secret_ciphertext = NULL,
             revoked_at = now(), revoked_by = $2
         WHERE id = $1 RETURNING *`,
        [id, principal.id],
      );
      this.emitChange(uow, updated, 'revoked', principal, reason);
      this.logger.log(`connection "${id}" revoked by ${principal.id}`);
      return updated;
    });
    this.tokens.delete(id);
    return view(row);
  }

  /**
   * The credentials of a connection for the call about to be made. Reads the connection afresh
   * (no cache: a revocation applies to the very next call) and refuses with a `ConnectionRefusal`
   * whose code says why: `connection_not_found`, `connection_revoked`, `connection_key_unknown`
   * (its master key is not configured) or `connection_secret_unreadable` (altered, or copied from
   * another row).
   */
  async credentialsFor(connectionId: string): Promise<ConnectionCredentials> {
    const [row] = await this.dataSource.query<Row[]>(`SELECT * FROM ${TABLE} WHERE id = $1`, [connectionId]);
    if (!row) throw new ConnectionRefusal('connection_not_found', `connection "${connectionId}" does not exist`);
    if (row.status === 'revoked') {
      this.tokens.delete(connectionId);
      throw new ConnectionRefusal('connection_revoked', `connection "${connectionId}" was revoked${row.revoked_at ? ` at ${new Date(row.revoked_at).toISOString()}` : ''}`);
    }
    let secret: Secret | null = null;
    if (row.auth.method !== 'none') {
      const record = encrypted(row);
      if (!record) throw new ConnectionRefusal('connection_secret_unreadable', `connection "${connectionId}" has no stored secret`);
      try {
        secret = await decryptSecret(this.keys, connectionId, record);
      } catch (err) {
        if (err instanceof CredentialCryptoError) {
          this.logger.warn(`connection "${connectionId}": ${err.code}: ${err.message}`);
          throw new ConnectionRefusal(err.code, err.message);
        }
        throw err;
      }
    }
    await this.touch(row);
    const auth = row.auth;
    const token = auth.method === 'oauth2_client_credentials' && secret ? () => this.accessToken(row.id, row.version, auth, secret, row.egress ?? null) : null;
    return new ConnectionCredentials(row.id, row.version, row.kind, row.endpoint, auth, secret, token, row.egress ?? null);
  }

  /** Re-wraps every secret whose data key is under another master key than the current one. */
  async rewrapAll(): Promise<{ rewrapped: number; failed: string[] }> {
    const rows = await this.dataSource.query<Row[]>(`SELECT * FROM ${TABLE} WHERE secret_key_id IS NOT NULL AND secret_key_id <> $1`, [this.keys.currentKeyId]);
    let rewrapped = 0;
    const failed: string[] = [];
    for (const row of rows) {
      const record = encrypted(row);
      if (!record) continue;
      try {
        const next = await rewrapSecret(this.keys, record);
        // Only if nothing changed meanwhile (a rotation, a revocation or another instance re-wrapping).
        const updated = await queryRows(this.dataSource, `UPDATE ${TABLE} SET secret_key_id = $2, secret_wrapped_key = $3 WHERE id = $1 AND secret_key_id = $4 AND secret_wrapped_key = $5 RETURNING id`, [
          row.id,
          next.keyId,
          next.wrappedKey,
          record.keyId,
          record.wrappedKey,
        ]);
        rewrapped += updated.length;
      } catch (err) {
        if (!(err instanceof CredentialCryptoError)) throw err;
        failed.push(row.id);
      }
    }
    return { rewrapped, failed };
  }

  private notFound(id: string): NotFoundException {
    return new NotFoundException({ code: 'connection_not_found', message: `connection "${id}" does not exist` });
  }

  private emitChange(uow: UnitOfWork, row: Row, change: ConnectionChangedV1['change'], principal: Principal, reason?: string): void {
    uow.emit(EventTypes.ConnectionChanged, {
      connectionId: row.id,
      change,
      connection: {
        kind: row.kind,
        ...(row.endpoint ? { endpoint: row.endpoint } : {}),
        authMethod: row.auth.method,
        status: row.status,
        version: row.version,
        ...(row.secret_key_id ? { keyId: row.secret_key_id } : {}),
      },
      ...(reason ? { reason } : {}),
      actor: { kind: 'operator', id: principal.id, name: principal.name.slice(0, 200) },
    });
  }

  /** Notes the use, at most once a minute per connection. Never fails the call it serves. */
  private async touch(row: Row): Promise<void> {
    const last = toDate(row.last_used_at)?.getTime() ?? 0;
    if (Date.now() - last < LAST_USED_RESOLUTION_MS) return;
    try {
      await this.dataSource.query(`UPDATE ${TABLE} SET last_used_at = now() WHERE id = $1 AND version = $2`, [row.id, row.version]);
    } catch (err) {
      this.logger.warn(`connection "${row.id}": last use not recorded: ${(err as Error).message}`);
    }
  }

  /** The access token of an OAuth2 connection for this version: cached until shortly before it expires, one request at a time. */
  private accessToken(id: string, version: number, auth: Extract<ConnectionAuth, { method: 'oauth2_client_credentials' }>, clientSecret: Secret, egress: EgressPolicy | null): Promise<Secret> {
    const cached = this.tokens.get(id);
    if (cached && cached.version === version && cached.expiresAt - TOKEN_RENEWAL_MARGIN_MS > Date.now()) return cached.token;
    const entry: CachedToken = { version, expiresAt: Number.POSITIVE_INFINITY, token: Promise.resolve(new Secret('')) };
    entry.token = this.fetchToken(id, auth, clientSecret, egress).then(
      ({ token, expiresInSeconds }) => {
        entry.expiresAt = Date.now() + expiresInSeconds * 1000;
        return token;
      },
      (err: unknown) => {
        if (this.tokens.get(id) === entry) this.tokens.delete(id);
        throw err;
      },
    );
    this.tokens.set(id, entry);
    return entry.token;
  }

  /**
   * The client-credentials grant (RFC 6749 §4.4), sent through the HTTP connector under the
   * connection's own egress allow-list (the token endpoint must be on it), its address checks and
   * no redirects: the client secret goes nowhere a call could not.
   */
  private async fetchToken(id: string, auth: Extract<ConnectionAuth, { method: 'oauth2_client_credentials' }>, clientSecret: Secret, egress: EgressPolicy | null): Promise<{ token: Secret; expiresInSeconds: number }> {
    const form: Record<string, string> = { grant_type: 'client_credentials' };
    if (auth.scopes.length > 0) form['scope'] = auth.scopes.join(' ');
    if (auth.clientAuthentication === 'body') {
      form['client_id'] = auth.clientId;
      form['client_secret'] = clientSecret.reveal();
    }
    const refuse = (why: string) => new ConnectionRefusal('oauth2_token_failed', `connection "${id}": the token endpoint ${new URL(auth.tokenUrl).origin} ${why}`);
    if (!egress) throw refuse('cannot be reached: the connection has no egress allow-list');
    const connector = new HttpConnector({
      connectionId: id,
      egress,
      timeoutMs: this.config.toolTimeoutMs,
      maxRedirects: 0,
      maxResponseBytes: 64 * 1024,
      ...(auth.clientAuthentication === 'body'
        ? {}
        : {
            // RFC 6749 §2.3.1: both parts form-urlencoded, then Basic.
            authorize: (headers: Headers) => {
              const pair = `${encodeURIComponent(auth.clientId)}:${encodeURIComponent(clientSecret.reveal())}`;
              headers.set('authorization', `Basic ${Buffer.from(pair, 'utf8').toString('base64')}`);
            },
          }),
    });
    const answer = await connector.call({ method: 'POST', url: auth.tokenUrl, headers: { 'content-type': 'application/x-www-form-urlencoded', accept: 'application/json' }, form });
    if (answer.status !== 'succeeded') {
      const status = answer.output?.['httpStatus'];
      throw refuse(typeof status === 'number' ? `answered ${status}` : `could not be reached (${answer.reasons[0]?.code ?? 'unknown'})`);
    }
    const body = answer.output?.['body'];
    const parsed: Record<string, unknown> = body && typeof body === 'object' && !Array.isArray(body) ? (body as Record<string, unknown>) : {};
    const token = parsed['access_token'];
    if (typeof token !== 'string' || token.length === 0) throw refuse('answered without an access_token');
    const type = parsed['token_type'];
    if (typeof type === 'string' && type.toLowerCase() !== 'bearer') throw refuse(`issued a token of type "${type.slice(0, 32)}", not bearer`);
    const expiresIn = typeof parsed['expires_in'] === 'number' && parsed['expires_in'] > 0 ? parsed['expires_in'] : DEFAULT_TOKEN_TTL_SECONDS;
    return { token: new Secret(token), expiresInSeconds: expiresIn };
  }
}
