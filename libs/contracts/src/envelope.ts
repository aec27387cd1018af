import { randomUUID } from 'node:crypto';
import { Type, type Static } from '@sinclair/typebox';
import type { EventData, EventType } from './catalog';

/**
 * CloudEvents 1.0, structured JSON mode, with these extensions:
 * `correlationid` (the run id), `causationid` (the event that caused this one),
 * `traceparent` (W3C Trace Context, also copied into the Kafka headers), and on intents
 * `govmeshsig` / `govmeshsigner` (the detached signature and whose key made it).
 */
export const CloudEventEnvelope = Type.Object(
  {
    specversion: Type.Literal('1.0'),
    id: Type.String({ minLength: 1, maxLength: 128 }),
    source: Type.String({ minLength: 1, maxLength: 256 }),
    type: Type.String({ minLength: 1, maxLength: 128 }),
    time: Type.String({ format: 'date-time' }),
    subject: Type.Optional(Type.String({ maxLength: 128 })),
    datacontenttype: Type.Optional(Type.Literal('application/json')),
    dataschema: Type.Optional(Type.String()),
    correlationid: Type.Optional(Type.String({ maxLength: 128 })),
    causationid: Type.Optional(Type.String({ maxLength: 128 })),
    traceparent: Type.Optional(Type.String({ pattern: '^[0-9a-f]{2}-[0-9a-f]{32}-[0-9a-f]{16}-[0-9a-f]{2}$' })),
    govmeshsig: Type.Optional(Type.String({ pattern: '^[A-Za-z0-9_-]{86}$', description: "an intent's detached Ed25519 signature (base64url), see docs/signing.md" })),
    govmeshsigner: Type.Optional(Type.Union([Type.Literal('agent'), Type.Literal('ingress')], { description: "whose key made govmeshsig: the agent version's, or the HTTP ingress's" })),
    data: Type.Unknown(),
  },
  { additionalProperties: true },
);
export type CloudEventEnvelope = Static<typeof CloudEventEnvelope>;

export interface GovmeshEvent<T extends EventType = EventType> extends CloudEventEnvelope {
  type: T;
  data: EventData<T>;
}

export interface NewEventOptions {
  source: string;
  subject?: string;
  correlationId?: string;
  causationId?: string;
  traceparent?: string;
  id?: string;
  time?: Date;
  /** Extension attributes: names of lowercase letters and digits, never a core attribute's. */
  extensions?: Record<string, string>;
}

export function createEvent<T extends EventType>(type: T, data: EventData<T>, options: NewEventOptions): GovmeshEvent<T> {
  const event: GovmeshEvent<T> = {
    specversion: '1.0',
    id: options.id ?? randomUUID(),
    source: options.source,
    type,
    time: (options.time ?? new Date()).toISOString(),
    datacontenttype: 'application/json',
    data,
  } as GovmeshEvent<T>;
  if (options.subject !== undefined) event.subject = options.subject;
  if (options.correlationId !== undefined) event.correlationid = options.correlationId;
  if (options.causationId !== undefined) event.causationid = options.causationId;
  if (options.traceparent !== undefined) event.traceparent = options.traceparent;
  for (const [name, value] of Object.entries(options.extensions ?? {})) {
    if (!/^[a-z0-9]{1,20}$/.test(name) || name in event) throw new Error(`"${name}" cannot be a CloudEvents extension attribute here`);
    (event as unknown as Record<string, unknown>)[name] = value;
  }
  return event;
}

/** Kafka header names used next to the structured envelope. */
export const Headers = {
  contentType: 'content-type',
  eventType: 'ce_type',
  eventId: 'ce_id',
  traceparent: 'traceparent',
  dlqReasonCode: 'govmesh_dlq_reason_code',
  dlqReason: 'govmesh_dlq_reason',
  dlqOriginalTopic: 'govmesh_dlq_original_topic',
  dlqOriginalPartition: 'govmesh_dlq_original_partition',
  dlqOriginalOffset: 'govmesh_dlq_original_offset',
  dlqConsumerGroup: 'govmesh_dlq_consumer_group',
  dlqFailedAt: 'govmesh_dlq_failed_at',
} as const;

export const CLOUDEVENTS_CONTENT_TYPE = 'application/cloudevents+json; charset=UTF-8';
