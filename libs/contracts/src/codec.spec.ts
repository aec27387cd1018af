import { EventTypes } from './catalog';
import { DEFAULT_MAX_MESSAGE_BYTES, decodeEvent, encodeEvent, validateEventData, type DecodeResult, type Rejection } from './codec';
import { createEvent } from './envelope';
import { Topics } from './topics';

const TRACEPARENT = '00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01';

function intentEvent(overrides: Record<string, unknown> = {}) {
  return createEvent(
    EventTypes.IntentSubmitted,
    { intentId: 'run-42', agentId: 'support-bot', agentVersion: '1.2.0', task: 'Check the balance of acc-001', input: { accountId: 'acc-001' } },
    {
      source: 'govmesh/orchestrator',
      subject: 'run-42',
      correlationId: 'run-42',
      causationId: 'evt-0',
      traceparent: TRACEPARENT,
      id: 'evt-1',
      time: new Date('2026-11-05T09:30:00.000Z'),
      ...overrides,
    },
  );
}

function bytes(value: unknown): Buffer {
  return Buffer.from(JSON.stringify(value), 'utf8');
}

function rejectionOf(result: DecodeResult): Rejection {
  if (result.ok) throw new Error(`expected a rejection, got event ${result.event.type}`);
  return result.rejection;
}

