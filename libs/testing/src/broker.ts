import { TOPIC_REGISTRY } from '@govmesh/contracts';
// eslint-disable-next-line @nx/enforce-module-boundaries
import { startTestBroker, type TestBroker } from '../../../tools/kafka-test-broker';

export interface TestKafka {
  brokers: string;
  /** The mock cluster, when this run started one (absent for an external KAFKA_BROKERS). */
  broker?: TestBroker;
  stop(): Promise<void>;
}

/**
 * A Kafka-protocol broker for one test file: librdkafka's mock cluster with every registry topic
 * created, or the Kafka named by TEST_KAFKA_BROKERS or KAFKA_BROKERS (for example the one in
 * docker-compose, where the apps create the topics themselves).
 */
export async function startTestKafka(): Promise<TestKafka> {
  const external = process.env['TEST_KAFKA_BROKERS'] ?? process.env['KAFKA_BROKERS'];
  if (external) return { brokers: external, stop: async () => undefined };
  const broker = await startTestBroker({ brokers: 1, topics: TOPIC_REGISTRY.map((t) => ({ name: t.name, partitions: t.partitions })) });
  return { brokers: broker.bootstrap, broker, stop: () => broker.stop() };
}
