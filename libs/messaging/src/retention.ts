import type { DataSource } from 'typeorm';
import type { GovmeshMetrics } from '@govmesh/observability';
import type { MessagingLogger } from './transport';
import { queryRows } from './unit-of-work';

/**
 * One store a service prunes: rows of `table` (in the service's schema) older than `days` days,
 * found by `olderThan` (SQL over the table aliased `t`, with `$1` the cutoff) and deleted by
 * `key`. `days` 0 keeps the store forever.
 */
export interface RetentionPolicy {
  /** The `store` label of `govmesh_retention_deleted_total`. */
  store: string;
  table: string;
  key: string;
  olderThan: string;
  days: number;
}

export interface RetentionJobOptions {
  service: string;
  schema: string;
  dataSource: DataSource;
  metrics: GovmeshMetrics;
  logger: MessagingLogger;
  policies: readonly RetentionPolicy[];
  intervalMs: number;
  /** Rows per DELETE: one short transaction each, so no lock is held for long. */
  batchSize?: number;
  /** Batches per store and pass: a large backlog is worked off over several passes, never in one. */
  maxBatches?: number;
}

const DAY_MS = 86_400_000;
const ident = (name: string) => `"${name.replace(/"/g, '""')}"`;

/**
 * Deletes what a service no longer needs to keep, in bounded batches on a timer: each batch is one
 * `DELETE … WHERE key IN (SELECT key … LIMIT n FOR UPDATE SKIP LOCKED)`, so several instances of a
 * service share the work without waiting on each other, and the handlers' transactions are never
 * held up for long. Counted in `govmesh_retention_deleted_total{service,store}`.
 */
export class RetentionJob {
  private timer?: NodeJS.Timeout;
  private running?: Promise<Record<string, number>>;

  constructor(private readonly options: RetentionJobOptions) {}

  get policies(): readonly RetentionPolicy[] {
    return this.options.policies;
  }

  start(): void {
    if (this.options.policies.every((p) => p.days === 0)) return;
    this.timer = setInterval(() => void this.runOnce().catch(() => undefined), this.options.intervalMs);
    this.timer.unref();
  }

  async stop(): Promise<void> {
    clearInterval(this.timer);
    await this.running?.catch(() => undefined);
  }

  /** One pass over every store; a pass under way is not doubled. Returns the rows deleted per store. */
  runOnce(now = new Date()): Promise<Record<string, number>> {
    this.running ??= this.pass(now).finally(() => (this.running = undefined));
    return this.running;
  }

  private async pass(now: Date): Promise<Record<string, number>> {
    const { service, schema, dataSource, metrics, logger } = this.options;
    const batchSize = this.options.batchSize ?? 1000;
    const maxBatches = this.options.maxBatches ?? 100;
    const deleted: Record<string, number> = {};
    for (const policy of this.options.policies) {
      if (policy.days <= 0) continue;
      const cutoff = new Date(now.getTime() - policy.days * DAY_MS);
      const table = `${ident(schema)}.${ident(policy.table)}`;
      const key = ident(policy.key);
      const sql = `DELETE FROM ${table} WHERE ${key} IN (SELECT t.${key} FROM ${table} AS t WHERE ${policy.olderThan} LIMIT $2 FOR UPDATE SKIP LOCKED) RETURNING 1 AS gone`;
      let total = 0;
      try {
        for (let batch = 0; batch < maxBatches; batch++) {
          const rows = await queryRows(dataSource, sql, [cutoff.toISOString(), batchSize]);
          total += rows.length;
          if (rows.length > 0) metrics.retentionDeleted.inc({ service, store: policy.store }, rows.length);
          if (rows.length < batchSize) break;
        }
      } catch (err) {
        logger.warn(`${service}: retention of ${policy.store} stopped after ${total} row(s): ${(err as Error).message}`);
      }
      deleted[policy.store] = total;
    }
    return deleted;
  }
}
