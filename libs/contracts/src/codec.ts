import Ajv, { type ErrorObject, type ValidateFunction } from 'ajv';
import addFormats from 'ajv-formats';
import { EVENT_CATALOG, isKnownEventType, type EventType } from './catalog';
import { CloudEventEnvelope, type GovmeshEvent } from './envelope';

/** Default ceiling for one message; larger ones are dead-lettered as `oversized`. */
export const DEFAULT_MAX_MESSAGE_BYTES = 256 * 1024;

export type RejectionCode = 'oversized' | 'empty' | 'malformed_json' | 'invalid_envelope' | 'unknown_type' | 'unexpected_type' | 'schema_invalid';

export interface Rejection {
  code: RejectionCode | 'handler_failed';
  message: string;
}

export type DecodeResult = { ok: true; event: GovmeshEvent } | { ok: false; rejection: Rejection };

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
  let parsed: unknown;
  try {
    parsed = JSON.parse(value.toString('utf8'));
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
  return { ok: true, event: envelope as GovmeshEvent };
}

export function encodeEvent(event: GovmeshEvent): Buffer {
  return Buffer.from(JSON.stringify(event), 'utf8');
}
