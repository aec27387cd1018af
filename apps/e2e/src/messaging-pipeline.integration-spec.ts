import { randomUUID } from 'node:crypto';
import type { DataSource } from 'typeorm';
import { createEvent, encodeEvent, EventTypes, Topics, type GovmeshEvent } from '@govmesh/contracts';
import { GovmeshMetrics } from '@govmesh/observability';
import { createServiceDataSource } from '@govmesh/persistence';
import { VERIFIER_DATABASE } from '@govmesh/service-verifier';
import { createScratchDatabase, expectEventually, PlainKafkaClient, startTestKafka, type ScratchDatabase, type TestKafka } from '@govmesh/testing';
import {
  appendToOutbox,
  EventConsumer,
  KafkaTransport,
  MESSAGING_ENTITIES,
  OutboxRelay,
  PermanentHandlerError,
  toOutgoingMessage,
  type UnitOfWork,
} from '@govmesh/messaging';

type PerEvent = (event: GovmeshEvent<typeof EventTypes.VerificationRequested>, uow: UnitOfWork) => Promise<void>;

const quiet = { log: () => undefined, warn: () => undefined, error: () => undefined };
const SCHEMA = VERIFIER_DATABASE.schema;

function verificationRequest(runId: string, id = randomUUID()): GovmeshEvent {
  return createEvent(
    EventTypes.VerificationRequested,
    { runId, stepId: 'verify', claim: { system: 'sandbox', entity: 'account', id: 'acc-001', fields: { status: 'active' } } },
    { source: 'urn:test', subject: runId, correlationId: runId, id },
  );
}

/**
 * The consumer pipeline against real Postgres and the Kafka-protocol broker: batching, the
 * inbox, retries and dead letters, as a service uses them.
 */
