import Ajv, { type ErrorObject, type ValidateFunction } from 'ajv';
import addFormats from 'ajv-formats';
import { EVENT_CATALOG, isKnownEventType, type EventType } from './catalog';
import { CloudEventEnvelope, type GovmeshEvent } from './envelope';
import { Topics } from './topics';
import { isStorableText, showUnstorable } from './storable-text';

/** Default ceiling for one message; larger ones are dead-lettered as `oversized`. */
export const DEFAULT_MAX_MESSAGE_BYTES = 256 * 1024;

/**
 * Room kept free under the message limit on the intents topic: the events that carry an intent
 * downstream (its decision embeds it) add up to this much, so an intent that fits its own topic
 * also fits every later hop.
 */
export const INTENT_HEADROOM_BYTES = 16 * 1024;

/** The largest message accepted on a topic, given the configured limit. */
export function maxMessageBytesFor(topic: string, maxBytes = DEFAULT_MAX_MESSAGE_BYTES): number {
  return topic === Topics.intents ? maxBytes - INTENT_HEADROOM_BYTES : maxBytes;
}

/** Longest Kafka key govmesh accepts: run ids and entity ids are at most 128 characters. */
export const MAX_KEY_LENGTH = 128;

export type RejectionCode =
  | 'oversized'
  | 'empty'
  | 'key_too_long'
  | 'malformed_json'
  | 'invalid_envelope'
  | 'unknown_type'
  | 'unexpected_type'
  | 'schema_invalid'
  | 'unstorable_text';

/** Messages that decode but that policy refuses on their merits: unproven or replayed intents. */
export type IntentRefusalCode =
  | 'intent_unsigned'
  | 'intent_signature_invalid'
  | 'intent_key_unknown'
  | 'intent_key_revoked'
  | 'intent_stale'
  | 'intent_from_future'
  | 'intent_timestamp_invalid'
  | 'intent_replayed';

export interface Rejection {
  code: RejectionCode | IntentRefusalCode | 'handler_failed';
  message: string;
}

export type DecodeResult = { ok: true; event: GovmeshEvent; unstorableAt?: string } | { ok: false; rejection: Rejection };

const ajv = new Ajv({ allErrors: true, strict: false });
addFormats(ajv);

const validateEnvelope = ajv.compile(CloudEventEnvelope);
const dataValidators = new Map<EventType, ValidateFunction>(
  Object.values(EVENT_CATALOG).map((d) => [d.type, ajv.compile(d.schema)]),
);

function describeErrors(errors: ErrorObject[] | null | undefined): string {
  return (errors ?? [])
    .slice(0, 5)
    .map((e) => `${e.instancePath || '/'} ${e.message ?? 'is invalid'}${e.params && 'additionalProperty' in e.params ? ` (${String(e.params.additionalProperty)})` : ''}`)
    .join('; ');
}

export interface DecodeOptions {
  /** The topic the bytes arrived on; events whose type belongs elsewhere are rejected. */
  topic?: string;
  /** Event types this consumer accepts on that topic; defaults to every type of the topic. */
  accepts?: readonly string[];
  maxBytes?: number;
  /** The message key, checked against MAX_KEY_LENGTH when given. */
  key?: string | null;
  /**
   * Accept an event whose text Postgres cannot store as is (`unstorable_text`): the caller escapes
   * or refuses it itself. The result then names where that text is (`unstorableAt`).
   */
  allowUnstorableText?: boolean;
}

/**
 * Postgres text and jsonb cannot hold U+0000, and jsonb refuses an unpaired surrogate, so an event
 * carrying either could be accepted and then never stored. Null when the value has none; otherwise
 * the JSON path of the first one (its own bad characters shown as `\uXXXX`).
 */
