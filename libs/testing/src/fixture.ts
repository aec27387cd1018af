import { startTestKafka, type TestKafka } from './broker';
import { PlainKafkaClient } from './kafka-client';
import { DistributedMesh } from './mesh';
import { createScratchDatabase, type ScratchDatabase } from './postgres';

export interface MeshFixture {
  kafka: TestKafka;
  db: ScratchDatabase;
  mesh: DistributedMesh;
  client: PlainKafkaClient;
  stop(): Promise<void>;
}

/**
 * A test broker, a scratch database, every app as a process and a plain Kafka client collecting
 * the given topics: the setup of every distributed test, torn down in reverse.
 */
export async function startMeshFixture(label: string, collect: string[], env?: Record<string, string>): Promise<MeshFixture> {
  const kafka = await startTestKafka();
  const db = await createScratchDatabase(label);
  const mesh = new DistributedMesh({ brokers: kafka.brokers, databaseUrl: db.url, label, env });
  const client = new PlainKafkaClient(kafka.brokers);
  const stop = async () => {
    await client.close();
    await mesh.stop();
    await kafka.stop();
    await db.drop();
  };
  try {
    await mesh.start();
    await client.collect(collect);
  } catch (err) {
    await stop();
    throw err;
  }
  return { kafka, db, mesh, client, stop };
}
