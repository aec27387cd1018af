import { randomUUID } from 'node:crypto';
import { EventTypes, fromStorable, Headers, Topics, type GovmeshEvent } from '@govmesh/contracts';
import { ServiceHarness } from '@govmesh/testing';
import { TELEMETRY_DATABASE } from './database';
import { TelemetryServiceModule } from './telemetry.module';
import { TOPICS_DEAD_LETTERED_ELSEWHERE } from './telemetry.handlers';

const SCHEMA = TELEMETRY_DATABASE.schema;

/** A dead letter as another service's consumer publishes it. */
function deadLetter(value: Buffer, reason: { code: string; message: string }, key: string | null = null, extra: Record<string, string> = {}) {
  return {
    topic: Topics.deadLetters,
    key,
    value,
    headers: {
      [Headers.dlqReasonCode]: reason.code,
      [Headers.dlqReason]: reason.message,
      [Headers.dlqOriginalTopic]: Topics.intents,
      [Headers.dlqOriginalPartition]: '0',
      [Headers.dlqOriginalOffset]: String(Math.floor(Math.random() * 1e9)),
      [Headers.dlqConsumerGroup]: 'govmesh.policy',
      [Headers.dlqFailedAt]: new Date().toISOString(),
      ...extra,
    },
  };
}

