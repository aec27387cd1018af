import { Column, Entity, PrimaryColumn } from 'typeorm';

/**
 * A token bucket of the rate limits (`agent:<id>` or `tool:<name>`), shared by every gateway
 * instance: tokens as of `updated_at`; the refill since is computed when the bucket is next used.
 */
@Entity({ name: 'rate_buckets' })
export class RateBucketRecord {
  @PrimaryColumn({ type: 'varchar', length: 300 })
  key!: string;

  @Column({ type: 'double precision' })
  tokens!: number;

  @Column({ name: 'updated_at', type: 'timestamptz' })
  updatedAt!: Date;
}