describe('EventConsumer over Kafka and Postgres', () => {
  let kafka: TestKafka;
  let db: ScratchDatabase;
  let dataSource: DataSource;
  let transport: KafkaTransport;
  let relay: OutboxRelay;
  let consumer: EventConsumer | undefined;
  let client: PlainKafkaClient;
  let metrics: GovmeshMetrics;

  beforeAll(async () => {
    kafka = await startTestKafka();
    db = await createScratchDatabase('consumer');
    dataSource = await createServiceDataSource({
      schema: SCHEMA,
      entities: [...VERIFIER_DATABASE.entities, ...MESSAGING_ENTITIES],
      migrations: VERIFIER_DATABASE.migrations,
      target: { kind: 'postgres', url: db.url },
    });
    await dataSource.query(`CREATE TABLE "${SCHEMA}".spec_effects (event_id text, run_id text, txid bigint)`);
    transport = new KafkaTransport({ brokers: kafka.brokers.split(','), clientId: 'consumer-spec', logger: quiet, sessionTimeoutMs: 6000 });
    await transport.connect();
    client = new PlainKafkaClient(kafka.brokers);
    await client.collect([Topics.deadLetters]);
  });

  afterEach(async () => {
    await consumer?.stop();
    await relay?.stop();
    consumer = undefined;
  });

  afterAll(async () => {
    await client?.close();
    await transport?.close();
    await dataSource?.destroy();
    await kafka?.stop();
    await db?.drop();
  });

  async function startConsumer(handler: PerEvent, groupId = `spec-${randomUUID()}`): Promise<void> {
    metrics = new GovmeshMetrics();
    relay = new OutboxRelay({ service: 'spec', schema: SCHEMA, dataSource, transport, metrics, logger: quiet, pollIntervalMs: 100 });
    relay.start();
    consumer = new EventConsumer({
      service: 'spec',
      schema: SCHEMA,
      groupId,
      dataSource,
      transport,
      metrics,
      logger: quiet,
      onCommitted: () => relay.wake(),
      handlers: [
        {
          service: 'spec',
          name: 'SpecHandler',
          types: [EventTypes.VerificationRequested],
          rawTopics: [],
          handler: {
            handle: async (events, uow) => {
              for (const c of events) await handler(c.event as GovmeshEvent<typeof EventTypes.VerificationRequested>, uow);
            },
          },
        },
      ],
      retryBaseMs: 20,
      retryMaxMs: 200,
    });
    await consumer.start();
  }

  const recordEffect: PerEvent = async (event, uow) => {
    await uow.query(`INSERT INTO "${SCHEMA}".spec_effects (event_id, run_id, txid) VALUES ($1, $2, txid_current())`, [event.id, event.data.runId]);
  };

  const effectsFor = (runPrefix: string) =>
    db.query<{ event_id: string; txid: string }>(`SELECT event_id, txid::text AS txid FROM "${SCHEMA}".spec_effects WHERE run_id LIKE $1`, [`${runPrefix}%`]);

  async function publish(events: GovmeshEvent[], key: string): Promise<void> {
    await transport.publish(events.map((e) => ({ ...toOutgoingMessage(e, key) })));
  }

  it('handles a batch of events in one transaction, not one per message', async () => {
    const prefix = `batch-${randomUUID()}`;
    // One key, so all land on one partition and arrive as one or a few batches.
    await publish(Array.from({ length: 60 }, (_, i) => verificationRequest(`${prefix}-${i}`)), prefix);
    await startConsumer(recordEffect);
    const effects = await expectEventually(async () => {
      const rows = await effectsFor(prefix);
      expect(rows).toHaveLength(60);
      return rows;
    });
    const transactions = new Set(effects.map((e) => e.txid)).size;
    expect(transactions).toBeLessThan(60);
    expect(transactions).toBeGreaterThanOrEqual(1);
  });

  it('skips a redelivered event: the inbox records ids with the effects', async () => {
    const prefix = `dup-${randomUUID()}`;
    const event = verificationRequest(`${prefix}-1`);
    // Same key: the copies and the sentinel share a partition, so the sentinel is handled last.
    const sentinel = verificationRequest(`${prefix}-sentinel`);
    await publish([event, event, event, sentinel], prefix);
    await startConsumer(recordEffect);
    await expectEventually(async () => expect((await effectsFor(prefix)).map((e) => e.event_id)).toContain(sentinel.id));
    expect((await effectsFor(`${prefix}-1`)).map((e) => e.event_id)).toEqual([event.id]);
    expect((await metrics.inboxDuplicates.get()).values.reduce((n, v) => n + v.value, 0)).toBeGreaterThanOrEqual(2);
  });

  it('retries a transient database error with backoff and applies the effect once, without a dead letter', async () => {
    const prefix = `transient-${randomUUID()}`;
    let failures = 0;
    await publish([verificationRequest(`${prefix}-1`)], prefix);
    const dlqBefore = client.messages(Topics.deadLetters).length;
    await startConsumer(async (event, ctx) => {
      if (failures < 3) {
        failures++;
        throw Object.assign(new Error('could not serialize access due to concurrent update'), { code: '40001' });
      }
      await recordEffect(event, ctx);
    });
    await expectEventually(async () => expect(await effectsFor(prefix)).toHaveLength(1));
    expect(failures).toBe(3);
    expect((await metrics.consumeRetries.get()).values.reduce((n, v) => n + v.value, 0)).toBeGreaterThanOrEqual(3);
    expect(client.messages(Topics.deadLetters).length).toBe(dlqBefore);
  });

  it('isolates a message whose handler keeps failing, dead-letters it with the reason, and handles the rest of the batch', async () => {
    const prefix = `poison-${randomUUID()}`;
    const events = Array.from({ length: 5 }, (_, i) => verificationRequest(`${prefix}-${i}`));
    const poison = events[2];
    await publish(events, prefix);
    await startConsumer(async (event, ctx) => {
      if (event.id === poison.id) throw new PermanentHandlerError('claim refers to a system this verifier cannot read');
      await recordEffect(event, ctx);
    });
    await expectEventually(async () => expect(await effectsFor(prefix)).toHaveLength(4));
    const letter = await expectEventually(() => {
      const found = client.messages(Topics.deadLetters).find((m) => m.value?.toString() === encodeEvent(poison).toString());
      expect(found).toBeDefined();
      return found!;
    });
    expect(letter.headers['govmesh_dlq_reason_code']).toBe('handler_failed');
    expect(letter.headers['govmesh_dlq_reason']).toContain('cannot read');
    expect((await effectsFor(prefix)).map((e) => e.event_id)).not.toContain(poison.id);
  });

  it('keeps outbox rows when the broker refuses them and publishes them once it is back', async () => {
    const runId = `outbox-${randomUUID()}`;
    await dataSource.transaction(async (manager) => {
      await appendToOutbox(manager, SCHEMA, [verificationRequest(runId)]);
    });
    const refusing = new KafkaTransport({ brokers: kafka.brokers.split(','), clientId: 'refusing', logger: quiet });
    // Not connected: every publish fails, as with the broker unreachable.
    metrics = new GovmeshMetrics();
    const failingRelay = new OutboxRelay({ service: 'spec', schema: SCHEMA, dataSource, transport: refusing, metrics, logger: quiet, pollIntervalMs: 50 });
    await expect(failingRelay.drain()).rejects.toThrow(/not connected/);
    expect(await db.query(`SELECT 1 FROM "${SCHEMA}".outbox`)).toHaveLength(1);
    const collector = new PlainKafkaClient(kafka.brokers);
    await collector.collect([Topics.verifyCommands]);
    relay = new OutboxRelay({ service: 'spec', schema: SCHEMA, dataSource, transport, metrics, logger: quiet, pollIntervalMs: 50 });
    expect(await relay.drain()).toBe(1);
    expect(await db.query(`SELECT 1 FROM "${SCHEMA}".outbox`)).toHaveLength(0);
    await expectEventually(() => expect(collector.messages(Topics.verifyCommands).filter((m) => m.key === runId)).toHaveLength(1));
    await collector.close();
  });
});
