import type { DataSource, EntityManager } from 'typeorm';
import { CLOUDEVENTS_CONTENT_TYPE, Headers, encodeEvent, EVENT_CATALOG, eventKey, topicSpec, type GovmeshEvent } from '@govmesh/contracts';
import type { GovmeshMetrics } from '@govmesh/observability';
import type { TimerStore } from './timers';
import { queryRows } from './unit-of-work';
import { WakeableLoop } from './wakeable-loop';
import { PermanentPublishError, type MessagingLogger, type OutgoingMessage, type Transport } from './transport';

/** The message of an event, keyed as its type declares unless a key is given. */
export function toOutgoingMessage(event: GovmeshEvent, key: string | null = eventKey(event.type, event.data)): OutgoingMessage {
  const headers: Record<string, string> = {
    [Headers.contentType]: CLOUDEVENTS_CONTENT_TYPE,
    [Headers.eventType]: event.type,
    [Headers.eventId]: event.id,
  };
  if (event.traceparent) headers[Headers.traceparent] = event.traceparent;
  return { topic: EVENT_CATALOG[event.type].topic, key, value: encodeEvent(event), headers };
}

/** Appends events to the service's outbox inside the caller's transaction, keyed as their type declares. */
export async function appendToOutbox(manager: EntityManager, schema: string, events: GovmeshEvent[]): Promise<void> {
  await appendMessagesToOutbox(
    manager,
    schema,
    events.map((event) => ({ id: event.id, message: toOutgoingMessage(event) })),
  );
}

/** Appends prepared messages (dead letters, say) to the outbox inside the caller's transaction. */
export async function appendMessagesToOutbox(manager: EntityManager, schema: string, rows: ReadonlyArray<{ id: string; message: OutgoingMessage }>): Promise<void> {
  if (rows.length === 0) return;
  const messages = rows.map((r) => r.message);
  await manager.query(
    `INSERT INTO "${schema}"."outbox" (event_id, topic, message_key, value, headers)
     SELECT * FROM unnest($1::varchar[], $2::varchar[], $3::varchar[], $4::text[], $5::jsonb[])`,
    [rows.map((r) => r.id), messages.map((m) => m.topic), messages.map((m) => m.key), messages.map((m) => m.value.toString('utf8')), messages.map((m) => JSON.stringify(m.headers))],
  );
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
  /** Rows larger than this are refused before they reach the broker. */
  maxMessageBytes?: number;
  /** This service's durable timers, fired by the same loop. */
  timers?: TimerStore;
}

/** Rows published from memory are deleted in one statement this long after the first of them. */
const PUBLISHED_DELETE_DELAY_MS = 20;

/** Rows older than this are taken by the relay's loop even when the commit's own publish is under way. */
const STRAGGLER_AGE_MS = 2000;

interface OutboxRow {
  seq: string;
  event_id: string;
  topic: string;
  message_key: string | null;
  value: string;
  headers: Record<string, string> | string;
  created_at: Date | string;
}

const toMessage = (row: OutboxRow): OutgoingMessage => ({
  topic: row.topic,
  key: row.message_key,
  value: Buffer.from(row.value, 'utf8'),
  headers: typeof row.headers === 'string' ? JSON.parse(row.headers) : row.headers,
});

/**
 * Publishes outbox rows and fires due timers. Rows are claimed with SKIP LOCKED inside a
 * transaction that deletes them only after the broker acknowledged them, so a crash at any point
 * publishes again (consumers' inboxes absorb the duplicate) and never loses a row. A row the
 * broker refuses for good is moved to `outbox_failed` with its reason; the rest publish.
 */
export class OutboxRelay {
  private readonly loop: WakeableLoop;
  /** The next pass claims every row, not only stragglers (set at start and after a failed publish). */
  private takeEverything = true;
  /** Publishes of committed events, chained so that they go out in commit order. */
  private publishing: Promise<void> = Promise.resolve();
  /** Ids of rows published from memory, deleted together shortly after. */
  private readonly published: string[] = [];
  private deleting?: Promise<void>;

