import { Kafka, logLevel, type Admin, type Consumer, type IHeaders, type Producer } from 'kafkajs';
import { PermanentPublishError, type ConsumerLag, type IncomingMessage, MessagingLogger, OutgoingMessage, SubscribeOptions, Subscription, TopicToProvision, Transport } from './transport';

export interface KafkaTransportOptions {
  brokers: string[];
  clientId: string;
  logger: MessagingLogger;
  /** Partitions of one topic handled at the same time by one consumer. */
  partitionsConsumedConcurrently?: number;
  sessionTimeoutMs?: number;
  /** Upper bound on how long a fetch waits for data; lower means less idle latency. */
  maxWaitTimeMs?: number;
}

function headersToStrings(headers: IHeaders | undefined): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [name, value] of Object.entries(headers ?? {})) {
    if (value === undefined) continue;
    const first = Array.isArray(value) ? value[0] : value;
    out[name] = Buffer.isBuffer(first) ? first.toString('utf8') : String(first);
  }
  return out;
}

/** How often a consumer commits its offsets. */
export const COMMIT_INTERVAL_MS = 1000;

const PERMANENT_KAFKA_ERRORS = new Set(['MESSAGE_TOO_LARGE', 'INVALID_RECORD', 'RECORD_LIST_TOO_LARGE', 'INVALID_TOPIC_EXCEPTION', 'CORRUPT_MESSAGE', 'TOPIC_AUTHORIZATION_FAILED']);

function kafkaLogLevel(): logLevel {
  return process.env['LOG_LEVEL'] === 'debug' ? logLevel.INFO : logLevel.WARN;
}

/**
 * Kafka through kafkajs. The producer is not kafkajs's idempotent producer: delivery safety
 * comes from the outbox (publish again after a crash) and the consumers' inbox (skip what was
 * seen), which also works against brokers without a transaction coordinator.
 */
export class KafkaTransport implements Transport {
  readonly kind = 'kafka' as const;
  private readonly kafka: Kafka;
  private producer?: Producer;
  private readonly consumers = new Set<Consumer>();
  /** Connected on the first lag reading and kept: one connection, not one per reading. */
  private lagAdmin?: Promise<Admin>;

  constructor(private readonly options: KafkaTransportOptions) {
    const log = options.logger;
    this.kafka = new Kafka({
      clientId: options.clientId,
      brokers: options.brokers,
      logLevel: kafkaLogLevel(),
      retry: { initialRetryTime: 100, retries: 8 },
      logCreator: () => ({ namespace, level, log: entry }) => {
        const text = `kafkajs ${namespace}: ${entry.message}`;
        if (level === logLevel.ERROR) log.error(text);
        else if (level === logLevel.WARN) log.warn(text);
        else log.log(text);
      },
    });
  }

  async connect(): Promise<void> {
    this.producer = this.kafka.producer({ allowAutoTopicCreation: false, idempotent: false, maxInFlightRequests: 1 });
    await this.producer.connect();
  }

  /**
   * Creates missing topics through the admin API (real Kafka). A broker without a controller
   * (librdkafka's mock cluster) refuses; there the topics must already exist, which is checked.
   */
  async ensureTopics(topics: TopicToProvision[]): Promise<void> {
    const admin = this.kafka.admin();
    await admin.connect();
    try {
      const existing = new Set(await admin.listTopics());
      const missing = topics.filter((t) => !existing.has(t.name));
      if (missing.length === 0) return;
      try {
        await admin.createTopics({ topics: missing.map((t) => ({ topic: t.name, numPartitions: t.partitions })), waitForLeaders: true });
      } catch (err) {
        const after = new Set(await admin.listTopics());
        const stillMissing = missing.filter((t) => !after.has(t.name)).map((t) => t.name);
        if (stillMissing.length > 0) {
          throw new Error(`Kafka topics ${stillMissing.join(', ')} are missing and could not be created: ${(err as Error).message}`);
        }
      }
    } finally {
      await admin.disconnect();
    }
  }

  /**
   * Kafka error types that no retry fixes for the records sent: the broker refuses the records
   * themselves. Anything else (leader moves, timeouts, broker down) is transient.
   */
  permanentPublishError(err: unknown): PermanentPublishError | null {
    for (let e = err as { type?: string; message?: string; originalError?: unknown; cause?: unknown } | undefined, depth = 0; e && depth < 5; depth++) {
      if (e.type && PERMANENT_KAFKA_ERRORS.has(e.type)) return new PermanentPublishError(e.type.toLowerCase(), e.message ?? e.type);
      e = (e.originalError ?? e.cause) as typeof e;
    }
    return null;
  }

