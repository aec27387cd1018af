import { randomUUID } from 'node:crypto';
import { performance } from 'node:perf_hooks';
import { Kafka, logLevel, type Consumer, type EachBatchPayload, type Producer } from 'kafkajs';
import { sleep, summarize } from './stats';

/**
 * The measuring side of the benchmark: a plain kafkajs producer that publishes keyed messages
 * (all at once, or paced by the clock) and a collector that timestamps each result as it
 * arrives. Latency of one message = result receive time - publish time of its key. Both sides
 * run in this process and use the same monotonic clock.
 */

export const now = (): number => performance.now();
/** Converts a `now()` reading to epoch milliseconds (to compare with event timestamps). */
export const toEpochMs = (t: number): number => performance.timeOrigin + t;

function kafkaFor(brokers: string, clientId: string): Kafka {
  return new Kafka({ clientId, brokers: brokers.split(','), logLevel: logLevel.NOTHING, retry: { initialRetryTime: 100, retries: 8 } });
}

export interface OutMessage {
  key: string;
  value: string | Buffer;
}

export class Publisher {
  private readonly producer: Producer;

  constructor(brokers: string, label: string) {
    this.producer = kafkaFor(brokers, `bench-publisher-${label}`).producer({ idempotent: false, allowAutoTopicCreation: false });
  }

  connect(): Promise<void> {
    return this.producer.connect();
  }

  async send(topic: string, messages: OutMessage[]): Promise<void> {
    await this.producer.send({ topic, acks: -1, messages });
  }

  async close(): Promise<void> {
    await this.producer.disconnect().catch(() => undefined);
  }
}

export interface Received {
  at: number;
  outcome?: string;
}

/**
 * A kafkajs consumer in a group of its own that reads `topics` from the beginning and hands each
 * batch to `eachBatch`. `start` resolves once it joined its group (the mock broker's first join
 * takes ~3 s).
 */
export class TopicReader {
  private readonly consumer: Consumer;

  constructor(
    brokers: string,
    private readonly topics: readonly string[],
    label: string,
    private readonly eachBatch: (batch: EachBatchPayload['batch']) => void,
  ) {
    this.consumer = kafkaFor(brokers, `bench-${label}`).consumer({
      groupId: `bench-${label}-${randomUUID().slice(0, 8)}`,
      maxWaitTimeInMs: 100,
      sessionTimeout: 6000,
      heartbeatInterval: 500,
      allowAutoTopicCreation: false,
    });
  }

  async start(timeoutMs = 30000): Promise<void> {
    const joined = new Promise<void>((resolve) => this.consumer.on(this.consumer.events.GROUP_JOIN, () => resolve()));
    await this.consumer.connect();
    for (const topic of this.topics) await this.consumer.subscribe({ topic, fromBeginning: true });
    await this.consumer.run({ partitionsConsumedConcurrently: 3, eachBatch: async ({ batch }) => this.eachBatch(batch) });
    await Promise.race([joined, sleep(timeoutMs).then(() => Promise.reject(new Error(`consumer of ${this.topics.join(', ')} did not join its group within ${timeoutMs} ms`)))]);
  }

  async close(): Promise<void> {
    await this.consumer.disconnect().catch(() => undefined);
  }
}

/** Reads a result topic (own consumer group, from the beginning) and notes when each key arrived. */
export class Collector {
  private readonly reader: TopicReader;
  readonly received = new Map<string, Received>();

  constructor(
    brokers: string,
    topic: string,
    private readonly options: { label: string; parseOutcome?: boolean },
  ) {
    this.reader = new TopicReader(brokers, [topic], `collector-${options.label}`, (batch) => {
      const at = now();
      for (const m of batch.messages) {
        const key = m.key?.toString('utf8');
        if (!key || this.received.has(key)) continue;
        const entry: Received = { at };
        if (this.options.parseOutcome && m.value) {
          try {
            entry.outcome = (JSON.parse(m.value.toString('utf8')) as { data?: { outcome?: string } }).data?.outcome;
          } catch {
            entry.outcome = 'unparseable';
          }
        }
        this.received.set(key, entry);
      }
    });
  }

  /** Resolves once the consumer joined its group. */
  start(timeoutMs = 30000): Promise<void> {
    return this.reader.start(timeoutMs);
  }

  /**
   * Waits until every key arrived or the time is up; returns how many arrived. `abort` is polled:
   * when it returns a reason, the wait throws with it (a dead app should not be waited out).
   */
  async waitFor(keys: readonly string[], timeoutMs: number, onProgress?: (done: number) => void, abort?: () => string | undefined): Promise<number> {
    const deadline = now() + timeoutMs;
    let done = 0;
    let lastReport = now();
    for (;;) {
      while (done < keys.length && this.received.has(keys[done])) done++;
      if (done === keys.length) return done;
      if (now() > deadline) return keys.filter((k) => this.received.has(k)).length;
      const reason = abort?.();
      if (reason) throw new Error(reason);
      if (onProgress && now() - lastReport > 5000) {
        lastReport = now();
        onProgress(keys.filter((k) => this.received.has(k)).length);
      }
      await sleep(10);
    }
  }

