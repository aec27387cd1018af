import { Column, Entity, PrimaryColumn } from 'typeorm';

/** A document with its classification, who may read it, and where it came from. */
@Entity({ name: 'documents' })
export class DocumentRecord {
  @PrimaryColumn({ type: 'varchar', length: 128 })
  id!: string;

  @Column({ type: 'text' })
  title!: string;

  @Column({ type: 'text' })
  body!: string;

  /** Provenance: the system and location the document was ingested from. */
  @Column({ type: 'varchar', length: 512 })
  source!: string;

  @Column({ type: 'varchar', length: 32 })
  classification!: 'public' | 'internal' | 'confidential';

  /** Agent ids allowed to read it; `*` means every registered agent. */
  @Column({ name: 'allowed_agents', type: 'text', array: true })
  allowedAgents!: string[];

  @Column({ name: 'updated_at', type: 'timestamptz' })
  updatedAt!: Date;
}

export const CONTEXT_ENTITIES = [DocumentRecord];