  async publish(messages: OutgoingMessage[]): Promise<void> {
    if (!this.producer) throw new Error('Kafka transport is not connected');
    const byTopic = new Map<string, OutgoingMessage[]>();
    for (const m of messages) {
      const list = byTopic.get(m.topic) ?? [];
      list.push(m);
      byTopic.set(m.topic, list);
    }
    await this.producer.sendBatch({
      acks: -1,
      topicMessages: [...byTopic].map(([topic, list]) => ({
        topic,
        messages: list.map((m) => ({ key: m.key, value: m.value, headers: m.headers })),
      })),
    });
  }

  async subscribe(options: SubscribeOptions): Promise<Subscription> {
    const consumer = this.kafka.consumer({
      groupId: options.groupId,
      sessionTimeout: this.options.sessionTimeoutMs ?? 30000,
      heartbeatInterval: Math.max(500, Math.floor((this.options.sessionTimeoutMs ?? 30000) / 10)),
      // A lingering consumer lets the broker hold the fetch until a batch worth handling is there.
      maxWaitTimeInMs: options.lingerMs ? Math.max(options.lingerMs, this.options.maxWaitTimeMs ?? 100) : (this.options.maxWaitTimeMs ?? 100),
      ...(options.lingerMs ? { minBytes: 256 * 1024 } : {}),
      allowAutoTopicCreation: false,
    });
    this.consumers.add(consumer);
    await consumer.connect();
    for (const topic of options.topics) await consumer.subscribe({ topic, fromBeginning: true });
    let stopping = false;
    await consumer.run({
      autoCommit: true,
      // Offsets are committed at most this often rather than after every batch: a round trip to
      // the broker per batch otherwise. What a crash redelivers, the consumer's inbox skips.
      autoCommitInterval: COMMIT_INTERVAL_MS,
      eachBatchAutoResolve: false,
      partitionsConsumedConcurrently: this.options.partitionsConsumedConcurrently ?? 3,
      eachBatch: async ({ batch, resolveOffset, heartbeat, commitOffsetsIfNecessary, isRunning, isStale }) => {
        if (batch.messages.length === 0) return;
        const messages: IncomingMessage[] = batch.messages.map((m) => ({
          topic: batch.topic,
          partition: batch.partition,
          offset: m.offset,
          key: m.key ? m.key.toString('utf8') : null,
          value: m.value,
          headers: headersToStrings(m.headers),
          timestamp: m.timestamp,
        }));
        await options.handleBatch({
          topic: batch.topic,
          partition: batch.partition,
          messages,
          heartbeat,
          isStale: () => stopping || !isRunning() || isStale(),
        });
        resolveOffset(batch.lastOffset());
        await commitOffsetsIfNecessary();
      },
    });
    return {
      close: async () => {
        stopping = true;
        await consumer.disconnect();
        this.consumers.delete(consumer);
      },
    };
  }

  /**
   * Per topic: the sum over its partitions of the high watermark minus the group's committed
   * offset (minus the earliest offset still kept where the group committed nothing yet).
   */
  async consumerLag(groupId: string, topics: readonly string[]): Promise<ConsumerLag[]> {
    this.lagAdmin ??= (async () => {
      const admin = this.kafka.admin();
      await admin.connect();
      return admin;
    })().catch((err) => {
      this.lagAdmin = undefined;
      throw err;
    });
    const admin = await this.lagAdmin;
    const committed = await admin.fetchOffsets({ groupId, topics: [...topics] });
    return Promise.all(
      topics.map(async (topic) => {
        const marks = await admin.fetchTopicOffsets(topic);
        const offsets = new Map((committed.find((c) => c.topic === topic)?.partitions ?? []).map((p) => [p.partition, Number(p.offset)]));
        const lag = marks.reduce((sum, m) => {
          const done = offsets.get(m.partition) ?? -1;
          return sum + Math.max(0, Number(m.high) - (done >= 0 ? done : Number(m.low)));
        }, 0);
        return { topic, lag };
      }),
    );
  }

  async close(): Promise<void> {
    const admin = this.lagAdmin;
    this.lagAdmin = undefined;
    if (admin) await admin.then((a) => a.disconnect()).catch(() => undefined);
    for (const c of [...this.consumers]) await c.disconnect().catch(() => undefined);
    this.consumers.clear();
    await this.producer?.disconnect().catch(() => undefined);
  }
}