  constructor(private readonly options: OutboxRelayOptions) {
    const batchSize = options.batchSize ?? 500;
    this.loop = new WakeableLoop({
      name: `outbox relay of ${options.service}`,
      logger: options.logger,
      pass: async () => {
        if (options.timers) this.publishCommitted(await options.timers.fireDue());
        // Rows of this process's commits are published at once by publishCommitted; the loop takes
        // the rest: rows a crash or a failed publish left, and other instances' stragglers.
        const everything = this.takeEverything;
        this.takeEverything = false;
        // A full batch means more is waiting; otherwise only a wake-up brings more.
        return (await this.publishBatch(everything)) === batchSize;
      },
      idleDelayMs: () => Math.min(options.pollIntervalMs ?? 1000, options.timers?.msUntilNextDue() ?? Number.POSITIVE_INFINITY),
    });
  }

  start(): void {
    this.loop.start();
  }

  /** Called after a transaction that set a timer committed, or to publish every pending row now. */
  wake(everything = false): void {
    if (everything) this.takeEverything = true;
    this.loop.wake();
  }

  /**
   * Publishes the events a transaction just committed to the outbox, straight from memory, then
   * deletes their rows: one statement instead of a claiming transaction per commit. Should the
   * publish fail, the rows stay and the loop takes them. Publishes go out in commit order.
   */
  publishCommitted(events: readonly GovmeshEvent[]): void {
    if (events.length === 0) return;
    this.publishing = this.publishing.then(() => this.publishNow(events));
  }

  private async publishNow(events: readonly GovmeshEvent[]): Promise<void> {
    const { transport, service, logger } = this.options;
    const messages = events.map((e) => toOutgoingMessage(e));
    if (messages.some((m) => this.refuseLocally(m.topic, m.value.length))) {
      // A row to set aside: the loop's claiming transaction does that with its reason.
      this.wake(true);
      return;
    }
    try {
      await transport.publish(messages);
    } catch (err) {
      logger.warn(`${service}: publishing ${messages.length} committed event(s) failed, the relay retries them: ${(err as Error).message}`);
      this.wake(true);
      return;
    }
    this.countPublished(events.map((e) => ({ topic: EVENT_CATALOG[e.type].topic, committedAt: Date.parse(e.time) })));
    // Deleted a moment later, many commits' rows in one statement, off the path of the next hop.
    this.published.push(...events.map((e) => e.id));
    this.deleting ??= new Promise<void>((resolve) => setTimeout(resolve, PUBLISHED_DELETE_DELAY_MS)).then(() => this.deletePublished());
  }

  private async deletePublished(): Promise<void> {
    const ids = this.published.splice(0, this.published.length);
    this.deleting = undefined;
    if (ids.length === 0) return;
    try {
      await this.options.dataSource.query(`DELETE FROM "${this.options.schema}"."outbox" WHERE event_id = ANY($1)`, [ids]);
    } catch (err) {
      // The loop publishes them again later: consumers' inboxes absorb the duplicate.
      this.options.logger.warn(`${this.options.service}: deleting ${ids.length} published outbox row(s) failed: ${(err as Error).message}`);
    }
  }

  async stop(): Promise<void> {
    await this.publishing;
    await this.deleting;
    await this.deletePublished();
    await this.loop.stop();
  }

  /** Publishes everything pending now; used by tests and at shutdown. */
  async drain(): Promise<number> {
    let total = 0;
    for (;;) {
      const n = await this.publishBatch(true);
      total += n;
      if (n === 0) return total;
    }
  }

