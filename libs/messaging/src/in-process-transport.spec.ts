import { InProcessTransport } from './in-process-transport';
import { partitionForKey, type IncomingBatch, type IncomingMessage, type OutgoingMessage, type Subscription } from './transport';

const TOPIC = 'govmesh.test.events';

function message(key: string | null, value: string, topic = TOPIC): OutgoingMessage {
  return { topic, key, value: Buffer.from(value), headers: { 'ce_type': 'test.v1' } };
}

const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

async function until(condition: () => boolean, timeoutMs = 5000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error('condition not met in time');
    await sleep(5);
  }
}

describe('InProcessTransport', () => {
  let transport: InProcessTransport;
  const subscriptions: Subscription[] = [];

  beforeEach(() => {
    transport = new InProcessTransport(6, 5);
  });

  afterEach(async () => {
    for (const s of subscriptions.splice(0)) await s.close();
    await transport.close();
  });

  async function collect(groupId: string, topics = [TOPIC], onBatch?: (batch: IncomingBatch) => Promise<void>): Promise<IncomingMessage[]> {
    const received: IncomingMessage[] = [];
    subscriptions.push(
      await transport.subscribe({
        groupId,
        topics,
        handleBatch: async (batch) => {
          if (onBatch) await onBatch(batch);
          received.push(...batch.messages);
        },
      }),
    );
    return received;
  }

  it('delivers the messages of each key in the order they were published, across many keys and publishes', async () => {
    await transport.ensureTopics([{ name: TOPIC, partitions: 4 }]);
    // A slow, uneven handler: partitions drain concurrently, so keys interleave across partitions.
    const received = await collect('orchestrator', [TOPIC], async (batch) => sleep(batch.partition % 2 ? 3 : 0));
    const keys = Array.from({ length: 40 }, (_, i) => `run-${i}`);
    const perKey = 25;
    for (let n = 0; n < perKey; n++) {
      await transport.publish(keys.map((k) => message(k, `${k}#${n}`)));
      if (n % 5 === 0) await sleep(1);
    }
    await until(() => received.length === keys.length * perKey);
    await sleep(20);
    expect(received).toHaveLength(keys.length * perKey);

    const seen = new Map<string, number[]>();
    for (const m of received) {
      const [key, n] = m.value!.toString().split('#');
      expect(m.key).toBe(key);
      seen.set(key, [...(seen.get(key) ?? []), Number(n)]);
    }
    for (const key of keys) expect({ key, order: seen.get(key) }).toEqual({ key, order: Array.from({ length: perKey }, (_, n) => n) });
    expect(new Set(received.map((m) => m.partition))).toEqual(new Set([0, 1, 2, 3]));
  });

  it('keeps one key on one partition, with offsets that count up from zero per partition', async () => {
    const received = await collect('telemetry');
    const keys = ['run-a', 'run-b', 'run-c', 'run-d', 'run-e', 'run-f', 'run-g'];
    for (let n = 0; n < 10; n++) await transport.publish(keys.map((k) => message(k, `${k}#${n}`)));
    await until(() => received.length === 70);

    for (const key of keys) {
      const partitions = new Set(received.filter((m) => m.key === key).map((m) => m.partition));
      expect(partitions).toEqual(new Set([partitionForKey(key, 6, 0)]));
    }
    const byPartition = new Map<number, number[]>();
    for (const m of received) byPartition.set(m.partition, [...(byPartition.get(m.partition) ?? []), Number(m.offset)]);
    for (const offsets of byPartition.values()) expect(offsets).toEqual(offsets.map((_, i) => i));
  });

  it('gives every consumer group its own copy of every message', async () => {
    const policy = await collect('govmesh.policy');
    const telemetry = await collect('govmesh.telemetry');
    await transport.publish(Array.from({ length: 30 }, (_, i) => message(`run-${i % 3}`, `m${i}`)));
    await until(() => policy.length === 30 && telemetry.length === 30);
    const values = (ms: IncomingMessage[]) => ms.map((m) => m.value!.toString()).sort();
    expect(values(policy)).toEqual(values(telemetry));
    expect(new Set(values(policy)).size).toBe(30);
  });

  it('delivers a group only the topics it subscribed to', async () => {
    const received = await collect('verifier', ['govmesh.commands.verify']);
    await transport.publish([message('run-1', 'other topic'), message('run-1', 'mine', 'govmesh.commands.verify')]);
    await until(() => received.length === 1);
    await sleep(20);
    expect(received.map((m) => m.value!.toString())).toEqual(['mine']);
    expect(received[0].topic).toBe('govmesh.commands.verify');
  });

  it('redelivers a batch whose handler threw, in order and without losing or skipping a message', async () => {
    const attempts: string[][] = [];
    const handled: string[] = [];
    let failures = 0;
    subscriptions.push(
      await transport.subscribe({
        groupId: 'tool-gateway',
        topics: [TOPIC],
        handleBatch: async (batch) => {
          const values = batch.messages.map((m) => m.value!.toString());
          attempts.push(values);
          if (failures === 0 && values.includes('3')) {
            failures++;
            throw new Error('database connection reset');
          }
          handled.push(...values);
        },
      }),
    );
    await transport.publish(['1', '2', '3', '4', '5'].map((v) => message('run-1', v)));
    await until(() => handled.length >= 5);
    await sleep(30);
    expect(failures).toBe(1);
    expect(handled).toEqual(['1', '2', '3', '4', '5']);
    const failed = attempts.findIndex((values) => values.includes('3'));
    expect(attempts[failed + 1].slice(0, attempts[failed].length)).toEqual(attempts[failed]);
  });

  it('keeps messages published during a retry behind the failed batch', async () => {
    const handled: string[] = [];
    let failNext = true;
    subscriptions.push(
      await transport.subscribe({
        groupId: 'context',
        topics: [TOPIC],
        handleBatch: async (batch) => {
          if (failNext) {
            failNext = false;
            throw new Error('transient');
          }
          handled.push(...batch.messages.map((m) => m.value!.toString()));
        },
      }),
    );
    await transport.publish([message('run-1', 'first')]);
    await sleep(1);
    await transport.publish([message('run-1', 'second')]);
    await until(() => handled.length === 2);
    expect(handled).toEqual(['first', 'second']);
  });

  it('stops delivering to a closed subscription', async () => {
    const received: IncomingMessage[] = [];
    const subscription = await transport.subscribe({ groupId: 'g', topics: [TOPIC], handleBatch: async (b) => void received.push(...b.messages) });
    await transport.publish([message('run-1', 'before')]);
    await until(() => received.length === 1);
    await subscription.close();
    await transport.publish([message('run-1', 'after')]);
    await sleep(20);
    expect(received.map((m) => m.value!.toString())).toEqual(['before']);
  });

  it('copies the headers, so changing them after publishing changes nothing delivered', async () => {
    const received = await collect('g');
    const outgoing = message('run-1', 'v');
    await transport.publish([outgoing]);
    outgoing.headers['ce_type'] = 'tampered';
    await until(() => received.length === 1);
    expect(received[0].headers).toEqual({ 'ce_type': 'test.v1' });
  });

  it('spreads messages without a key over the partitions', async () => {
    const received = await collect('g');
    await transport.publish(Array.from({ length: 12 }, (_, i) => message(null, `m${i}`)));
    await until(() => received.length === 12);
    expect(new Set(received.map((m) => m.partition)).size).toBe(6);
  });

  it('reports a group\'s lag per topic: what was published to it and not handled yet, back to 0 once handled', async () => {
    const OTHER = 'govmesh.test.other';
    await transport.ensureTopics([{ name: TOPIC, partitions: 2 }, { name: OTHER, partitions: 1 }]);
    let release!: () => void;
    const gate = new Promise<void>((resolve) => (release = resolve));
    const received = await collect('verifier', [TOPIC, OTHER], () => gate);
    await collect('telemetry', [OTHER]);
    await transport.publish([message('a', '1'), message('b', '2'), message('c', '3'), message('a', '4', OTHER)]);
    await sleep(10);
    expect(await transport.consumerLag('verifier', [TOPIC, OTHER])).toEqual([
      { topic: TOPIC, lag: 3 },
      { topic: OTHER, lag: 1 },
    ]);
    // Another group's progress is its own.
    expect(await transport.consumerLag('telemetry', [OTHER])).toEqual([{ topic: OTHER, lag: 0 }]);
    expect(await transport.consumerLag('no-such-group', [TOPIC])).toEqual([{ topic: TOPIC, lag: 0 }]);
    release();
    await until(() => received.length === 4);
    await until(() => transport.idle());
    expect(await transport.consumerLag('verifier', [TOPIC, OTHER])).toEqual([
      { topic: TOPIC, lag: 0 },
      { topic: OTHER, lag: 0 },
    ]);
  });
});

