import { Column, CreateDateColumn, Entity, PrimaryColumn } from 'typeorm';

export const CONNECTION_KINDS = ['http', 'mcp', 'sandbox'] as const;
export type ConnectionKind = (typeof CONNECTION_KINDS)[number];

export const AUTH_METHODS = ['none', 'api_key_header', 'bearer', 'basic', 'oauth2_client_credentials'] as const;
export type AuthMethod = (typeof AUTH_METHODS)[number];

/** How a connection authenticates, without its secret (which is stored encrypted beside it). */
export type ConnectionAuth =
  | { method: 'none' }
  /** The secret is sent as the value of this header. */
  | { method: 'api_key_header'; header: string }
  /** The secret is sent as `authorization: Bearer <secret>`. */
  | { method: 'bearer' }
  /** The secret is the password of `authorization: Basic base64(username:secret)`. */
  | { method: 'basic'; username: string }
  /** The secret is the client secret; the token endpoint's access token is sent as a bearer token. */
  | { method: 'oauth2_client_credentials'; tokenUrl: string; clientId: string; scopes: string[]; clientAuthentication: 'basic' | 'body' };

/**
 * A connection to a system of record (ERP, CRM, ticketing, mail, any HTTP API or MCP server): where
 * it is, how to authenticate and its secret, encrypted at rest (AES-256-GCM under a per-record data
 * key wrapped by a master key whose id is stored here; see `crypto.ts`). A revoked connection has
 * no secret any more: its secret columns are wiped in the revoking statement.
 */
@Entity({ name: 'connections' })
export class ConnectionRecord {
  @PrimaryColumn({ type: 'varchar', length: 64 })
  id!: string;

  @Column({ type: 'varchar', length: 16 })
  kind!: ConnectionKind;

  /** Base URL of an HTTP API, or the endpoint of an MCP server; null for the sandbox. */
  @Column({ type: 'varchar', length: 2048, nullable: true })
  endpoint!: string | null;

  @Column({ type: 'varchar', length: 1000, default: '' })
  description!: string;

  @Column({ type: 'jsonb' })
  auth!: ConnectionAuth;

  /** Where calls over the connection may go (hosts, ports, paths, methods); nothing leaves without a match. Null for the sandbox. */
  @Column({ type: 'jsonb', nullable: true })
  egress!: { allow: Array<Record<string, unknown>> } | null;

  /** The master key the data key is wrapped under. */
  @Column({ name: 'secret_key_id', type: 'varchar', length: 64, nullable: true })
  secretKeyId!: string | null;

  /** The wrapped data key (base64: iv, tag and the encrypted 32 bytes). */
  @Column({ name: 'secret_wrapped_key', type: 'varchar', length: 512, nullable: true })
  secretWrappedKey!: string | null;

  @Column({ name: 'secret_iv', type: 'varchar', length: 64, nullable: true })
  secretIv!: string | null;

  @Column({ name: 'secret_tag', type: 'varchar', length: 64, nullable: true })
  secretTag!: string | null;

  @Column({ name: 'secret_ciphertext', type: 'text', nullable: true })
  secretCiphertext!: string | null;

  @Column({ type: 'varchar', length: 16 })
  status!: 'active' | 'revoked';

  /** 1 at creation, incremented by every rotation. */
  @Column({ type: 'integer' })
  version!: number;

  @CreateDateColumn({ name: 'created_at', type: 'timestamptz' })
  createdAt!: Date;

  /** The principal id (`key:<id>`, `oidc:<issuer>#<subject>`) that created it. */
  @Column({ name: 'created_by', type: 'varchar', length: 300 })
  createdBy!: string;

  @Column({ name: 'rotated_at', type: 'timestamptz', nullable: true })
  rotatedAt!: Date | null;

  @Column({ name: 'rotated_by', type: 'varchar', length: 300, nullable: true })
  rotatedBy!: string | null;

  @Column({ name: 'revoked_at', type: 'timestamptz', nullable: true })
  revokedAt!: Date | null;

  @Column({ name: 'revoked_by', type: 'varchar', length: 300, nullable: true })
  revokedBy!: string | null;

  /** When an execution last took its credentials (updated at most once a minute). */
  @Column({ name: 'last_used_at', type: 'timestamptz', nullable: true })
  lastUsedAt!: Date | null;
}
