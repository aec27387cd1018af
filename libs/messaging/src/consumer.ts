import type { DataSource, EntityManager } from 'typeorm';
import { decodeEvent, EVENT_CATALOG, isRunScoped, maxMessageBytesFor, toStorableString, Topics, unstorableTextRejection, type EventType, type Rejection } from '@govmesh/contracts';
import { contextOfTraceparent, endSpan, errorTypeOf, GovmeshAttributes, SemconvAttributes, SpanKind, startGovmeshSpan, traceparentOfSpan, withoutActiveSpan, type GovmeshMetrics } from '@govmesh/observability';
import type { Span } from '@opentelemetry/api';
import { isTransientDatabaseError } from '@govmesh/persistence';
import { deadLetterFor } from './dead-letter';
import type { Consumed, HandlerRegistration } from './handlers';
import type { IncomingBatch, IncomingMessage, MessagingLogger, Subscription, Transport } from './transport';
import { inUnitOfWork, PermanentHandlerError, type UnitOfWork } from './unit-of-work';

export { PermanentHandlerError } from './unit-of-work';

export interface EventConsumerOptions {
  service: string;
  schema: string;
  groupId: string;
  dataSource: DataSource;
  transport: Transport;
  metrics: GovmeshMetrics;
  logger: MessagingLogger;
  handlers: readonly HandlerRegistration[];
  /** Called after each committed batch (wake the relay, the effect runner). */
  onCommitted?: (uow: UnitOfWork) => void;
  maxMessageBytes?: number;
  /** Attempts for a message whose handler keeps failing with a non-transient error. */
  maxHandlerAttempts?: number;
  retryBaseMs?: number;
  retryMaxMs?: number;
}

interface Item {
  message: IncomingMessage;
  inboxId: string;
  consumed?: Consumed;
}

/** Whether a handler takes this event: one with unstorable text only if it said it does. */
const takes = (registration: HandlerRegistration, consumed: Consumed): boolean => !consumed.unstorableAt || (registration.acceptsUnstorableText?.includes(consumed.event.type) ?? false);

/** Largest unit of work a group commit makes of waiting batches. */
const MAX_GROUP_ITEMS = 500;
/** Transactions one consumer runs at the same time; batches arriving beyond that are grouped. */
const MAX_CONCURRENT_COMMITS = 3;

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/**
 * Consumes the topics of one service's handlers:
 * - every message is decoded and validated; what fails goes to the dead-letter topic with its
 *   reason; a valid event of a type no handler takes is skipped and counted;
 * - each batch is handled in ONE database transaction (a unit of work) that records the event ids
 *   in the inbox (so a redelivered event is skipped), gives each handler all its events of the
 *   batch at once, and appends their outgoing events to the outbox;
 * - transient errors are retried with backoff and never dead-lettered; a message whose handler
 *   keeps failing is isolated from its batch and dead-lettered as `handler_failed`;
 * - the consumer of the dead-letter topic never publishes to it: what it cannot record is set
 *   aside by its handler (`setAside`) with the reason, logged and counted, so a bad dead letter
 *   can never loop;
 * - an observer (telemetry) does not dead-letter again what another service's consumer of the
 *   same topic dead-letters, and may take events whose text Postgres cannot store as is, to
 *   escape them itself.
 */
export class EventConsumer {
  private subscription?: Subscription;
  private readonly waiting: Array<{ batch: IncomingBatch; items: Item[]; resolve: () => void; reject: (err: unknown) => void }> = [];
  /** Group commits under way; batches wait for a free one. */
  private committing = 0;
  /** The handlers of each type, in registration order: each gets the type's events in the same transaction. */
  private readonly byType = new Map<EventType, HandlerRegistration[]>();
  private readonly byRawTopic = new Map<string, HandlerRegistration>();
  /** Topics on which some handler takes events with text Postgres cannot store as is. */
  private readonly lenientTopics = new Set<string>();
  /** Topics whose undecodable messages another service's consumer dead-letters, not this one. */
  private readonly observedOnly = new Set<string>();
  readonly topics: string[];