describe('InProcessTransport consumer groups', () => {
  it('refuses a second member of the same group, which Kafka would split partitions across', async () => {
    const transport = new InProcessTransport(6, 5);
    await transport.subscribe({ groupId: 'govmesh.policy', topics: ['t'], handleBatch: async () => undefined });
    await expect(transport.subscribe({ groupId: 'govmesh.policy', topics: ['t'], handleBatch: async () => undefined })).rejects.toThrow(/already has a member/);
    await transport.close();
  });
});

describe('partitionForKey', () => {
  it('maps a key to the same partition every time', () => {
    for (const key of ['run-1', 'run-2', 'a', 'intent:2026-11-05.abc_DEF', 'é-unicode']) {
      const p = partitionForKey(key, 6, 0);
      expect(partitionForKey(key, 6, 99)).toBe(p);
      expect(p).toBeGreaterThanOrEqual(0);
      expect(p).toBeLessThan(6);
      expect(Number.isInteger(p)).toBe(true);
    }
  });

  it('keeps known keys on known partitions (the hash is part of the wire contract)', () => {
    // FNV-1a 32-bit: "a" hashes to 0xe40c292c.
    expect(partitionForKey('a', 1000, 0)).toBe(0xe40c292c % 1000);
    expect(partitionForKey('', 7, 3)).toBe(0x811c9dc5 % 7);
  });

  it('spreads many run ids over every partition, none getting more than twice its share', () => {
    const counts = new Array(6).fill(0);
    for (let i = 0; i < 6000; i++) counts[partitionForKey(`run-${i}`, 6, 0)]++;
    for (const c of counts) {
      expect(c).toBeGreaterThan(500);
      expect(c).toBeLessThan(2000);
    }
  });

  it('uses the fallback, wrapped to the partition count, when there is no key', () => {
    expect(partitionForKey(null, 6, 0)).toBe(0);
    expect(partitionForKey(null, 6, 7)).toBe(1);
    expect(partitionForKey(null, 3, 5)).toBe(2);
  });
});
