/**
 * Type declarations for index.js (plain CommonJS; see README.md).
 */

export interface TestTopic {
  name: string;
  partitions: number;
}

export interface StartTestBrokerOptions {
  /** Topics to create before the bootstrap address is handed out. */
  topics?: TestTopic[];
  /** Number of mock brokers (ids 1..brokers). Default 1, max 64. */
  brokers?: number;
  /** Receives each line the broker process writes to stderr (librdkafka logs). */
  log?: (line: string) => void;
}

export interface TestBroker {
  /** Comma-separated host:port list, e.g. "127.0.0.1:40031,127.0.0.1:42745". */
  bootstrap: string;
  /** Mock broker ids: [1, ..., brokers]. */
  brokerIds: number[];
  /** Process id of the broker child process. */
  pid: number;
  /** Resolves when the broker process has exited, for whatever reason. */
  exited: Promise<{ code: number | null; signal: string | null }>;

  /** Close the broker's connections and refuse new ones. Does NOT move partition leadership. -1 = all brokers. */
  down(brokerId: number): Promise<void>;
  /** Accept connections again. -1 = all brokers. */
  up(brokerId: number): Promise<void>;
  /** Delay every response from this broker by `ms` milliseconds (0 to reset). -1 = all brokers. */
  setRtt(brokerId: number, ms: number): Promise<void>;
  /**
   * Make the next `count` requests of `apiKey` (to any broker) fail with `errorCode`.
   * See ApiKeys / ErrorCodes; ErrorCodes.TRANSPORT (-195) drops the connection instead.
   */
  pushRequestErrors(apiKey: number, errorCode: number, count?: number): Promise<void>;
  /** Drop any errors still queued for `apiKey`. */
  clearRequestErrors(apiKey: number): Promise<void>;
  /** Move a partition's leader to `brokerId` (-1 = leaderless). Creates the topic if it does not exist. */
  setPartitionLeader(topic: string, partition: number, brokerId: number): Promise<void>;
  /** Create a topic (fails if it already exists). */
  createTopic(name: string, partitions: number): Promise<void>;
  /** Send a raw protocol line (see README.md); resolves on OK, rejects on ERR. */
  command(line: string): Promise<void>;
  /** Shut the broker down and wait for the process to exit. Idempotent. */
  stop(): Promise<void>;
}

/** Start a librdkafka mock cluster in a child process (building it first if needed). */
export function startTestBroker(options?: StartTestBrokerOptions): Promise<TestBroker>;

/**
 * Compile build/kafka-test-broker if it is missing or older than kafka-test-broker.c.
 * Synchronous. Returns the binary's absolute path. Throws a message naming
 * `apt-get install librdkafka-dev` if librdkafka's headers/library are missing.
 */
export function ensureBuilt(): string;

/** Kafka protocol ApiKeys commonly used with pushRequestErrors(). */
export const ApiKeys: Readonly<{
  Produce: 0;
  Fetch: 1;
  ListOffsets: 2;
  Metadata: 3;
  OffsetCommit: 8;
  OffsetFetch: 9;
  FindCoordinator: 10;
  JoinGroup: 11;
  Heartbeat: 12;
  LeaveGroup: 13;
  SyncGroup: 14;
  ApiVersions: 18;
  InitProducerId: 22;
}>;

/** Kafka error codes commonly used with pushRequestErrors(). */
export const ErrorCodes: Readonly<{
  TRANSPORT: -195;
  UNKNOWN_TOPIC_OR_PARTITION: 3;
  LEADER_NOT_AVAILABLE: 5;
  NOT_LEADER_FOR_PARTITION: 6;
  REQUEST_TIMED_OUT: 7;
  NETWORK_EXCEPTION: 13;
  COORDINATOR_LOAD_IN_PROGRESS: 14;
  COORDINATOR_NOT_AVAILABLE: 15;
  NOT_COORDINATOR: 16;
  NOT_ENOUGH_REPLICAS: 19;
  REBALANCE_IN_PROGRESS: 27;
}>;
