/** What a transport carries: bytes with a key and string headers. */
export interface OutgoingMessage {
  topic: string;
  key: string | null;
  value: Buffer;
  headers: Record<string, string>;
}

export interface IncomingMessage {
  topic: string;
  partition: number;
  offset: string;
  key: string | null;
  value: Buffer | null;
  headers: Record<string, string>;
  timestamp: string;
}

export interface IncomingBatch {
  topic: string;
  partition: number;
  messages: IncomingMessage[];
  /** Keeps group membership alive while a batch is retried. */
  heartbeat(): Promise<void>;
  /** True when the transport is shutting down or lost the partition: stop retrying. */
  isStale(): boolean;
}

export interface SubscribeOptions {
  groupId: string;
  topics: string[];
  /** Resolves once the whole batch is handled; the transport then commits its offsets. */
  handleBatch(batch: IncomingBatch): Promise<void>;
  /**
   * Wait up to this long for more messages before handling a batch: larger batches for a
   * consumer that trades latency for throughput (the audit ledger). 0 or unset: handle at once.
   */
  lingerMs?: number;
}

export interface Subscription {
  close(): Promise<void>;
}

export interface TopicToProvision {
  name: string;
  partitions: number;
}

/** A publish error that retrying cannot fix for this message (too large, unknown topic, invalid record). */
export class PermanentPublishError extends Error {
  constructor(
    readonly code: string,
    message: string,
  ) {
    super(message);
  }
}

/**
 * The one seam between govmesh and a message broker. Kafka in distributed mode; an in-process
 * transport with the same per-key ordering in embedded mode. App code never sees either.
 */
export interface Transport {
  readonly kind: 'kafka' | 'in-process';
  connect(): Promise<void>;
  ensureTopics(topics: TopicToProvision[]): Promise<void>;
  publish(messages: OutgoingMessage[]): Promise<void>;
  /** The error as a permanent refusal of the message(s) sent, or null when retrying may help. */
  permanentPublishError(err: unknown): PermanentPublishError | null;
  subscribe(options: SubscribeOptions): Promise<Subscription>;
  /**
   * What a consumer group has yet to process on each of the topics: the high watermark minus its
   * committed offset, summed over the topic's partitions.
   */
  consumerLag(groupId: string, topics: readonly string[]): Promise<ConsumerLag[]>;
  close(): Promise<void>;
}

export interface ConsumerLag {
  topic: string;
  lag: number;
}

export interface MessagingLogger {
  log(message: string): void;
  warn(message: string): void;
  error(message: string, stack?: string): void;
}

/** Kafka's default partitioner is murmur2; any stable hash keeps one key on one partition. */
export function partitionForKey(key: string | null, partitions: number, fallback: number): number {
  if (key === null) return fallback % partitions;
  let h = 0x811c9dc5;
  for (let i = 0; i < key.length; i++) {
    h ^= key.charCodeAt(i);
    h = Math.imul(h, 0x01000193);
  }
  return (h >>> 0) % partitions;
}
