import { randomUUID } from 'node:crypto';
import { Kafka, logLevel, type Consumer, type IHeaders, type Producer } from 'kafkajs';

/**
 * A plain kafkajs client as an outside producer would use it: no govmesh code involved, so a
 * test through it proves the wire contract, not our libraries.
 */
export interface ReceivedMessage {
  topic: string;
  key: string | null;
  value: Buffer | null;
  headers: Record<string, string>;
  json?: Record<string, unknown>;
}

export class PlainKafkaClient {
  private readonly kafka: Kafka;
  private producer?: Producer;
  private readonly consumers: Consumer[] = [];
  readonly received = new Map<string, ReceivedMessage[]>();

  constructor(brokers: string) {
    this.kafka = new Kafka({ clientId: `outside-producer-${randomUUID().slice(0, 8)}`, brokers: brokers.split(','), logLevel: logLevel.NOTHING });
  }

  async send(topic: string, messages: Array<{ key?: string | null; value: string | Buffer; headers?: IHeaders }>): Promise<void> {
    if (!this.producer) {
      this.producer = this.kafka.producer({ idempotent: false, allowAutoTopicCreation: false });
      await this.producer.connect();
    }
    await this.producer.send({ topic, acks: -1, messages });
  }

  /** Starts collecting everything on the topics (from the beginning) into `received`. */
  async collect(topics: string[]): Promise<void> {
    const consumer = this.kafka.consumer({ groupId: `outside-reader-${randomUUID()}`, maxWaitTimeInMs: 100 });
    this.consumers.push(consumer);
    await consumer.connect();
    for (const topic of topics) {
      this.received.set(topic, this.received.get(topic) ?? []);
      await consumer.subscribe({ topic, fromBeginning: true });
    }
    await consumer.run({
      eachMessage: async ({ topic, message }) => {
        const headers: Record<string, string> = {};
        for (const [k, v] of Object.entries(message.headers ?? {})) if (v !== undefined) headers[k] = String(Array.isArray(v) ? v[0] : v);
        let json: Record<string, unknown> | undefined;
        try {
          json = message.value ? JSON.parse(message.value.toString('utf8')) : undefined;
        } catch {
          json = undefined;
        }
        this.received.get(topic)!.push({ topic, key: message.key?.toString('utf8') ?? null, value: message.value, headers, json });
      },
    });
  }

  messages(topic: string): ReceivedMessage[] {
    return this.received.get(topic) ?? [];
  }

  async close(): Promise<void> {
    for (const c of this.consumers) await c.disconnect().catch(() => undefined);
    await this.producer?.disconnect().catch(() => undefined);
  }
}

/** A structured CloudEvent for an intent, written by hand as a producer in another language would. */
export function intentCloudEvent(intent: { intentId: string; agentId: string; task: string; input?: Record<string, unknown> }): string {
  return JSON.stringify({
    specversion: '1.0',
    id: randomUUID(),
    source: 'urn:test:outside-producer',
    type: 'govmesh.intent.submitted.v1',
    time: new Date().toISOString(),
    subject: intent.intentId,
    datacontenttype: 'application/json',
    data: intent,
  });
}
