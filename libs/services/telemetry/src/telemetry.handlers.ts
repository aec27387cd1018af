import { Injectable } from '@nestjs/common';
import { EVENT_CATALOG, eventKey, Headers, isRunScoped, MAX_KEY_LENGTH, Topics, type EventType } from '@govmesh/contracts';
import { HandlesEvents, HandlesRawTopics, type BatchEventHandler, type Consumed, type IncomingMessage, type RawMessageHandler, type UnitOfWork } from '@govmesh/messaging';
import { AuditRepository, type AuditInput } from './audit.repository';
import { TELEMETRY_SERVICE } from './database';

/** Text Postgres can store: U+0000 written as its escape. */
const storable = (s: string): string => s.split('\u0000').join('\\u0000');

/** How long the audit consumer waits for fuller batches: the ledger trails the runs by this much, at a fraction of the cost. */
const AUDIT_LINGER_MS = 50;

/** Layer 7: records every event of every topic in the tamper-evident chain. */
@Injectable()
@HandlesEvents(TELEMETRY_SERVICE, Object.keys(EVENT_CATALOG) as EventType[], { lingerMs: AUDIT_LINGER_MS })
export class AuditHandler implements BatchEventHandler {
  constructor(private readonly audit: AuditRepository) {}

  async handle(batch: ReadonlyArray<Consumed>, uow: UnitOfWork): Promise<void> {
    await this.audit.append(
      uow,
      batch.map(({ event, message }) => ({
        eventId: event.id,
        type: event.type,
        // Registry events (an agent changed) belong to no run; their entity is in the payload.
        runId: isRunScoped(event.type) ? eventKey(event.type, event.data) : null,
        topic: message.topic,
        occurredAt: new Date(event.time),
        payload: event as unknown as Record<string, unknown>,
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
  constructor(private readonly audit: AuditRepository) {}

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
