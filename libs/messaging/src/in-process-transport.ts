import { PermanentPublishError, partitionForKey, type ConsumerLag, type IncomingMessage, type OutgoingMessage, type SubscribeOptions, type Subscription, type TopicToProvision, type Transport } from './transport';

interface PartitionQueue {
  topic: string;
  partition: number;
  pending: IncomingMessage[];
  draining: boolean;
}

interface Group {
  options: SubscribeOptions;
  queues: Map<string, PartitionQueue>;
  closed: boolean;
}

const MAX_BATCH = 100;

/**
 * The embedded mode's broker: topics split into partitions by key, each consumer group drains
 * each partition in order, one batch at a time, exactly as a Kafka consumer group would.
 * Nothing is kept on disk: the outbox in the embedded database is what survives a restart.
 */
export class InProcessTransport implements Transport {
  readonly kind = 'in-process' as const;
  private readonly partitions = new Map<string, number>();
  private readonly offsets = new Map<string, number>();
  private readonly groups: Group[] = [];
  private roundRobin = 0;

  constructor(private readonly defaultPartitions = 6, private readonly retryDelayMs = 200) {}

  async connect(): Promise<void> {
    // Nothing to connect to: the broker is this object.
  }

  async ensureTopics(topics: TopicToProvision[]): Promise<void> {
    for (const t of topics) this.partitions.set(t.name, t.partitions);
  }

  permanentPublishError(err: unknown): PermanentPublishError | null {
    return err instanceof PermanentPublishError ? err : null;
  }

  async publish(messages: OutgoingMessage[]): Promise<void> {
    const unknown = messages.find((m) => !this.partitions.has(m.topic));
    if (unknown && this.partitions.size > 0) throw new PermanentPublishError('unknown_topic', `topic ${unknown.topic} does not exist`);
    for (const m of messages) {
      const partitions = this.partitions.get(m.topic) ?? this.defaultPartitions;
      const partition = partitionForKey(m.key, partitions, this.roundRobin++);
      const offsetKey = `${m.topic}/${partition}`;
      const offset = this.offsets.get(offsetKey) ?? 0;
      this.offsets.set(offsetKey, offset + 1);
      const incoming: IncomingMessage = {
        topic: m.topic,
        partition,
        offset: String(offset),
        key: m.key,
        value: m.value,
        headers: { ...m.headers },
        timestamp: String(Date.now()),
      };
      for (const group of this.groups) {
        if (group.closed || !group.options.topics.includes(m.topic)) continue;
        let queue = group.queues.get(offsetKey);
        if (!queue) {
          queue = { topic: m.topic, partition, pending: [], draining: false };
          group.queues.set(offsetKey, queue);
        }
        queue.pending.push(incoming);
        this.scheduleDrain(group, queue);
      }
    }
  }

  async subscribe(options: SubscribeOptions): Promise<Subscription> {
    if (this.groups.some((g) => g.options.groupId === options.groupId)) {
      // One member per group: the embedded mode runs one instance of each service.
      throw new Error(`consumer group ${options.groupId} already has a member in this process`);
    }
    const group: Group = { options, queues: new Map(), closed: false };
    this.groups.push(group);
    return {
      close: async () => {
        group.closed = true;
        const index = this.groups.indexOf(group);
        if (index >= 0) this.groups.splice(index, 1);
      },
    };
  }

  /** Messages published to the group's topics and not handled yet. */
  async consumerLag(groupId: string, topics: readonly string[]): Promise<ConsumerLag[]> {
    const group = this.groups.find((g) => g.options.groupId === groupId);
    return topics.map((topic) => ({ topic, lag: group ? [...group.queues.values()].filter((q) => q.topic === topic).reduce((n, q) => n + q.pending.length, 0) : 0 }));
  }

  /** True when every consumer group has handled everything published so far. */
  idle(): boolean {
    return this.groups.every((g) => [...g.queues.values()].every((q) => q.pending.length === 0 && !q.draining));
  }

  async close(): Promise<void> {
    for (const g of this.groups) g.closed = true;
    this.groups.length = 0;
  }

  private scheduleDrain(group: Group, queue: PartitionQueue): void {
    if (queue.draining) return;
    queue.draining = true;
    setImmediate(() => void this.drain(group, queue));
  }

  private async drain(group: Group, queue: PartitionQueue): Promise<void> {
    const linger = group.options.lingerMs ?? 0;
    while (!group.closed && queue.pending.length > 0) {
      if (linger > 0 && queue.pending.length < MAX_BATCH) await new Promise((resolve) => setTimeout(resolve, linger));
      const messages = queue.pending.slice(0, MAX_BATCH);
      try {
        await group.options.handleBatch({
          topic: queue.topic,
          partition: queue.partition,
          messages,
          heartbeat: async () => undefined,
          isStale: () => group.closed,
        });
        queue.pending.splice(0, messages.length);
      } catch {
        // The consumer retries transient errors itself; a throw means it gave up on this pass.
        await new Promise((resolve) => setTimeout(resolve, this.retryDelayMs));
      }
    }
    queue.draining = false;
  }
}