describe('telemetry: nothing it receives is lost', () => {
  let h: ServiceHarness;
  let auditor: string;

  beforeAll(async () => {
    h = await ServiceHarness.start({ modules: [TelemetryServiceModule], schemas: [SCHEMA] });
    auditor = await h.apiKey('auditor');
  });
  afterAll(async () => {
    await h?.close();
  });

  const verify = () => h.http<{ intact: boolean }>('GET', '/v1/audit/verify?from=genesis', { key: auditor });
  const letters = () => h.http<Array<Record<string, unknown>>>('GET', '/v1/dead-letters?limit=500', { key: auditor });
  const settleLong = async () => {
    await new Promise((r) => setTimeout(r, 150));
    await h.settle();
  };

  it('records an event whose text holds U+0000 or an unpaired surrogate, escaped, losslessly, and the chain still verifies', async () => {
    const runId = `nul-${randomUUID()}`;
    const intent = h.event(EventTypes.IntentSubmitted, {
      intentId: runId,
      agentId: 'support-assistant',
      task: 'status of acc-001\u0000; also \ud800',
      input: { 'account\u0000Id': ['acc-001', { note: 'nul\u0000' }], path: 'C:\\temp', marker: 'govmesh-escaped:as typed' },
    });
    const publishedBefore = h.published(Topics.deadLetters).length;
    await h.send(intent);
    await settleLong();
    const [record] = await h.query<{ payload: GovmeshEvent; event_id: string }>(`SELECT payload, event_id FROM "${SCHEMA}"."audit_records" WHERE run_id = $1`, [runId]);
    expect(record.event_id).toBe(intent.id);
    expect((record.payload.data as { task: string }).task).toBe('govmesh-escaped:status of acc-001\\u0000; also \\ud800');
    // Lossless: the stored payload gives back exactly the event as published.
    expect(fromStorable(record.payload)).toEqual(JSON.parse(JSON.stringify(intent)));
    // Recorded, not dead-lettered: policy refuses such an intent, telemetry keeps the evidence.
    expect(h.published(Topics.deadLetters).length).toBe(publishedBefore);
    expect((await verify()).body.intact).toBe(true);
  });

  it('stores a dead letter whose key, headers and reason hold NUL, and one with a NUL-prefixed binary value, once each', async () => {
    const binary = Buffer.concat([Buffer.from([0, 0xff, 0xfe]), Buffer.from('garbage')]);
    const key = `k-${randomUUID()}`;
    await h.send(deadLetter(binary, { code: 'malformed_json', message: 'value is not JSON: Unexpected token \u0000' }, `${key}\u0000`, { 'x-\u0000': 'v\u0000' }));
    await settleLong();
    const mine = (await letters()).body.filter((l) => l['messageKey'] === `govmesh-escaped:${key}\\u0000`);
    expect(mine).toHaveLength(1);
    expect(mine[0]).toMatchObject({ reasonCode: 'malformed_json', reason: 'govmesh-escaped:value is not JSON: Unexpected token \\u0000', valueEncoding: 'base64', valueBytes: binary.length });
    const one = await h.http<{ value: string; headers: Record<string, string> }>('GET', `/v1/dead-letters/${encodeURIComponent(mine[0]['id'] as string)}?include=value`, { key: auditor });
    expect(Buffer.from(one.body.value, 'base64').equals(binary)).toBe(true);
    expect(fromStorable(one.body.headers)['x-\u0000']).toBe('v\u0000');
    const audited = await h.query(`SELECT 1 FROM "${SCHEMA}"."audit_records" WHERE event_id = $1`, [`dlq:${mine[0]['id']}`]);
    expect(audited).toHaveLength(1);
    expect((await verify()).body.intact).toBe(true);
  });

  it('leaves what it cannot decode on another service\'s topic to that service, and dead-letters it on a topic only it reads', async () => {
    expect(TOPICS_DEAD_LETTERED_ELSEWHERE).toContain(Topics.intents);
    expect(TOPICS_DEAD_LETTERED_ELSEWHERE).not.toContain(Topics.results);
    expect(TOPICS_DEAD_LETTERED_ELSEWHERE).not.toContain(Topics.approvals);
    const before = h.published(Topics.deadLetters).length;
    const intentsKey = `bin-${randomUUID()}`;
    const resultsKey = `bin-${randomUUID()}`;
    await h.sendRaw(Topics.intents, Buffer.from([0, 1, 2, 3]), intentsKey);
    await h.sendRaw(Topics.results, Buffer.from([0, 1, 2, 3]), resultsKey);
    await settleLong();
    const published = h.published(Topics.deadLetters).slice(before);
    expect(published.filter((m) => m.key === intentsKey)).toHaveLength(0);
    expect(published.filter((m) => m.key === resultsKey).map((m) => m.headers[Headers.dlqReasonCode])).toEqual(['malformed_json']);
    const counted = (await h.metrics.rejectionsLeftToOwner.get()).values.find((v) => v.labels.topic === Topics.intents && v.labels.reason === 'malformed_json');
    expect(counted?.value).toBeGreaterThanOrEqual(1);
  });

  it('sets aside, with its reason, a dead letter it cannot store even after retries, and never dead-letters it again', async () => {
    const key = `unstorable-${randomUUID()}`;
    // Simulates a storage failure that retries do not cure, for this one dead letter.
    await h.query(`CREATE OR REPLACE FUNCTION "${SCHEMA}".refuse_spec_letter() RETURNS trigger LANGUAGE plpgsql AS $$
      BEGIN IF NEW.message_key = '${key}' THEN RAISE EXCEPTION 'disk says no'; END IF; RETURN NEW; END $$`);
    await h.query(`CREATE TRIGGER refuse_spec_letter BEFORE INSERT ON "${SCHEMA}"."dead_letters" FOR EACH ROW EXECUTE FUNCTION "${SCHEMA}".refuse_spec_letter()`);
    try {
      const unrecordedBefore = (await h.metrics.unrecordedDeadLetters.get()).values.reduce((n, v) => n + v.value, 0);
      const value = Buffer.from('{"original":"bytes"}');
      await h.send(deadLetter(value, { code: 'schema_invalid', message: 'data is invalid' }, key), deadLetter(Buffer.from('next'), { code: 'empty', message: 'fine' }, `${key}-next`));
      await settleLong();
      const kept = await h.query<{ id: string; reason_code: string; reason: string; value: Uint8Array; message_key: Uint8Array }>(`SELECT id, reason_code, reason, value, message_key FROM "${SCHEMA}"."unstorable_records"`);
      expect(kept).toHaveLength(1);
      expect(kept[0]).toMatchObject({ reason_code: 'handler_failed' });
      expect(kept[0].reason).toContain('disk says no');
      expect(Buffer.from(kept[0].value).equals(value)).toBe(true);
      expect(Buffer.from(kept[0].message_key).toString()).toBe(key);
      // Never back into its own input, and the dead letter next to it is recorded as usual.
      expect(h.published(Topics.deadLetters).filter((m) => m.key === key)).toHaveLength(1);
      expect((await letters()).body.map((l) => l['messageKey'])).toContain(`${key}-next`);
      expect((await h.metrics.unrecordedDeadLetters.get()).values.reduce((n, v) => n + v.value, 0)).toBe(unrecordedBefore + 1);
      const listed = await h.http<Array<Record<string, unknown>>>('GET', '/v1/dead-letters/set-aside', { key: auditor });
      expect(listed.body).toEqual([expect.objectContaining({ id: kept[0].id, reasonCode: 'handler_failed', valueBytes: value.length })]);
      expect(listed.body[0]).not.toHaveProperty('value');
    } finally {
      await h.query(`DROP TRIGGER refuse_spec_letter ON "${SCHEMA}"."dead_letters"`);
    }
  });

  it('stores the rest of a batch when one event cannot be stored, and dead-letters that one with its reason, once', async () => {
    const runId = `batch-${randomUUID()}`;
    const events = Array.from({ length: 4 }, (_, i) =>
      h.event(EventTypes.RunCompleted, { runId: `${runId}-${i}`, agentId: 'support-assistant', outcome: 'denied', reasons: [{ code: 'no_permit', message: 'denied' }], startedAt: new Date().toISOString(), completedAt: new Date().toISOString() }),
    );
    const bad = events[2];
    await h.query(`CREATE OR REPLACE FUNCTION "${SCHEMA}".refuse_spec_event() RETURNS trigger LANGUAGE plpgsql AS $$
      BEGIN IF NEW.event_id = '${bad.id}' THEN RAISE EXCEPTION 'cannot store this one'; END IF; RETURN NEW; END $$`);
    await h.query(`CREATE TRIGGER refuse_spec_event BEFORE INSERT ON "${SCHEMA}"."audit_records" FOR EACH ROW EXECUTE FUNCTION "${SCHEMA}".refuse_spec_event()`);
    try {
      await h.send(...events);
      await settleLong();
      const stored = await h.query<{ event_id: string }>(`SELECT event_id FROM "${SCHEMA}"."audit_records" WHERE run_id LIKE $1 AND type <> 'govmesh.deadletter.recorded'`, [`${runId}-%`]);
      expect(stored.map((r) => r.event_id).sort()).toEqual(events.filter((e) => e !== bad).map((e) => e.id).sort());
      const recorded = (await letters()).body.filter((l) => l['messageKey'] === `${runId}-2`);
      expect(recorded).toHaveLength(1);
      expect(recorded[0]).toMatchObject({ reasonCode: 'handler_failed', originalTopic: Topics.results, consumerGroup: expect.stringContaining('telemetry') });
      expect(recorded[0]['reason']).toContain('cannot store this one');
    } finally {
      await h.query(`DROP TRIGGER refuse_spec_event ON "${SCHEMA}"."audit_records"`);
    }
    expect((await verify()).body.intact).toBe(true);
  });

  it('serves dead letters to auditors only: metadata by default, the bytes of one record on request, and refuses a bad query', async () => {
    await h.send(deadLetter(Buffer.from('{"secret":"customer data"'), { code: 'malformed_json', message: 'not JSON' }, 'api-k'));
    await settleLong();
    const list = await letters();
    const letter = list.body.find((l) => l['messageKey'] === 'api-k')!;
    expect(JSON.stringify(list.body)).not.toContain('customer data');
    const path = `/v1/dead-letters/${encodeURIComponent(letter['id'] as string)}`;
    const meta = await h.http<Record<string, unknown>>('GET', path, { key: auditor });
    expect(meta.status).toBe(200);
    expect(meta.body).toMatchObject({ id: letter['id'], reasonCode: 'malformed_json', valueBytes: 25 });
    expect(meta.body).not.toHaveProperty('value');
    expect(meta.body).not.toHaveProperty('headers');
    const whole = await h.http<{ value: string }>('GET', `${path}?include=value`, { key: auditor });
    expect(whole.body.value).toContain('customer data');
    for (const query of ['limit=abc', 'limit=0', 'limit=501', 'limit=1.5', 'limit=-3', 'reason=DROP%20TABLE']) {
      expect({ query, ...(await h.http<{ code: string }>('GET', `/v1/dead-letters?${query}`, { key: auditor })) }).toMatchObject({ query, status: 400, body: { code: 'invalid_query' } });
    }
    expect((await h.http('GET', `${path}?include=everything`, { key: auditor })).status).toBe(400);
    expect((await h.http('GET', '/v1/dead-letters/set-aside?limit=9999', { key: auditor })).status).toBe(400);
    for (const p of ['/v1/dead-letters', path, `${path}?include=value`, '/v1/dead-letters/set-aside']) {
      expect({ p, status: (await h.http('GET', p, { key: null })).status }).toEqual({ p, status: 401 });
      for (const role of ['operator', 'reviewer'] as const) expect({ p, role, status: (await h.http('GET', p, { key: await h.apiKey(role) })).status }).toEqual({ p, role, status: 403 });
      expect({ p, status: (await h.http('GET', p, { key: await h.apiKey('agent', { agentId: 'support-assistant' }) })).status }).toEqual({ p, status: 403 });
    }
  });
});