describe('decodeEvent', () => {
  it('round-trips an event made by createEvent and encoded by encodeEvent, on its own topic', () => {
    const event = intentEvent();
    const result = decodeEvent(encodeEvent(event), { topic: Topics.intents });
    expect(result).toEqual({ ok: true, event });
    if (!result.ok) return;
    expect(result.event).toMatchObject({
      specversion: '1.0',
      type: 'govmesh.intent.submitted.v1',
      time: '2026-11-05T09:30:00.000Z',
      correlationid: 'run-42',
      causationid: 'evt-0',
      traceparent: TRACEPARENT,
      datacontenttype: 'application/json',
    });
  });

  it('gives every created event a fresh id and the current time when none is given', () => {
    const data = { intentId: 'run-1', agentId: 'a', task: 't' };
    const a = createEvent(EventTypes.IntentSubmitted, data, { source: 's' });
    const b = createEvent(EventTypes.IntentSubmitted, data, { source: 's' });
    expect(a.id).not.toEqual(b.id);
    expect(Math.abs(Date.parse(a.time) - Date.now())).toBeLessThan(5000);
    expect(a).not.toHaveProperty('correlationid');
    expect(decodeEvent(encodeEvent(a)).ok).toBe(true);
  });

  it('rejects a message with no value as empty', () => {
    expect(rejectionOf(decodeEvent(null))).toEqual({ code: 'empty', message: 'message has no value' });
    expect(rejectionOf(decodeEvent(Buffer.alloc(0))).code).toBe('empty');
  });

  it('rejects a message above the byte limit before parsing it, naming size and limit', () => {
    const event = intentEvent();
    const encoded = encodeEvent(event);
    const rejection = rejectionOf(decodeEvent(encoded, { maxBytes: encoded.length - 1 }));
    expect(rejection.code).toBe('oversized');
    expect(rejection.message).toBe(`message is ${encoded.length} bytes, above the limit of ${encoded.length - 1}`);
    expect(decodeEvent(encoded, { maxBytes: encoded.length }).ok).toBe(true);
  });

  it('applies the 256 KiB default limit when no limit is given', () => {
    const big = createEvent(EventTypes.IntentSubmitted, { intentId: 'run-big', agentId: 'a', task: 't', input: { blob: 'x'.repeat(DEFAULT_MAX_MESSAGE_BYTES) } }, { source: 's' });
    const rejection = rejectionOf(decodeEvent(encodeEvent(big)));
    expect(rejection.code).toBe('oversized');
    expect(rejection.message).toContain(`above the limit of ${256 * 1024}`);
  });

  it('counts bytes, not characters, against the limit', () => {
    // 'é' is two bytes in UTF-8: 100 characters are 200 bytes.
    const event = createEvent(EventTypes.IntentSubmitted, { intentId: 'run-utf8', agentId: 'a', task: 'é'.repeat(100) }, { source: 's', id: 'e', time: new Date(0) });
    const encoded = encodeEvent(event);
    const characters = JSON.stringify(event).length;
    expect(encoded.length).toBe(characters + 100);
    expect(rejectionOf(decodeEvent(encoded, { maxBytes: characters })).code).toBe('oversized');
  });

  it('rejects bytes that are not JSON as malformed_json with the parser error', () => {
    const rejection = rejectionOf(decodeEvent(Buffer.from('{"specversion": "1.0", ', 'utf8')));
    expect(rejection.code).toBe('malformed_json');
    expect(rejection.message).toMatch(/^value is not JSON: .+/);
  });

  it.each([
    ['a JSON string', '"hello"'],
    ['a JSON array', '[1, 2]'],
    ['JSON null', 'null'],
  ])('rejects %s as not being an envelope', (_what, text) => {
    const rejection = rejectionOf(decodeEvent(Buffer.from(text)));
    expect(rejection.code).toBe('invalid_envelope');
    expect(rejection.message).toMatch(/^not a CloudEvents 1.0 envelope: \/ must be object/);
  });

  it('rejects an envelope without specversion, naming the missing attribute', () => {
    const { specversion: _omit, ...rest } = intentEvent();
    const rejection = rejectionOf(decodeEvent(bytes(rest)));
    expect(rejection.code).toBe('invalid_envelope');
    expect(rejection.message).toContain("must have required property 'specversion'");
  });

  it('rejects a CloudEvents 0.3 envelope', () => {
    const rejection = rejectionOf(decodeEvent(bytes({ ...intentEvent(), specversion: '0.3' })));
    expect(rejection.code).toBe('invalid_envelope');
    expect(rejection.message).toContain('/specversion must be equal to constant');
  });

  it('rejects an envelope whose time is not a date-time and whose traceparent is malformed, naming both', () => {
    const rejection = rejectionOf(decodeEvent(bytes({ ...intentEvent(), time: 'yesterday', traceparent: 'not-a-trace' })));
    expect(rejection.code).toBe('invalid_envelope');
    expect(rejection.message).toContain('/time must match format "date-time"');
    expect(rejection.message).toContain('/traceparent must match pattern');
  });

  it('rejects an event type that is not in the catalog, quoting it', () => {
    const rejection = rejectionOf(decodeEvent(bytes({ ...intentEvent(), type: 'govmesh.intent.submitted.v9' })));
    expect(rejection).toEqual({ code: 'unknown_type', message: 'unknown event type "govmesh.intent.submitted.v9"' });
  });

  it('does not treat Object.prototype members as event types', () => {
    const rejection = rejectionOf(decodeEvent(bytes({ ...intentEvent(), type: 'constructor' })));
    expect(rejection.code).toBe('unknown_type');
  });

  it('rejects a known event that arrived on the wrong topic, naming where it belongs', () => {
    const rejection = rejectionOf(decodeEvent(encodeEvent(intentEvent()), { topic: Topics.decisions }));
    expect(rejection).toEqual({ code: 'unexpected_type', message: 'govmesh.intent.submitted.v1 belongs on govmesh.intents, not govmesh.decisions' });
  });

  it('rejects an event of the right topic that this consumer does not accept', () => {
    const completed = createEvent(
      EventTypes.VerificationCompleted,
      { runId: 'run-42', stepId: 'verify', verdict: 'confirmed', reasons: [{ code: 'read_back_matches', message: 'ok' }] },
      { source: 's' },
    );
    const options = { topic: Topics.outcomes, accepts: [EventTypes.ToolExecuted] };
    const rejection = rejectionOf(decodeEvent(encodeEvent(completed), options));
    expect(rejection).toEqual({ code: 'unexpected_type', message: 'this consumer does not accept govmesh.verification.completed.v1' });
    expect(decodeEvent(encodeEvent(completed), { topic: Topics.outcomes }).ok).toBe(true);
  });

  it('rejects data that breaks its schema, naming the field and the rule', () => {
    const event = intentEvent();
    const bad = { ...event, data: { ...event.data, intentId: 'has spaces in it' } };
    const rejection = rejectionOf(decodeEvent(bytes(bad), { topic: Topics.intents }));
    expect(rejection.code).toBe('schema_invalid');
    expect(rejection.message).toMatch(/^data of govmesh\.intent\.submitted\.v1 is invalid: /);
    expect(rejection.message).toContain('/intentId must match pattern');
  });

  it('rejects data with a property the schema does not know, naming the property', () => {
    const event = intentEvent();
    const bad = { ...event, data: { ...event.data, priority: 'urgent' } };
    const rejection = rejectionOf(decodeEvent(bytes(bad)));
    expect(rejection.code).toBe('schema_invalid');
    expect(rejection.message).toContain('must NOT have additional properties (priority)');
  });

  it('rejects data missing a required field and reports every problem, not just the first', () => {
    const event = intentEvent();
    const bad = { ...event, data: { agentId: 'support-bot', task: '' } };
    const rejection = rejectionOf(decodeEvent(bytes(bad)));
    expect(rejection.code).toBe('schema_invalid');
    expect(rejection.message).toContain("must have required property 'intentId'");
    expect(rejection.message).toContain('/task must NOT have fewer than 1 characters');
  });

  it('rejects an envelope with no data at all, naming data', () => {
    const { data: _omit, ...rest } = intentEvent();
    const rejection = rejectionOf(decodeEvent(bytes(rest)));
    expect(rejection.code).toBe('invalid_envelope');
    expect(rejection.message).toContain("must have required property 'data'");
  });

  it('rejects an envelope whose data is null as schema_invalid', () => {
    const rejection = rejectionOf(decodeEvent(bytes({ ...intentEvent(), data: null })));
    expect(rejection.code).toBe('schema_invalid');
    expect(rejection.message).toContain('/ must be object');
  });
});

