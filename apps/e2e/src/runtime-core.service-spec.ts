import { randomUUID } from 'node:crypto';
import { Injectable, Module } from '@nestjs/common';
import { EventTypes, Headers, Topics } from '@govmesh/contracts';
import { HandlesEvents, toOutgoingMessage, type BatchEventHandler, type Consumed, type UnitOfWork } from '@govmesh/messaging';
import { serviceBusProvider, serviceDatabaseModule } from '@govmesh/nest-runtime';
import { POLICY_DATABASE, PolicyServiceModule } from '@govmesh/service-policy';
import { TELEMETRY_DATABASE, TelemetryServiceModule } from '@govmesh/service-telemetry';
import { VERIFIER_DATABASE } from '@govmesh/service-verifier';
import { ServiceHarness } from '@govmesh/testing';

const SCHEMA = VERIFIER_DATABASE.schema;

/** A consumer of the outcomes topic that handles only one of the four event types on it. */
@Injectable()
@HandlesEvents(VERIFIER_DATABASE.service, [EventTypes.ContextRetrieved])
class ContextOnlyHandler implements BatchEventHandler {
  static seen: string[] = [];
  async handle(batch: ReadonlyArray<Consumed>, _uow: UnitOfWork): Promise<void> {
    ContextOnlyHandler.seen.push(...batch.map((c) => c.event.id));
  }
}

@Module({ imports: [serviceDatabaseModule(VERIFIER_DATABASE)], providers: [serviceBusProvider(VERIFIER_DATABASE.service, SCHEMA), ContextOnlyHandler] })
class ContextOnlyModule {}

describe('runtime core: consuming and relaying', () => {
  let h: ServiceHarness;

  beforeAll(async () => {
    h = await ServiceHarness.start({ modules: [ContextOnlyModule], schemas: [SCHEMA] });
  });

  afterAll(async () => {
    await h?.close();
  });

  it('skips and counts a valid event type it has no handler for, without a dead letter', async () => {
    const runId = `r-${randomUUID()}`;
    const before = h.published(Topics.deadLetters).length;
    const handled = h.event(EventTypes.ContextRetrieved, { runId, stepId: 'retrieve', citations: [], withheld: 0 });
    const unhandled = h.event(EventTypes.VerificationCompleted, { runId, stepId: 'verify', verdict: 'confirmed', reasons: [{ code: 'ok', message: 'read back' }] });
    await h.send(unhandled, handled);
    expect(ContextOnlyHandler.seen).toContain(handled.id);
    expect(ContextOnlyHandler.seen).not.toContain(unhandled.id);
    expect(h.published(Topics.deadLetters).length).toBe(before);
    const skipped = (await h.metrics.eventsSkipped.get()).values.find((v) => v.labels['type'] === EventTypes.VerificationCompleted);
    expect(skipped?.value).toBe(1);
  });

  it('still dead-letters an unknown event type on the same topic', async () => {
    const before = h.published(Topics.deadLetters).length;
    const event = { ...h.event(EventTypes.ContextRetrieved, { runId: 'r-x', stepId: 's', citations: [], withheld: 0 }), type: 'govmesh.context.teleported.v9' };
    await h.sendRaw(Topics.outcomes, JSON.stringify(event), 'r-x');
    const letters = h.published(Topics.deadLetters).slice(before);
    expect(letters.map((l) => l.headers[Headers.dlqReasonCode])).toEqual(['unknown_type']);
  });

  it('sets aside an outbox row the broker refuses for good, with its reason, and publishes the rest', async () => {
    const runId = `r-${randomUUID()}`;
    const good = [1, 2, 3].map((i) => h.event(EventTypes.ContextRetrieved, { runId: `${runId}-${i}`, stepId: 'retrieve', citations: [], withheld: 0 }));
    const rows = [
      toOutgoingMessage(good[0]),
      { topic: 'govmesh.nowhere', key: runId, value: Buffer.from('{"not":"published"}'), headers: {} },
      toOutgoingMessage(good[1]),
      { topic: Topics.outcomes, key: runId, value: Buffer.from(`{"pad":"${'x'.repeat(300 * 1024)}"}`), headers: {} },
      toOutgoingMessage(good[2]),
    ];
    await h.query('BEGIN');
    for (const [i, m] of rows.entries()) {
      await h.query(`INSERT INTO "${SCHEMA}"."outbox" (event_id, topic, message_key, value, headers) VALUES ($1, $2, $3, $4, $5)`, [`${runId}-row-${i}`, m.topic, m.key, m.value.toString(), JSON.stringify(m.headers)]);
    }
    await h.query('COMMIT');
    await h.settle();
    const published = h.published(Topics.outcomes).map((m) => JSON.parse(m.value!.toString()).id);
    expect(published).toEqual(expect.arrayContaining(good.map((e) => e.id)));
    const failed = await h.query<{ event_id: string; reason_code: string }>(`SELECT event_id, reason_code FROM "${SCHEMA}"."outbox_failed" WHERE event_id LIKE $1 ORDER BY seq`, [`${runId}-%`]);
    expect(failed).toEqual([
      { event_id: `${runId}-row-1`, reason_code: 'unknown_topic' },
      { event_id: `${runId}-row-3`, reason_code: 'too_large' },
    ]);
    const counted = (await h.metrics.outboxFailed.get()).values.map((v) => v.labels['reason']).sort();
    expect(counted).toEqual(['too_large', 'unknown_topic']);
  });
});