  private async publishBatch(everything = true): Promise<number> {
    const { schema, dataSource, metrics, service } = this.options;
    const limit = this.options.batchSize ?? 500;
    return dataSource.transaction(async (manager) => {
      const claimed = await queryRows<OutboxRow>(manager, 
        `DELETE FROM "${schema}"."outbox" WHERE seq IN (
           SELECT seq FROM "${schema}"."outbox" WHERE $2::boolean OR created_at < now() - interval '${STRAGGLER_AGE_MS} milliseconds'
           ORDER BY seq LIMIT $1 FOR UPDATE SKIP LOCKED)
         RETURNING seq, event_id, topic, message_key, value, headers, created_at`,
        [limit, everything],
      );
      if (claimed.length === 0) {
        metrics.outboxPending.set({ service }, 0);
        return 0;
      }
      claimed.sort((a, b) => (BigInt(a.seq) < BigInt(b.seq) ? -1 : 1));
      const failed = await this.publishIsolatingPoison(claimed);
      if (failed.length > 0) await this.setAside(manager, failed);
      metrics.outboxPending.set({ service }, claimed.length === limit ? limit : 0);
      const bad = new Set(failed.map((f) => f.row.seq));
      this.countPublished(claimed.filter((row) => !bad.has(row.seq)).map((row) => ({ topic: row.topic, committedAt: new Date(row.created_at).getTime() })));
      return claimed.length;
    });
  }

  private countPublished(messages: ReadonlyArray<{ topic: string; committedAt: number }>): void {
    const { metrics, service } = this.options;
    const now = Date.now();
    for (const m of messages) {
      metrics.messagesPublished.inc({ service, topic: m.topic });
      metrics.outboxPublishLag.observe({ service }, Math.max(0, now - m.committedAt) / 1000);
    }
  }

  /** A message that cannot be published whatever the retries; checked before the broker sees it. */
  private refuseLocally(topic: string, bytes: number): PermanentPublishError | null {
    if (!topicSpec(topic)) return new PermanentPublishError('unknown_topic', `topic ${topic} is not in the topic registry`);
    const max = this.options.maxMessageBytes;
    if (max !== undefined && bytes > max) return new PermanentPublishError('too_large', `event is ${bytes} bytes, above the message limit of ${max}`);
    return null;
  }

  /**
   * Publishes the rows; when the broker refuses the batch for good, halves it until the refused
   * rows are found, so one poison row never holds back the others. Transient errors throw, and
   * the whole claim rolls back to be retried.
   */
  private async publishIsolatingPoison(rows: OutboxRow[]): Promise<Array<{ row: OutboxRow; error: PermanentPublishError }>> {
    const failed: Array<{ row: OutboxRow; error: PermanentPublishError }> = [];
    const sendable: OutboxRow[] = [];
    for (const row of rows) {
      const refusal = this.refuseLocally(row.topic, Buffer.byteLength(row.value, 'utf8'));
      if (refusal) failed.push({ row, error: refusal });
      else sendable.push(row);
    }
    const publish = async (part: OutboxRow[]): Promise<void> => {
      if (part.length === 0) return;
      try {
        await this.options.transport.publish(part.map(toMessage));
      } catch (err) {
        const permanent = this.options.transport.permanentPublishError(err);
        if (!permanent) throw err;
        if (part.length === 1) {
          failed.push({ row: part[0], error: permanent });
          return;
        }
        const half = Math.ceil(part.length / 2);
        await publish(part.slice(0, half));
        await publish(part.slice(half));
      }
    };
    await publish(sendable);
    return failed;
  }

  private async setAside(manager: EntityManager, failed: Array<{ row: OutboxRow; error: PermanentPublishError }>): Promise<void> {
    const { schema, metrics, service, logger } = this.options;
    await manager.query(
      `INSERT INTO "${schema}"."outbox_failed" (event_id, topic, message_key, value, headers, reason_code, reason)
       SELECT * FROM unnest($1::varchar[], $2::varchar[], $3::varchar[], $4::text[], $5::jsonb[], $6::varchar[], $7::text[])`,
      [
        failed.map((f) => f.row.event_id),
        failed.map((f) => f.row.topic),
        failed.map((f) => f.row.message_key),
        failed.map((f) => f.row.value),
        failed.map((f) => (typeof f.row.headers === 'string' ? f.row.headers : JSON.stringify(f.row.headers))),
        failed.map((f) => f.error.code),
        failed.map((f) => f.error.message),
      ],
    );
    for (const f of failed) {
      metrics.outboxFailed.inc({ service, topic: f.row.topic, reason: f.error.code });
      logger.error(`${service}: outbox row ${f.row.event_id} for ${f.row.topic} refused for good and set aside in outbox_failed: ${f.error.code}: ${f.error.message}`);
    }
  }
}
