import { Kafka, logLevel, type Consumer, type Producer } from 'kafkajs';

/**
 * Child process of the benchmark: bare kafkajs relays, the baseline the mesh is compared with.
 * Each relay is its own consumer group on one topic and produces every message of a batch,
 * key and value unchanged, to the next topic. Consumer and producer settings mirror the mesh's
 * KafkaTransport (libs/messaging/src/kafka-transport.ts): eachBatch with 3 partitions
 * concurrently, maxWaitTimeInMs 100, acks -1, no idempotence, maxInFlightRequests 1, offsets
 * committed after the produce. No database, no decoding. Each relay owns its producer (a mesh
 * service has one producer, but only its single outbox loop sends on it, one batch of every
 * pending row at a time; relays sharing one producer with one request in flight would queue
 * behind each other message by message).
 *
 * Config comes as JSON in BENCH_RELAY_CONFIG; the parent talks over the IPC channel:
 * we send {type:'ready'} once every consumer joined its group, and exit on {type:'stop'} or
 * when the channel closes (the parent died).
 */
export interface RelayHop {
  from: string;
  to: string;
  groupId: string;
}

export interface RelayConfig {
  name: string;
  brokers: string;
  hops: RelayHop[];
  partitionsConsumedConcurrently: number;
  sessionTimeoutMs: number;
  maxWaitTimeInMs: number;
}

async function main(): Promise<void> {
  const config = JSON.parse(process.env['BENCH_RELAY_CONFIG'] ?? '{}') as RelayConfig;
  const kafka = new Kafka({
    clientId: `bench-relay-${config.name}`,
    brokers: config.brokers.split(','),
    logLevel: logLevel.ERROR,
    retry: { initialRetryTime: 100, retries: 8 },
    logCreator: () => ({ namespace, log }) => process.stderr.write(`[relay ${config.name}] kafkajs ${namespace}: ${log.message}\n`),
  });
  const producers: Producer[] = [];
  const consumers: Consumer[] = [];
  let stopping = false;
  const stop = async (code: number) => {
    if (stopping) return;
    stopping = true;
    const hard = setTimeout(() => process.exit(code), 5000);
    await Promise.all(consumers.map((c) => c.disconnect().catch(() => undefined)));
    await Promise.all(producers.map((p) => p.disconnect().catch(() => undefined)));
    clearTimeout(hard);
    process.exit(code);
  };
  process.on('message', (m: { type?: string }) => {
    if (m?.type === 'stop') void stop(0);
  });
  process.on('disconnect', () => void stop(0));

  const joins: Promise<void>[] = [];
  for (const hop of config.hops) {
    const producer = kafka.producer({ allowAutoTopicCreation: false, idempotent: false, maxInFlightRequests: 1 });
    producers.push(producer);
    await producer.connect();
    const consumer = kafka.consumer({
      groupId: hop.groupId,
      sessionTimeout: config.sessionTimeoutMs,
      heartbeatInterval: Math.max(500, Math.floor(config.sessionTimeoutMs / 10)),
      maxWaitTimeInMs: config.maxWaitTimeInMs,
      allowAutoTopicCreation: false,
    });
    consumers.push(consumer);
    joins.push(new Promise((resolve) => consumer.on(consumer.events.GROUP_JOIN, () => resolve())));
    await consumer.connect();
    await consumer.subscribe({ topic: hop.from, fromBeginning: true });
    await consumer.run({
      autoCommit: true,
      // The same offset commit cadence as the mesh's KafkaTransport.
      autoCommitInterval: 1000,
      eachBatchAutoResolve: false,
      partitionsConsumedConcurrently: config.partitionsConsumedConcurrently,
      eachBatch: async ({ batch, resolveOffset, commitOffsetsIfNecessary }) => {
        if (batch.messages.length === 0) return;
        await producer.send({
          topic: hop.to,
          acks: -1,
          messages: batch.messages.map((m) => ({ key: m.key, value: m.value, headers: m.headers })),
        });
        resolveOffset(batch.lastOffset());
        await commitOffsetsIfNecessary();
      },
    });
  }
  await Promise.all(joins);
  process.send?.({ type: 'ready', pid: process.pid });
}

main().catch((err) => {
  process.stderr.write(`[relay] failed: ${(err as Error).stack ?? err}\n`);
  process.exit(1);
});