describe('validateEventData', () => {
  it('accepts a well-formed action decision with a grant and refuses one whose grant digest is not sha256 hex', () => {
    const decided = {
      runId: 'run-42',
      stepId: 'authorize',
      effect: 'allow',
      reasons: [{ code: 'permitted_by_policy', message: 'ok' }],
      policyVersion: 'abc',
      grant: { grantId: 'g-1', digest: 'a'.repeat(64), runId: 'run-1', stepId: 'authorize', agentId: 'support-assistant', agentVersion: '1.0.0', policyVersion: 'abc', issuedAt: '2026-11-05T09:59:30.000Z', expiresAt: '2026-11-05T10:00:00.000Z', keyId: '0123456789abcdef', signature: 's'.repeat(86) },
    };
    expect(validateEventData(EventTypes.ActionDecided, decided)).toBeNull();
    const forged = { ...decided, grant: { ...decided.grant, digest: 'not-a-digest' } };
    const rejection = validateEventData(EventTypes.ActionDecided, forged);
    expect(rejection?.code).toBe('schema_invalid');
    expect(rejection?.message).toContain('/grant/digest must match pattern');
  });

  it('refuses a decision without any reason: every decision must explain itself', () => {
    const rejection = validateEventData(EventTypes.IntentDecided, {
      runId: 'run-1',
      agentId: 'a',
      effect: 'deny',
      reasons: [],
      policyVersion: 'v',
      intent: { intentId: 'run-1', agentId: 'a', task: 't' },
    });
    expect(rejection?.message).toContain('/reasons must NOT have fewer than 1 items');
  });
});