export function findUnstorableText(value: unknown, path = ''): string | null {
  if (typeof value === 'string') return isStorableText(value) ? null : path || '/';
  if (Array.isArray(value)) {
    for (let i = 0; i < value.length; i++) {
      const found = findUnstorableText(value[i], `${path}/${i}`);
      if (found) return found;
    }
    return null;
  }
  if (value && typeof value === 'object') {
    for (const [k, v] of Object.entries(value)) {
      const found = isStorableText(k) ? findUnstorableText(v, `${path}/${k}`) : `${path}/${showUnstorable(k)}`;
      if (found) return found;
    }
  }
  return null;
}

/** The reason an event with unstorable text is refused with, naming where it is. */
export function unstorableTextRejection(where: string): Rejection {
  return { code: 'unstorable_text', message: `text at ${where.length > 300 ? `${where.slice(0, 300)}…` : where} contains U+0000 (a NUL character) or an unpaired surrogate, which cannot be stored` };
}

/** Validates a data payload against the schema of its event type. */
export function validateEventData(type: EventType, data: unknown): Rejection | null {
  const validate = dataValidators.get(type)!;
  if (validate(data)) return null;
  return { code: 'schema_invalid', message: `data of ${type} is invalid: ${describeErrors(validate.errors)}` };
}

/**
 * Turns raw bytes into a validated event, or into a rejection with a reason.
 * Never throws: every failure is a value that the consumer dead-letters.
 */
export function decodeEvent(value: Buffer | null, options: DecodeOptions = {}): DecodeResult {
  const maxBytes = options.maxBytes ?? DEFAULT_MAX_MESSAGE_BYTES;
  if (!value || value.length === 0) return { ok: false, rejection: { code: 'empty', message: 'message has no value' } };
  if (value.length > maxBytes) {
    return { ok: false, rejection: { code: 'oversized', message: `message is ${value.length} bytes, above the limit of ${maxBytes}` } };
  }
  if (options.key && options.key.length > MAX_KEY_LENGTH) {
    return { ok: false, rejection: { code: 'key_too_long', message: `message key is ${options.key.length} characters, above the limit of ${MAX_KEY_LENGTH}` } };
  }
  let parsed: unknown;
  const text = value.toString('utf8');
  try {
    parsed = JSON.parse(text);
  } catch (err) {
    return { ok: false, rejection: { code: 'malformed_json', message: `value is not JSON: ${(err as Error).message}` } };
  }
  if (!validateEnvelope(parsed)) {
    return { ok: false, rejection: { code: 'invalid_envelope', message: `not a CloudEvents 1.0 envelope: ${describeErrors(validateEnvelope.errors)}` } };
  }
  const envelope = parsed as CloudEventEnvelope;
  if (!isKnownEventType(envelope.type)) {
    return { ok: false, rejection: { code: 'unknown_type', message: `unknown event type "${envelope.type}"` } };
  }
  const definition = EVENT_CATALOG[envelope.type];
  if (options.topic && definition.topic !== options.topic) {
    return { ok: false, rejection: { code: 'unexpected_type', message: `${envelope.type} belongs on ${definition.topic}, not ${options.topic}` } };
  }
  if (options.accepts && !options.accepts.includes(envelope.type)) {
    return { ok: false, rejection: { code: 'unexpected_type', message: `this consumer does not accept ${envelope.type}` } };
  }
  const invalid = validateEventData(envelope.type, envelope.data);
  if (invalid) return { ok: false, rejection: invalid };
  // Cheap test first: a NUL or a lone surrogate can only arrive escaped (raw control characters are
  // not valid JSON, and UTF-8 decoding never yields a surrogate).
  if (/\\u(0000|[dD][89a-fA-F])/.test(text)) {
    const where = findUnstorableText(parsed);
    if (where && options.allowUnstorableText) return { ok: true, event: envelope as GovmeshEvent, unstorableAt: where };
    if (where) return { ok: false, rejection: unstorableTextRejection(where) };
  }
  return { ok: true, event: envelope as GovmeshEvent };
}

export function encodeEvent(event: GovmeshEvent): Buffer {
  return Buffer.from(JSON.stringify(event), 'utf8');
}
