import type { DataSource, EntityManager } from 'typeorm';
import {
  createEvent,
  decodeEvent,
  EVENT_CATALOG,
  isKnownEventType,
  Headers,
  validateEventData,
  type EventData,
  type EventType,
  type GovmeshEvent,
  type Rejection,
} from '@govmesh/contracts';
import { childTraceparent, type GovmeshMetrics } from '@govmesh/observability';
import { isTransientDatabaseError } from '@govmesh/persistence';
import { deadLetterFor } from './dead-letter';
import { appendToOutbox, type OutboxRelay } from './outbox';
import type { IncomingBatch, IncomingMessage, MessagingLogger, Subscription, Transport } from './transport';

/** What a handler gets: the transaction to write its effects in, and a way to emit events into the same transaction. */
export interface HandlerContext {
  readonly manager: EntityManager;
  readonly message: IncomingMessage;
  emit<T extends EventType>(type: T, data: EventData<T>, options?: { subject?: string }): GovmeshEvent<T>;
  /**
   * Runs `work` once per batch transaction, after every handler of the batch and before commit
   * (the first registration under a key wins): for effects that are cheaper written per batch.
   */
  beforeCommit(key: string, work: () => Promise<void>): void;
}

export type EventHandler<T extends EventType = EventType> = (event: GovmeshEvent<T>, ctx: HandlerContext) => Promise<void>;
export type RawHandler = (message: IncomingMessage, ctx: HandlerContext) => Promise<void>;

export type EventHandlers = { [T in EventType]?: EventHandler<T> };

/** A handler error that will not go away on retry; the message is dead-lettered at once. */
export class PermanentHandlerError extends Error {}

export interface EventConsumerOptions {
  service: string;
  schema: string;
  groupId: string;
  dataSource: DataSource;
  transport: Transport;
  relay: OutboxRelay;
  metrics: GovmeshMetrics;
  logger: MessagingLogger;
  handlers: EventHandlers;
  /** Topics consumed without decoding (the dead-letter topic), handled as raw messages. */
  rawHandlers?: Record<string, RawHandler>;
  maxMessageBytes?: number;
  /** Attempts for a message whose handler keeps failing with a non-transient error. */
  maxHandlerAttempts?: number;
  retryBaseMs?: number;
  retryMaxMs?: number;
}

interface Item {
  message: IncomingMessage;
  inboxId: string;
  event?: GovmeshEvent;
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/**
 * Consumes a set of topics for one service:
 * - every message is decoded and validated; what fails goes to the dead-letter topic with its reason;
 * - each batch is handled in ONE database transaction that records the event ids in the inbox
 *   (so a redelivered event is skipped), applies the handlers' effects and appends their
 *   outgoing events to the outbox;
 * - transient errors (database unreachable, serialization failures) are retried with
 *   exponential backoff and never dead-lettered; a message whose handler keeps failing is
 *   isolated from its batch and dead-lettered as `handler_failed`.
 */
export class EventConsumer {
  private subscription?: Subscription;
  private readonly accepts = new Map<string, readonly string[]>();

  constructor(private readonly options: EventConsumerOptions) {
    const handled = Object.keys(options.handlers);
    for (const type of handled) {
      for (const topic of this.topicsOf(type)) this.accepts.set(topic, [...(this.accepts.get(topic) ?? []), type]);
    }
  }

  get topics(): string[] {
    return [...this.accepts.keys(), ...Object.keys(this.options.rawHandlers ?? {})];
  }

  async start(): Promise<void> {
    this.subscription = await this.options.transport.subscribe({
      groupId: this.options.groupId,
      topics: this.topics,
      handleBatch: (batch) => this.handleBatch(batch),
    });
  }

  async stop(): Promise<void> {
    await this.subscription?.close();
  }

  private topicsOf(type: string): string[] {
    return isKnownEventType(type) ? [EVENT_CATALOG[type].topic] : [];
  }

  async handleBatch(batch: IncomingBatch): Promise<void> {
    const { metrics, service } = this.options;
    const raw = this.options.rawHandlers?.[batch.topic];
    const items: Item[] = [];
    const rejected: Array<{ message: IncomingMessage; rejection: Rejection }> = [];
    for (const message of batch.messages) {
      if (raw) {
        items.push({ message, inboxId: `${message.topic}:${message.partition}:${message.offset}` });
        continue;
      }
      const decoded = decodeEvent(message.value, { topic: batch.topic, accepts: this.accepts.get(batch.topic), maxBytes: this.options.maxMessageBytes });
      if (decoded.ok) items.push({ message, inboxId: decoded.event.id, event: decoded.event });
      else rejected.push({ message, rejection: decoded.rejection });
    }
    metrics.consumeBatchSize.observe({ service, topic: batch.topic }, batch.messages.length);
    if (rejected.length > 0) await this.deadLetter(batch, rejected);
    if (items.length > 0) await this.processWithRetry(batch, items);
  }

  private async deadLetter(batch: IncomingBatch, rejected: Array<{ message: IncomingMessage; rejection: Rejection }>): Promise<void> {
    const { transport, metrics, service, groupId, logger } = this.options;
    await this.retryTransient(batch, () => transport.publish(rejected.map((r) => deadLetterFor(r.message, r.rejection, groupId))));
    for (const r of rejected) {
      metrics.deadLetters.inc({ service, topic: r.message.topic, reason: r.rejection.code });
      logger.warn(`dead-lettered ${r.message.topic}[${r.message.partition}]@${r.message.offset}: ${r.rejection.code}: ${r.rejection.message}`);
    }
  }

