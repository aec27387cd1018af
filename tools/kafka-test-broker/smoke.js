#!/usr/bin/env node
'use strict';

/**
 * End-to-end smoke test of kafka-test-broker with kafkajs (not a jest test).
 *
 *   NODE_PATH=/path/to/node_modules node tools/kafka-test-broker/smoke.js [--brokers N]
 *
 * Starts a mock cluster (3 brokers by default) with topic smoke:3, then:
 *   1. produces 100 keyed messages and consumes them through a consumer group;
 *   2. makes broker 1 leader of partition 0, takes it down, produces during the
 *      outage, brings it back up after 2 s, and checks that the send completes
 *      only then and that the same consumer group receives everything;
 *   3. exercises the other fault commands: injected Produce errors (retried by
 *      the client) and broker RTT.
 * Prints a summary and exits 0 on success, 1 on failure.
 * Set SMOKE_DEBUG=1 to see librdkafka's and kafkajs's logs.
 */

const { startTestBroker, ApiKeys, ErrorCodes } = require('./index.js');

let Kafka, logLevel;
try {
  ({ Kafka, logLevel } = require('kafkajs'));
} catch {
  console.error('kafkajs not found; install it somewhere and set NODE_PATH (see README.md)');
  process.exit(1);
}

const TOPIC = 'smoke';
const PARTITIONS = 3;
const COUNT = 100;
const DEBUG = !!process.env.SMOKE_DEBUG;

const brokersArg = process.argv.indexOf('--brokers');
const BROKERS = brokersArg > 0 ? Number(process.argv[brokersArg + 1]) : 3;

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

async function waitFor(what, predicate, timeoutMs = 30_000) {
  const deadline = Date.now() + timeoutMs;
  while (!predicate()) {
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await sleep(50);
  }
}