  constructor(private readonly options: EventConsumerOptions) {
    const topics = new Set<string>();
    for (const registration of options.handlers) {
      for (const type of registration.types) {
        // Several handlers may take one type (the audit ledger and the behaviour baselines both read every run event).
        const others = this.byType.get(type) ?? [];
        if (others.includes(registration)) throw new Error(`${options.service}: ${registration.name} declares ${type} twice`);
        this.byType.set(type, [...others, registration]);
        topics.add(EVENT_CATALOG[type].topic);
      }
      for (const topic of registration.rawTopics) {
        this.byRawTopic.set(topic, registration);
        topics.add(topic);
      }
      for (const type of registration.acceptsUnstorableText ?? []) this.lenientTopics.add(EVENT_CATALOG[type].topic);
    }
    this.topics = [...topics];
    // A fact about the topic (another service's consumer dead-letters there), whichever handler states it.
    for (const registration of options.handlers) for (const topic of registration.deadLetteredElsewhere ?? []) this.observedOnly.add(topic);
  }

  async start(): Promise<void> {
    if (this.topics.length === 0) return;
    this.subscription = await this.options.transport.subscribe({
      groupId: this.options.groupId,
      topics: this.topics,
      handleBatch: (batch) => this.handleBatch(batch),
      lingerMs: Math.max(0, ...this.options.handlers.map((h) => h.lingerMs ?? 0)),
    });
  }

  async stop(): Promise<void> {
    await this.subscription?.close();
  }

  /** Sets the lag gauge of each topic this group consumes (a broker round trip: call it on a timer, not per batch). */
  async refreshLag(): Promise<void> {
    if (!this.subscription) return;
    const { transport, groupId, metrics, service } = this.options;
    for (const { topic, lag } of await transport.consumerLag(groupId, this.topics)) metrics.consumerLag.set({ service, topic, group: groupId }, lag);
  }

  async handleBatch(batch: IncomingBatch): Promise<void> {
    const { metrics, service } = this.options;
    const raw = this.byRawTopic.has(batch.topic);
    const items: Item[] = [];
    const rejected: Array<{ message: IncomingMessage; rejection: Rejection }> = [];
    const maxBytes = maxMessageBytesFor(batch.topic, this.options.maxMessageBytes);
    for (const message of batch.messages) {
      if (raw) {
        items.push({ message, inboxId: `${message.topic}:${message.partition}:${message.offset}` });
        continue;
      }
      const decoded = decodeEvent(message.value, { topic: batch.topic, maxBytes, key: message.key, allowUnstorableText: this.lenientTopics.has(batch.topic) });
      if (!decoded.ok) {
        rejected.push({ message, rejection: decoded.rejection });
      } else if (!this.byType.has(decoded.event.type)) {
        metrics.eventsSkipped.inc({ service, topic: batch.topic, type: decoded.event.type });
      } else {
        const consumed: Consumed = { event: decoded.event, message, ...(decoded.unstorableAt ? { unstorableAt: decoded.unstorableAt } : {}) };
        if (decoded.unstorableAt && !this.byType.get(decoded.event.type)?.some((r) => takes(r, consumed))) rejected.push({ message, rejection: unstorableTextRejection(decoded.unstorableAt) });
        // The inbox is a text column too: an id it cannot hold is recorded escaped.
        else items.push({ message, inboxId: toStorableString(decoded.event.id), consumed });
      }
    }
    metrics.consumeBatchSize.observe({ service, topic: batch.topic }, batch.messages.length);
    if (rejected.length > 0) await this.deadLetter(batch, rejected, true);
    if (items.length > 0) await this.commitTogether(batch, items);
  }

  /**
   * Group commit across partitions: batches that arrive while every commit slot is busy are
   * handled together in the next free one. Under load, the service commits a few large units of work
   * instead of one per partition fetch; when idle, a batch is handled at once. A partition never
   * has two batches waiting (its next fetch comes after this one resolved), so per-key order holds.
   */
  private commitTogether(batch: IncomingBatch, items: Item[]): Promise<void> {
    return new Promise<void>((resolve, reject) => {
      this.waiting.push({ batch, items, resolve, reject });
      if (this.committing < MAX_CONCURRENT_COMMITS) {
        this.committing++;
        setImmediate(() => void this.commitWaiting());
      }
    });
  }