  private async retryTransient(batch: IncomingBatch, work: () => Promise<void>): Promise<void> {
    for (let attempt = 1; ; attempt++) {
      try {
        return await work();
      } catch (err) {
        if (batch.isStale()) throw err;
        this.options.metrics.consumeRetries.inc({ service: this.options.service, topic: batch.topic });
        this.options.logger.warn(`${this.options.service}: retrying after ${(err as Error).message}`);
        await this.backoff(batch, attempt);
      }
    }
  }

  private async backoff(batch: IncomingBatch, attempt: number): Promise<void> {
    const base = this.options.retryBaseMs ?? 100;
    const max = this.options.retryMaxMs ?? 5000;
    await sleep(Math.min(max, base * 2 ** Math.min(attempt - 1, 10)) * (0.5 + Math.random() / 2));
    await batch.heartbeat().catch(() => undefined);
  }

  private async processWithRetry(batch: IncomingBatch, items: Item[]): Promise<void> {
    const maxAttempts = this.options.maxHandlerAttempts ?? 3;
    for (let attempt = 1; ; attempt++) {
      try {
        await this.processInTransaction(items);
        return;
      } catch (err) {
        if (batch.isStale()) throw err;
        if (isTransientDatabaseError(err)) {
          this.options.metrics.consumeRetries.inc({ service: this.options.service, topic: batch.topic });
          this.options.logger.warn(`${this.options.service}: transient error, retrying batch of ${items.length}: ${(err as Error).message}`);
          await this.backoff(batch, attempt);
          continue;
        }
        if (items.length > 1) {
          // Isolate the message that fails so the rest of the batch goes through.
          for (const item of items) await this.processWithRetry(batch, [item]);
          return;
        }
        if (attempt < maxAttempts && !(err instanceof PermanentHandlerError)) {
          await this.backoff(batch, attempt);
          continue;
        }
        const item = items[0];
        const rejection: Rejection = { code: 'handler_failed', message: `${item.event?.type ?? item.message.topic} could not be handled: ${(err as Error).message}` };
        this.options.logger.error(`${this.options.service}: ${rejection.message}`, (err as Error).stack);
        await this.deadLetter(batch, [{ message: item.message, rejection }]);
        return;
      }
    }
  }

  private async processInTransaction(items: Item[]): Promise<void> {
    const { dataSource, schema, service, metrics, handlers, rawHandlers } = this.options;
    const handled: Array<{ topic: string; type: string }> = [];
    let emitted = 0;
    await dataSource.transaction(async (manager) => {
      const fresh = await this.claimInbox(manager, items);
      const outgoing: GovmeshEvent[] = [];
      const beforeCommit = new Map<string, () => Promise<void>>();
      for (const item of items) {
        if (!fresh.delete(item.inboxId)) {
          metrics.inboxDuplicates.inc({ service, topic: item.message.topic });
          continue;
        }
        const ctx = this.contextFor(manager, item, outgoing, beforeCommit);
        const started = process.hrtime.bigint();
        const type = item.event?.type ?? item.message.topic;
        if (item.event) {
          const handler = handlers[item.event.type] as EventHandler | undefined;
          await handler!(item.event, ctx);
        } else {
          await rawHandlers![item.message.topic](item.message, ctx);
        }
        metrics.handlerDuration.observe({ service, type }, Number(process.hrtime.bigint() - started) / 1e9);
        handled.push({ topic: item.message.topic, type });
      }
      for (const work of beforeCommit.values()) await work();
      await appendToOutbox(manager, schema, outgoing);
      emitted = outgoing.length;
    });
    for (const h of handled) metrics.messagesConsumed.inc({ service, ...h });
    if (emitted > 0) this.options.relay.wake();
  }

  /** Records the batch's ids in the inbox in one statement; returns the ids not seen before. */
  private async claimInbox(manager: EntityManager, items: Item[]): Promise<Set<string>> {
    const values: string[] = [];
    const rows = items.map((item, i) => {
      values.push(item.inboxId, item.message.topic);
      return `($${i * 2 + 1}, $${i * 2 + 2})`;
    });
    const inserted: Array<{ event_id: string }> = await manager.query(
      `INSERT INTO "${this.options.schema}"."inbox" (event_id, topic) VALUES ${rows.join(', ')} ON CONFLICT (event_id) DO NOTHING RETURNING event_id`,
      values,
    );
    return new Set(inserted.map((r) => r.event_id));
  }

  private contextFor(manager: EntityManager, item: Item, outgoing: GovmeshEvent[], beforeCommit: Map<string, () => Promise<void>>): HandlerContext {
    const { service } = this.options;
    const incoming = item.event;
    return {
      manager,
      message: item.message,
      beforeCommit: (key, work) => {
        if (!beforeCommit.has(key)) beforeCommit.set(key, work);
      },
      emit: (type, data, options) => {
        const invalid = validateEventData(type, data);
        if (invalid) throw new PermanentHandlerError(`${service} tried to emit an invalid ${type}: ${invalid.message}`);
        const runId = (data as { runId?: string }).runId ?? incoming?.correlationid;
        const event = createEvent(type, data, {
          source: `govmesh/${service}`,
          subject: options?.subject ?? runId,
          correlationId: incoming?.correlationid ?? runId,
          causationId: incoming?.id,
          traceparent: childTraceparent(incoming?.traceparent ?? item.message.headers[Headers.traceparent]),
        });
        outgoing.push(event);
        return event;
      },
    };
  }
}