  close(): Promise<void> {
    return this.reader.close();
  }
}

export interface PhaseSpec {
  /** Label shown in the table, e.g. "full speed" or "25% of chain max". */
  phase: string;
  /** Messages per second; undefined = as fast as possible. */
  rate?: number;
  count: number;
  /** Run ids are `${prefix}-${i}`. */
  prefix: string;
  /** Messages per send at full speed. */
  chunk: number;
  /** How long to wait for the last result after the last publish. */
  drainTimeoutMs: number;
}

export interface PhaseResult {
  phase: string;
  rate?: number;
  count: number;
  done: number;
  /** done / (last result - first publish), msg/s. */
  throughput: number;
  /** Publish rate actually achieved (count / publishing time), msg/s. */
  publishRate: number;
  /** Largest delay between a message's scheduled time and its send (fixed rate only), ms. */
  maxSlipMs: number;
  p50: number;
  p99: number;
  max: number;
  mean: number;
  /** Results whose outcome was not the expected one (mesh only). */
  unexpected: Map<string, number>;
  ids: string[];
  /** Publish time (now() ms) per id, same order as ids. */
  sentAt: Float64Array;
  firstPublish: number;
  lastResult: number;
  timedOut: boolean;
  /** p50 latency of the last tenth of messages published, over that of the first tenth: >> 1 means a queue built up. */
  latencyGrowth: number;
}

/**
 * Publishes `count` messages (full speed, or paced by time in small batches) and waits for their
 * results. At a fixed rate, each message's publish time is its scheduled time, so a late send is
 * counted against the system rather than hidden.
 */
export async function runPhase(
  spec: PhaseSpec,
  io: {
    publisher: Publisher;
    collector: Collector;
    topic: string;
    message: (id: string) => OutMessage;
    expectOutcome?: string;
    log: (line: string) => void;
    abort?: () => string | undefined;
  },
): Promise<PhaseResult> {
  const { count } = spec;
  const ids = Array.from({ length: count }, (_, i) => `${spec.prefix}-${i}`);
  const sentAt = new Float64Array(count);
  const sends: Promise<void>[] = [];
  let maxSlipMs = 0;
  let publishStart: number;
  if (!spec.rate) {
    publishStart = now();
    for (let i = 0; i < count; i += spec.chunk) {
      const slice = ids.slice(i, i + spec.chunk);
      const t = now();
      for (let k = 0; k < slice.length; k++) sentAt[i + k] = t;
      await io.publisher.send(io.topic, slice.map(io.message));
    }
  } else {
    const interval = 1000 / spec.rate;
    publishStart = now() + 2;
    let next = 0;
    while (next < count) {
      const t = now();
      let upto = next;
      while (upto < count && publishStart + upto * interval <= t) upto++;
      if (upto > next) {
        const slice = ids.slice(next, upto);
        for (let k = next; k < upto; k++) sentAt[k] = publishStart + k * interval;
        maxSlipMs = Math.max(maxSlipMs, t - sentAt[next]);
        sends.push(io.publisher.send(io.topic, slice.map(io.message)));
        next = upto;
      } else {
        // Sleep until the next message is due (timers fire ~1 ms late; the schedule absorbs it).
        await sleep(Math.max(0, Math.min(5, publishStart + next * interval - t - 0.5)));
      }
    }
    await Promise.all(sends);
  }
  const publishEnd = now();
  const done = await io.collector.waitFor(ids, spec.drainTimeoutMs, (n) => io.log(`    ... ${spec.phase}: ${n}/${count} results`), io.abort);
  const latencies: number[] = [];
  const unexpected = new Map<string, number>();
  let lastResult = 0;
  for (let i = 0; i < count; i++) {
    const r = io.collector.received.get(ids[i]);
    if (!r) continue;
    latencies.push(r.at - sentAt[i]);
    lastResult = Math.max(lastResult, r.at);
    if (io.expectOutcome && r.outcome !== io.expectOutcome) unexpected.set(r.outcome ?? 'none', (unexpected.get(r.outcome ?? 'none') ?? 0) + 1);
  }
  const firstPublish = sentAt[0];
  const s = summarize(latencies);
  const tenth = Math.max(1, Math.floor(count / 10));
  const latencyOf = (from: number, to: number) => {
    const out: number[] = [];
    for (let i = from; i < to; i++) {
      const r = io.collector.received.get(ids[i]);
      if (r) out.push(r.at - sentAt[i]);
    }
    return summarize(out).p50;
  };
  return {
    phase: spec.phase,
    rate: spec.rate,
    count,
    done,
    throughput: done > 0 ? done / ((lastResult - firstPublish) / 1000) : 0,
    publishRate: count / (Math.max(1, publishEnd - publishStart) / 1000),
    maxSlipMs,
    p50: s.p50,
    p99: s.p99,
    max: s.max,
    mean: s.mean,
    unexpected,
    ids,
    sentAt,
    firstPublish,
    lastResult,
    timedOut: done < count,
    latencyGrowth: latencyOf(count - tenth, count) / latencyOf(0, tenth),
  };
}