describe('runtime core: no dead-letter loops', () => {
  let h: ServiceHarness;

  beforeAll(async () => {
    h = await ServiceHarness.start({ modules: [TelemetryServiceModule], schemas: [TELEMETRY_DATABASE.schema] });
  });

  afterAll(async () => {
    await h?.close();
  });

  it('a message with a 200-character key makes exactly one dead letter, which is recorded once', async () => {
    const key = 'k'.repeat(200);
    const intent = h.event(EventTypes.IntentSubmitted, { intentId: `i-${randomUUID()}`, agentId: 'support-assistant', task: 'What is the status of acc-001?' });
    // On govmesh.results telemetry is the only govmesh reader, so the dead letter is its own (on
    // govmesh.intents it leaves it to policy).
    await h.sendRaw(Topics.results, JSON.stringify(intent), key);
    await new Promise((r) => setTimeout(r, 300));
    await h.settle();
    const letters = h.published(Topics.deadLetters);
    expect(letters).toHaveLength(1);
    expect(letters[0].headers[Headers.dlqReasonCode]).toBe('key_too_long');
    const stored = await h.query<{ message_key: string; reason_code: string }>(`SELECT message_key, reason_code FROM "telemetry"."dead_letters"`);
    expect(stored).toEqual([{ message_key: key, reason_code: 'key_too_long' }]);
  });

  it('a dead letter telemetry cannot decode is stored, never sent back to the dead-letter topic', async () => {
    const before = h.published(Topics.deadLetters).length;
    await h.sendRaw(Topics.deadLetters, Buffer.from([0, 1, 2, 0xff]), 'x'.repeat(500));
    expect(h.published(Topics.deadLetters).length).toBe(before + 1);
    const [row] = await h.query<{ value_encoding: string }>(`SELECT value_encoding FROM "telemetry"."dead_letters" WHERE length(message_key) = 500`);
    expect(row.value_encoding).toBe('base64');
  });
});

describe('runtime core: registry events', () => {
  let h: ServiceHarness;

  beforeAll(async () => {
    h = await ServiceHarness.start({ modules: [PolicyServiceModule, TelemetryServiceModule], schemas: [POLICY_DATABASE.schema, TELEMETRY_DATABASE.schema] });
  });

  afterAll(async () => {
    await h?.close();
  });

  it('an agent registered and then changed emits two events keyed by the agent id, both in the audit chain', async () => {
    const agentId = `agent-${randomUUID()}`;
    const put = (body: Record<string, unknown>) => h.http('PUT', `/v1/agents/${agentId}`, { body });
    expect((await put({ version: '1.0.0', owner: 'support-operations', tier: 'assist' })).status).toBe(200);
    expect((await put({ version: '1.1.0', owner: 'support-operations', tier: 'execute_low' })).status).toBe(200);
    await h.settle();
    await new Promise((r) => setTimeout(r, 200));
    await h.settle();
    const changes = h.emitted(EventTypes.AgentChanged).filter((e) => e.data.agentId === agentId);
    expect(changes.map((e) => [e.data.change, e.data.agent.tier, e.data.previous?.tier ?? null])).toEqual([
      ['registered', 'assist', null],
      ['updated', 'execute_low', 'assist'],
    ]);
    expect(changes.every((e) => e.data.actor.kind === 'operator' && e.data.actor.id.startsWith('key:'))).toBe(true);
    const keys = h.published(Topics.registry).filter((m) => m.key === agentId);
    expect(keys).toHaveLength(2);
    const audited = await h.query<{ type: string; run_id: string | null }>(`SELECT type, run_id FROM "telemetry"."audit_records" WHERE payload->'data'->>'agentId' = $1 ORDER BY seq`, [agentId]);
    expect(audited).toEqual([
      { type: EventTypes.AgentChanged, run_id: null },
      { type: EventTypes.AgentChanged, run_id: null },
    ]);
  });
});
