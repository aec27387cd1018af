import type { DataSource } from 'typeorm';
import { createEvent, EventTypes, type GovmeshEvent } from '@govmesh/contracts';
import type { GovmeshMetrics } from '@govmesh/observability';
import { appendToOutbox } from './outbox';
import { queryRows } from './unit-of-work';
import type { MessagingLogger } from './transport';

export interface TimerStoreOptions {
  service: string;
  schema: string;
  dataSource: DataSource;
  metrics: GovmeshMetrics;
  logger: MessagingLogger;
  batchSize?: number;
}

interface DueTimer {
  id: string;
  purpose: string;
  run_id: string;
  due_at: Date | string;
  payload: Record<string, unknown> | null;
}

/**
 * A service's durable timers (its `timers` table). The outbox relay's loop fires the due ones:
 * claimed with SKIP LOCKED, marked fired and published as `govmesh.timer.fired.v1` through the
 * outbox in one transaction, keyed by the run, so a timer fires once across restarts and
 * instances and its event is ordered with the run's others. The handler that acts on it deletes
 * the row, which is how it knows the event is genuine.
 */
export class TimerStore {
  /** Earliest due time this process knows of; refreshed from the table on every pass. */
  private nextDueAt: number | null = 0;

  constructor(private readonly options: TimerStoreOptions) {}

  /** Called after a transaction that set timers committed. */
  notify(dueAt: Date): void {
    const t = dueAt.getTime();
    if (this.nextDueAt === null || t < this.nextDueAt) this.nextDueAt = t;
  }

  msUntilNextDue(): number {
    return this.nextDueAt === null ? Number.POSITIVE_INFINITY : this.nextDueAt - Date.now();
  }

  /** Fires every due timer; returns the events it committed to the outbox. Cheap when nothing is due. */
  async fireDue(now = new Date()): Promise<GovmeshEvent[]> {
    if (this.nextDueAt === null || this.nextDueAt > now.getTime()) return [];
    const { schema, dataSource, service, metrics } = this.options;
    const limit = this.options.batchSize ?? 200;
    let fired: DueTimer[] = [];
    let events: GovmeshEvent[] = [];
    await dataSource.transaction(async (manager) => {
      const rows = await queryRows<DueTimer>(manager, 
        `UPDATE "${schema}"."timers" SET fired_at = now()
         WHERE id IN (SELECT id FROM "${schema}"."timers" WHERE fired_at IS NULL AND due_at <= $1 ORDER BY due_at LIMIT $2 FOR UPDATE SKIP LOCKED)
         RETURNING id, purpose, run_id, due_at, payload`,
        [now.toISOString(), limit],
      );
      fired = rows;
      events = rows.map((t) =>
        createEvent(
          EventTypes.TimerFired,
          { timerId: t.id, service, purpose: t.purpose, runId: t.run_id, dueAt: new Date(t.due_at).toISOString(), ...(t.payload && Object.keys(t.payload).length ? { payload: t.payload } : {}) },
          { source: `govmesh/${service}`, subject: t.run_id, correlationId: t.run_id },
        ),
      );
      await appendToOutbox(manager, schema, events);
      const next: Array<{ due: Date | string | null }> = await manager.query(`SELECT min(due_at) AS due FROM "${schema}"."timers" WHERE fired_at IS NULL`);
      this.nextDueAt = next[0]?.due ? new Date(next[0].due).getTime() : null;
    });
    for (const t of fired) metrics.timersFired.inc({ service, purpose: t.purpose });
    // A full batch means more may be due now.
    if (fired.length === limit) this.nextDueAt = 0;
    return events;
  }

  /** Sets the backlog gauge: timers past due and not fired yet (they should fire within a pass), and those still ahead. */
  async refreshBacklog(now = new Date()): Promise<void> {
    const { schema, dataSource, service, metrics } = this.options;
    const [counts] = await queryRows<{ due: number; scheduled: number }>(
      dataSource.manager,
      `SELECT count(*) FILTER (WHERE due_at <= $1)::int AS due, count(*) FILTER (WHERE due_at > $1)::int AS scheduled FROM "${schema}"."timers" WHERE fired_at IS NULL`,
      [now.toISOString()],
    );
    metrics.timersPending.set({ service, state: 'due' }, Number(counts?.due ?? 0));
    metrics.timersPending.set({ service, state: 'scheduled' }, Number(counts?.scheduled ?? 0));
  }

  /** Forces a look at the table on the next pass (at start, and for timers other instances set). */
  refresh(): void {
    this.nextDueAt = 0;
  }
}