async function main() {
  let passed = 0;
  const step = async (name, fn) => {
    const t0 = Date.now();
    try {
      const detail = await fn();
      passed++;
      console.log(`PASS ${name} (${Date.now() - t0} ms)${detail ? `: ${detail}` : ''}`);
    } catch (err) {
      console.log(`FAIL ${name} (${Date.now() - t0} ms): ${err.message}`);
      throw err;
    }
  };

  const broker = await startTestBroker({
    brokers: BROKERS,
    topics: [{ name: TOPIC, partitions: PARTITIONS }],
    log: DEBUG ? (line) => console.error(`[broker] ${line}`) : undefined,
  });
  console.log(`mock cluster: ${BROKERS} broker(s), pid ${broker.pid}, BOOTSTRAP=${broker.bootstrap}`);

  const kafka = new Kafka({
    clientId: 'kafka-test-broker-smoke',
    brokers: broker.bootstrap.split(','),
    logLevel: DEBUG ? logLevel.INFO : logLevel.NOTHING,
    retry: { initialRetryTime: 100, retries: 10 },
  });
  // The mock cluster has no idempotent-producer/controller support that
  // kafkajs accepts, so the producer must be non-idempotent.
  const producer = kafka.producer({ idempotent: false, allowAutoTopicCreation: false });
  const consumer = kafka.consumer({
    groupId: `smoke-${process.pid}`,
    sessionTimeout: 10_000,
    heartbeatInterval: 500,
    // The mock broker never answers an empty Fetch early: it always holds it
    // for the full MaxWait (kafkajs default 5000 ms), which would add ~5 s of
    // latency per message. Keep it short.
    maxWaitTimeInMs: 100,
    retry: { initialRetryTime: 100, retries: 10 },
  });

  // Messages received per round, keyed by message key; duplicates are
  // possible after faults (non-idempotent retries), so count distinct keys.
  const received = new Map(); // round -> Map(key -> partition)
  const duplicates = new Map(); // round -> count
  let crashes = 0;
  consumer.on(consumer.events.CRASH, (e) => {
    crashes++;
    if (DEBUG) console.error('consumer crash:', e.payload.error.message, 'restart:', e.payload.restart);
  });

  const produceRound = async (round) => {
    const messages = Array.from({ length: COUNT }, (_, i) => ({
      key: `${round}-key-${i}`,
      value: JSON.stringify({ round, i }),
    }));
    const t0 = Date.now();
    await producer.send({ topic: TOPIC, messages });
    return Date.now() - t0;
  };
  const awaitRound = async (round) => {
    if (!received.has(round)) received.set(round, new Map());
    await waitFor(`${COUNT} messages of ${round}`, () => received.get(round).size >= COUNT);
    const perPartition = new Array(PARTITIONS).fill(0);
    for (const p of received.get(round).values()) perPartition[p]++;
    return `${received.get(round).size}/${COUNT} distinct, per partition [${perPartition}], ` +
      `duplicates ${duplicates.get(round) || 0}`;
  };

  try {
    await step('connect producer', () => producer.connect());
    await step('connect consumer + subscribe', async () => {
      await consumer.connect();
      await consumer.subscribe({ topic: TOPIC, fromBeginning: true });
      await consumer.run({
        eachMessage: async ({ partition, message }) => {
          const { round } = JSON.parse(message.value.toString());
          if (!received.has(round)) received.set(round, new Map());
          const keys = received.get(round);
          const key = message.key.toString();
          if (keys.has(key)) duplicates.set(round, (duplicates.get(round) || 0) + 1);
          keys.set(key, partition);
        },
      });
    });

    await step('produce round1', async () => `${COUNT} msgs in ${await produceRound('round1')} ms`);
    await step('consume round1', () => awaitRound('round1'));

    // `down` does not move partition leadership (nor the group coordinator),
    // so make sure broker 1 leads something; otherwise the outage is a no-op.
    await step('leader smoke/0 -> broker 1', async () => {
      await broker.setPartitionLeader(TOPIC, 0, 1);
      const admin = kafka.admin();
      await admin.connect();
      const meta = await admin.fetchTopicMetadata({ topics: [TOPIC] });
      await admin.disconnect();
      return 'leaders ' + meta.topics[0].partitions
        .sort((a, b) => a.partitionId - b.partitionId)
        .map((p) => `p${p.partitionId}->b${p.leader}`)
        .join(' ');
    });
    await step('down 1, produce round2 during the outage, up 1 after 2 s', async () => {
      await broker.down(1);
      const t0 = Date.now();
      const upLater = sleep(2000).then(() => broker.up(1));
      // Partition 0 is unreachable until broker 1 is back, so this send can
      // only complete through kafkajs's retries after `up 1`.
      const took = await produceRound('round2');
      await upLater;
      if (took < 1500) throw new Error(`produce finished in ${took} ms, during the outage`);
      return `${COUNT} msgs acknowledged ${Date.now() - t0} ms after down (up at 2000 ms)`;
    });
    await step('consume round2', () => awaitRound('round2'));
    await step('produce + consume round2b (after up)', async () => {
      const took = await produceRound('round2b');
      return `produce ${took} ms; ${await awaitRound('round2b')}`;
    });

    await step('errors Produce NOT_LEADER x3', async () => {
      await broker.pushRequestErrors(ApiKeys.Produce, ErrorCodes.NOT_LEADER_FOR_PARTITION, 3);
      return `${COUNT} msgs in ${await produceRound('round3')} ms despite 3 injected errors`;
    });
    await step('consume round3', () => awaitRound('round3'));

    await step('rtt 300 ms on all brokers', async () => {
      const before = await produceRound('round4');
      for (const id of broker.brokerIds) await broker.setRtt(id, 300);
      const during = await produceRound('round5');
      for (const id of broker.brokerIds) await broker.setRtt(id, 0);
      if (during < 300) throw new Error(`produce took ${during} ms with 300 ms RTT`);
      return `produce ${before} ms -> ${during} ms`;
    });
    await step('consume round4 + round5', async () => `${await awaitRound('round4')}; ${await awaitRound('round5')}`);
  } finally {
    await consumer.disconnect().catch(() => {});
    await producer.disconnect().catch(() => {});
    await broker.stop();
  }

  return { passed, crashes };
}

main()
  .then(({ passed, crashes }) => {
    console.log(`SMOKE OK: ${passed} steps passed; consumer crash/restarts: ${crashes}`);
    process.exit(0);
  })
  .catch((err) => {
    console.error(`SMOKE FAILED: ${err.stack || err.message}`);
    process.exit(1);
  });
