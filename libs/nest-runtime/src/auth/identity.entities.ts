import { Column, CreateDateColumn, Entity, Index, PrimaryColumn } from 'typeorm';
import type { Role } from './principal';

/**
 * An API key: the secret is shown once at creation and only its SHA-256 is stored (the secret is
 * 256 random bits, so a fast hash is enough). Scoped to one role, groups and, for agents, one
 * agent id. A revoked key stays for the record.
 */
@Entity({ name: 'api_keys' })
@Index('api_keys_agent_idx', ['agentId'])
export class ApiKeyRecord {
  @PrimaryColumn({ type: 'varchar', length: 32 })
  id!: string;

  @Column({ type: 'varchar', length: 128 })
  name!: string;

  @Column({ name: 'secret_sha256', type: 'varchar', length: 64 })
  secretSha256!: string;

  @Column({ type: 'varchar', length: 16 })
  role!: Role;

  @Column({ type: 'jsonb', default: () => "'[]'" })
  groups!: string[];

  @Column({ name: 'agent_id', type: 'varchar', length: 128, nullable: true })
  agentId!: string | null;

  @Column({ name: 'created_by', type: 'varchar', length: 200 })
  createdBy!: string;

  @CreateDateColumn({ name: 'created_at', type: 'timestamptz' })
  createdAt!: Date;

  @Column({ name: 'revoked_at', type: 'timestamptz', nullable: true })
  revokedAt!: Date | null;

  @Column({ name: 'revoked_by', type: 'varchar', length: 200, nullable: true })
  revokedBy!: string | null;
}

export const IDENTITY_ENTITIES = [ApiKeyRecord];
