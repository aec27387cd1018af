import type { DataSource, EntityManager } from 'typeorm';
import { CLOUDEVENTS_CONTENT_TYPE, Headers, encodeEvent, EVENT_CATALOG, type GovmeshEvent } from '@govmesh/contracts';
import type { GovmeshMetrics } from '@govmesh/observability';
import type { MessagingLogger, OutgoingMessage, Transport } from './transport';

export function toOutgoingMessage(event: GovmeshEvent, key: string | null): OutgoingMessage {
  const headers: Record<string, string> = {
    [Headers.contentType]: CLOUDEVENTS_CONTENT_TYPE,
    [Headers.eventType]: event.type,
    [Headers.eventId]: event.id,
  };
  if (event.traceparent) headers[Headers.traceparent] = event.traceparent;
  return { topic: EVENT_CATALOG[event.type].topic, key, value: encodeEvent(event), headers };
}

/** Appends events to the service's outbox inside the caller's transaction. */
export async function appendToOutbox(manager: EntityManager, schema: string, events: GovmeshEvent[]): Promise<void> {
  if (events.length === 0) return;
  const values: unknown[] = [];
  const rows = events.map((event, i) => {
    const message = toOutgoingMessage(event, event.correlationid ?? event.subject ?? null);
    values.push(event.id, message.topic, message.key, message.value.toString('utf8'), JSON.stringify(message.headers));
    const b = i * 5;
    return `($${b + 1}, $${b + 2}, $${b + 3}, $${b + 4}, $${b + 5}::jsonb)`;
  });
  await manager.query(`INSERT INTO "${schema}"."outbox" (event_id, topic, message_key, value, headers) VALUES ${rows.join(', ')}`, values);
}

export interface OutboxRelayOptions {
  service: string;
  schema: string;
  dataSource: DataSource;
  transport: Transport;
  metrics: GovmeshMetrics;
  logger: MessagingLogger;
  batchSize?: number;
  /** Safety-net poll for rows written by another instance or left by a crash. */
  pollIntervalMs?: number;
}

interface OutboxRow {
  seq: string;
  topic: string;
  message_key: string | null;
  value: string;
  headers: Record<string, string> | string;
  created_at: Date | string;
}

/**
 * Publishes outbox rows. Rows are claimed with SKIP LOCKED inside a transaction that deletes
 * them only after the broker acknowledged the batch, so a crash at any point publishes again
 * (consumers' inboxes absorb the duplicate) and never loses a row.
 */
export class OutboxRelay {
  private running = false;
  private wakeRequested = false;
  private loop?: Promise<void>;
  private timer?: NodeJS.Timeout;
  private wakeUp?: () => void;

  constructor(private readonly options: OutboxRelayOptions) {}

  start(): void {
    if (this.running) return;
    this.running = true;
    this.loop = this.run();
  }

  /** Called after a transaction that wrote outbox rows committed. */
  wake(): void {
    this.wakeRequested = true;
    this.wakeUp?.();
  }

  async stop(): Promise<void> {
    this.running = false;
    this.wake();
    if (this.timer) clearTimeout(this.timer);
    await this.loop;
  }

  /** Publishes everything pending now; used by tests and at shutdown. */
  async drain(): Promise<number> {
    let total = 0;
    for (;;) {
      const n = await this.publishBatch();
      total += n;
      if (n === 0) return total;
    }
  }

  private async run(): Promise<void> {
    let failures = 0;
    while (this.running) {
      this.wakeRequested = false;
      try {
        const published = await this.publishBatch();
        failures = 0;
        if (published > 0) continue;
      } catch (err) {
        failures++;
        this.options.logger.warn(`outbox relay of ${this.options.service} failed (attempt ${failures}): ${(err as Error).message}`);
      }
      if (this.wakeRequested && failures === 0) continue;
      const delay = failures > 0 ? Math.min(5000, 100 * 2 ** Math.min(failures, 6)) : (this.options.pollIntervalMs ?? 1000);
      await new Promise<void>((resolve) => {
        this.wakeUp = resolve;
        this.timer = setTimeout(resolve, delay);
      });
      this.wakeUp = undefined;
      if (this.timer) clearTimeout(this.timer);
    }
  }

  private async publishBatch(): Promise<number> {
    const { schema, dataSource, transport, metrics, service } = this.options;
    const limit = this.options.batchSize ?? 500;
    return dataSource.transaction(async (manager) => {
      // TypeORM answers a DELETE with [rows, affected count].
      const [claimed]: [OutboxRow[], number] = await manager.query(
        `DELETE FROM "${schema}"."outbox" WHERE seq IN (SELECT seq FROM "${schema}"."outbox" ORDER BY seq LIMIT $1 FOR UPDATE SKIP LOCKED)
         RETURNING seq, topic, message_key, value, headers, created_at`,
        [limit],
      );
      if (claimed.length === 0) {
        metrics.outboxPending.set({ service }, 0);
        return 0;
      }
      claimed.sort((a, b) => (BigInt(a.seq) < BigInt(b.seq) ? -1 : 1));
      await transport.publish(
        claimed.map((row) => ({
          topic: row.topic,
          key: row.message_key,
          value: Buffer.from(row.value, 'utf8'),
          headers: typeof row.headers === 'string' ? JSON.parse(row.headers) : row.headers,
        })),
      );
      const now = Date.now();
      metrics.outboxPending.set({ service }, claimed.length === limit ? limit : 0);
      for (const row of claimed) {
        metrics.messagesPublished.inc({ service, topic: row.topic });
        metrics.outboxPublishLag.observe({ service }, Math.max(0, now - new Date(row.created_at).getTime()) / 1000);
      }
      return claimed.length;
    });
  }
}