  private async commitWaiting(): Promise<void> {
    while (this.waiting.length > 0) {
      const group: typeof this.waiting = [];
      let size = 0;
      while (this.waiting.length > 0 && (group.length === 0 || size + this.waiting[0].items.length <= MAX_GROUP_ITEMS)) {
        const next = this.waiting.shift()!;
        size += next.items.length;
        group.push(next);
      }
      const batches = group.map((g) => g.batch);
      const combined: IncomingBatch = {
        topic: batches.length === 1 ? batches[0].topic : [...new Set(batches.map((b) => b.topic))].join(','),
        partition: batches[0].partition,
        messages: batches.flatMap((b) => b.messages),
        heartbeat: async () => {
          await Promise.all(batches.map((b) => b.heartbeat()));
        },
        isStale: () => batches.every((b) => b.isStale()),
      };
      try {
        await this.processWithRetry(combined, group.flatMap((g) => g.items));
        for (const g of group) g.resolve();
      } catch (err) {
        for (const g of group) g.reject(err);
      }
    }
    this.committing--;
  }

  private async deadLetter(batch: IncomingBatch, rejected: Array<{ message: IncomingMessage; rejection: Rejection }>, decoding = false): Promise<void> {
    const { transport, metrics, service, groupId, logger } = this.options;
    // Never back into the topic a message came from: that is how a bad dead letter loops forever.
    // The handler of the dead-letter topic keeps it aside instead, with its reason, when it can.
    for (const r of rejected.filter((r) => r.message.topic === Topics.deadLetters)) {
      metrics.unrecordedDeadLetters.inc({ service, reason: r.rejection.code });
      const keeper = this.byRawTopic.get(Topics.deadLetters)?.handler;
      const where = `${r.message.topic}[${r.message.partition}]@${r.message.offset}`;
      if (keeper?.setAside) {
        await this.retryTransient(batch, () => keeper.setAside!(r.message, r.rejection));
        logger.error(`${service}: dead letter ${where} could not be recorded and was set aside: ${r.rejection.code}: ${r.rejection.message}`);
      } else {
        logger.error(`${service}: dead letter ${where} not recorded: ${r.rejection.code}: ${r.rejection.message}`);
      }
    }
    rejected = rejected.filter((r) => r.message.topic !== Topics.deadLetters);
    // What an observer cannot decode on another service's topic, that service dead-letters: once.
    if (decoding) {
      for (const r of rejected.filter((r) => this.observedOnly.has(r.message.topic))) {
        metrics.rejectionsLeftToOwner.inc({ service, topic: r.message.topic, reason: r.rejection.code });
        logger.warn(`${service}: left ${r.message.topic}[${r.message.partition}]@${r.message.offset} to its consumer to dead-letter: ${r.rejection.code}: ${r.rejection.message}`);
      }
      rejected = rejected.filter((r) => !this.observedOnly.has(r.message.topic));
    }
    if (rejected.length === 0) return;
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
        const rejection: Rejection = { code: 'handler_failed', message: `${item.consumed?.event.type ?? item.message.topic} could not be handled: ${(err as Error).message}` };
        this.options.logger.error(`${this.options.service}: ${rejection.message}`, (err as Error).stack);
        await this.deadLetter(batch, [{ message: item.message, rejection }]);
        return;
      }
    }
  }

  private async processInTransaction(items: Item[]): Promise<void> {
    const { dataSource, schema, service, metrics } = this.options;
    const spans: Span[] = [];
    const { uow } = await this.traced(spans, () => inUnitOfWork(dataSource, schema, service, async (uow) => {
      uow.consumerGroup = this.options.groupId;
      const fresh = await this.claimInbox(uow.manager, items);
      // Each handler gets all of its fresh events of the batch, in order, in one call.
      const work = new Map<HandlerRegistration, { events: Consumed[]; raw: IncomingMessage[] }>();
      for (const item of items) {
        if (!fresh.delete(item.inboxId)) {
          uow.afterCommit(() => metrics.inboxDuplicates.inc({ service, topic: item.message.topic }));
          continue;
        }
        // Counted once per message, however many handlers take it.
        const counted = { service, topic: item.message.topic, type: item.consumed?.event.type ?? item.message.topic };
        uow.afterCommit(() => metrics.messagesConsumed.inc(counted));
        const consumed = item.consumed;
        if (consumed) this.traceConsumed(uow, consumed, spans);
        const registrations = consumed ? this.byType.get(consumed.event.type)!.filter((r) => takes(r, consumed)) : [this.byRawTopic.get(item.message.topic)!];
        for (const registration of registrations) {
          const entry = work.get(registration) ?? { events: [], raw: [] };
          if (item.consumed) entry.events.push(item.consumed);
          else entry.raw.push(item.message);
          work.set(registration, entry);
        }
      }
      for (const [registration, { events, raw }] of work) {
        const started = process.hrtime.bigint();
        if (events.length > 0) await registration.handler.handle!(events, uow);
        if (raw.length > 0) await registration.handler.handleRaw!(raw, uow);
        const seconds = Number(process.hrtime.bigint() - started) / 1e9;
        uow.afterCommit(() => metrics.handlerDuration.observe({ service, type: registration.name }, seconds));
      }
    }));
    for (const r of uow.refused) {
      metrics.deadLetters.inc({ service, topic: r.topic, reason: r.rejection.code });
      this.options.logger.warn(`${service}: refused a message from ${r.topic}: ${r.rejection.code}: ${r.rejection.message}`);
    }
    this.options.onCommitted?.(uow);
  }

  /**
   * Runs one attempt at a unit of work with the CONSUMER spans its events get: handlers start from
   * no active span, so what they emit names these spans; the spans end with the transaction, failed
   * when it fails (a retry, or the isolation of the failing message, records its own).
   */
  private async traced<R>(spans: Span[], work: () => Promise<R>): Promise<R> {
    let result: R;
    try {
      result = await withoutActiveSpan(work);
    } catch (err) {
      for (const span of spans) endSpan(span, { errorType: errorTypeOf(err) });
      throw err;
    }
    for (const span of spans) endSpan(span);
    return result;
  }

  /**
   * A CONSUMER span for one handled event, continuing the trace its `traceparent` names (a new
   * trace without one). Ids, types and places only: never the event's data.
   */
  private traceConsumed(uow: UnitOfWork, consumed: Consumed, spans: Span[]): void {
    const { event, message } = consumed;
    const parent = contextOfTraceparent(event.traceparent);
    const { span } = startGovmeshSpan(`process ${message.topic}`, { kind: SpanKind.CONSUMER, parent });
    const traceparent = traceparentOfSpan(span, parent);
    // The no-op tracer's stand-in: tracing is off, nothing to describe or end.
    if (!traceparent) return;
    span.setAttributes({
      [SemconvAttributes.messagingSystem]: this.options.transport.kind === 'kafka' ? 'kafka' : 'govmesh.in_process',
      [SemconvAttributes.messagingDestination]: message.topic,
      [SemconvAttributes.messagingPartition]: String(message.partition),
      [SemconvAttributes.messagingOperationType]: 'process',
      [SemconvAttributes.messagingOperationName]: 'process',
      [SemconvAttributes.messagingMessageId]: event.id,
      [SemconvAttributes.messagingConsumerGroup]: this.options.groupId,
      [SemconvAttributes.cloudeventsId]: event.id,
      [SemconvAttributes.cloudeventsType]: event.type,
      [SemconvAttributes.cloudeventsSource]: event.source,
      [GovmeshAttributes.service]: this.options.service,
      ...(isRunScoped(event.type) && event.correlationid ? { [GovmeshAttributes.runId]: event.correlationid } : {}),
    });
    if (/^\d+$/.test(message.offset)) span.setAttribute(SemconvAttributes.messagingKafkaOffset, Number(message.offset));
    uow.traceConsumed(event.id, span, traceparent);
    spans.push(span);
  }

  /** Records the batch's ids in the inbox in one statement; returns the ids not seen before. */
  private async claimInbox(manager: EntityManager, items: Item[]): Promise<Set<string>> {
    const inserted: Array<{ event_id: string }> = await manager.query(
      `INSERT INTO "${this.options.schema}"."inbox" (event_id, topic)
       SELECT * FROM unnest($1::varchar[], $2::varchar[]) ON CONFLICT (event_id) DO NOTHING RETURNING event_id`,
      [items.map((i) => i.inboxId), items.map((i) => i.message.topic)],
    );
    return new Set(inserted.map((r) => r.event_id));
  }
}
