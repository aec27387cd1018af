import { Injectable } from '@nestjs/common';
import { EVENT_CATALOG, eventKey, Headers, isRunScoped, MAX_KEY_LENGTH, STORABLE_TEXT_MARKER, TOPIC_REGISTRY, Topics, toStorable, toStorableString, type EventType, type Rejection } from '@govmesh/contracts';
import { HandlesEvents, HandlesRawTopics, type BatchEventHandler, type Consumed, type IncomingMessage, type RawMessageHandler, type UnitOfWork } from '@govmesh/messaging';
import { AuditRepository, type AuditInput } from './audit.repository';
import { TELEMETRY_SERVICE } from './database';
import { UnstorableRecordsRepository } from './unstorable-records.repository';

/** Text Postgres can store: U+0000 and unpaired surrogates escaped, losslessly (see @govmesh/contracts storable-text). */
const storable = toStorableString;

/** Readers of topics that are not govmesh services. */
const OUTSIDE_READERS = new Set(['agent producers', 'operators']);

/**
 * Topics another govmesh service consumes: that service dead-letters what it cannot decode there,
 * so telemetry, which only observes them, does not dead-letter it a second time. On the topics only
 * telemetry reads (approvals, results), it dead-letters them itself.
 */
export const TOPICS_DEAD_LETTERED_ELSEWHERE: readonly string[] = TOPIC_REGISTRY.filter((t) => t.consumers.some((c) => c !== TELEMETRY_SERVICE && !OUTSIDE_READERS.has(c))).map((t) => t.name);

const ALL_TYPES = Object.keys(EVENT_CATALOG) as EventType[];

/** How long the audit consumer waits for fuller batches: the ledger trails the runs by this much, at a fraction of the cost. */
const AUDIT_LINGER_MS = 50;

/**
 * Layer 7: records every event of every topic in the tamper-evident chain. An event with text
 * Postgres cannot store (U+0000, an unpaired surrogate: the service that owns it refuses it) is
 * still recorded, escaped; the payload digest is computed over exactly what is stored, so
 * verification recomputes it from the stored payload.
 */
@Injectable()
@HandlesEvents(TELEMETRY_SERVICE, ALL_TYPES, { lingerMs: AUDIT_LINGER_MS, acceptsUnstorableText: ALL_TYPES, deadLetteredElsewhere: TOPICS_DEAD_LETTERED_ELSEWHERE })
export class AuditHandler implements BatchEventHandler {
  constructor(private readonly audit: AuditRepository) {}

  async handle(batch: ReadonlyArray<Consumed>, uow: UnitOfWork): Promise<void> {
    await this.audit.append(
      uow,
      batch.map(({ event, message, unstorableAt }) => ({
        eventId: storable(event.id),
        type: event.type,
        // Registry events (an agent changed) belong to no run; their entity is in the payload.
        runId: isRunScoped(event.type) ? eventKey(event.type, event.data) : null,
        topic: message.topic,
        occurredAt: new Date(event.time),
        // Escaped when it must be, or when it holds the escape marker itself (so that reads stay unambiguous).
        payload: (unstorableAt || message.value?.includes(STORABLE_TEXT_MARKER) ? toStorable(event) : event) as unknown as Record<string, unknown>,
      })),
    );
  }
}

/**
 * Records every dead letter for operators, and audits it. What it stores is made storable (keys
 * of any length, NUL bytes, binary values), because a dead letter it could not store would have
 * nowhere else to go.
 */
@Injectable()
@HandlesRawTopics(TELEMETRY_SERVICE, [Topics.deadLetters])
export class DeadLettersHandler implements RawMessageHandler {
  constructor(
    private readonly audit: AuditRepository,
    private readonly unstorable: UnstorableRecordsRepository,
  ) {}

  /** A dead letter that could not be recorded even after retries is kept aside with its reason. */
  setAside(message: IncomingMessage, rejection: Rejection): Promise<void> {
    return this.unstorable.setAside(message, rejection);
  }

  async handleRaw(messages: readonly IncomingMessage[], uow: UnitOfWork): Promise<void> {
    const rows: Array<Record<string, unknown>> = [];
    const entries: AuditInput[] = [];
    for (const message of messages) {
      const h = Object.fromEntries(Object.entries(message.headers).map(([k, v]) => [storable(k), storable(v)]));
      const value = message.value ?? Buffer.alloc(0);
      const text = value.toString('utf8');
      const isText = Buffer.from(text, 'utf8').equals(value) && !text.includes('\u0000');
      const id = `${message.topic}:${message.partition}:${message.offset}`;
      const failedAt = h[Headers.dlqFailedAt] && !Number.isNaN(Date.parse(h[Headers.dlqFailedAt])) ? new Date(h[Headers.dlqFailedAt]) : null;
      const row = {
        id,
        reason_code: (h[Headers.dlqReasonCode] ?? 'unknown').slice(0, 64),
        reason: h[Headers.dlqReason] ?? 'no reason given',
        original_topic: (h[Headers.dlqOriginalTopic] ?? 'unknown').slice(0, 255),
        original_partition: Number.isInteger(Number(h[Headers.dlqOriginalPartition])) ? Number(h[Headers.dlqOriginalPartition]) : -1,
        original_offset: (h[Headers.dlqOriginalOffset] ?? '').slice(0, 32),
        consumer_group: (h[Headers.dlqConsumerGroup] ?? '').slice(0, 255),
        message_key: message.key === null ? null : storable(message.key),
        headers: h,
        value: isText ? text : value.toString('base64'),
        value_encoding: isText ? 'utf8' : 'base64',
        failed_at: failedAt?.toISOString() ?? null,
      };
      rows.push(row);
      const key = row.message_key as string | null;
      entries.push({
        eventId: `dlq:${id}`,
        type: 'govmesh.deadletter.recorded',
        runId: key !== null && key.length <= MAX_KEY_LENGTH ? key : null,
        topic: message.topic,
        occurredAt: failedAt ?? new Date(),
        payload: { ...row, value: undefined, valueBytes: value.length },
      });
    }
    await this.audit.recordDeadLetters(uow, rows);
    await this.audit.append(uow, entries);
  }
}
