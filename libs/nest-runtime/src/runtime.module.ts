import { join } from 'node:path';
import { Global, Inject, Logger, Module, type DynamicModule, type OnApplicationShutdown } from '@nestjs/common';
import { DiscoveryModule } from '@nestjs/core';
import { ConfigModule, ConfigService } from '@nestjs/config';
import { TerminusModule } from '@nestjs/terminus';
import { TOPIC_REGISTRY } from '@govmesh/contracts';
import { InProcessTransport, KafkaTransport, type Transport } from '@govmesh/messaging';
import { govmeshMetrics, GovmeshMetrics } from '@govmesh/observability';
import { openEmbeddedDatabase, type DatabaseTarget } from '@govmesh/persistence';
import { CONFIG_SCHEMA, toGovmeshConfig, type GovmeshConfig } from './config';
import { HealthController, HealthRegistry } from './health';
import { MetricsController } from './metrics.controller';
import { DATABASE_TARGET, ENDPOINT_DEPS, GOVMESH_CONFIG, TRANSPORT } from './tokens';
import type { ServiceEndpointDeps } from './service-endpoint-deps';

export interface RuntimeOptions {
  /** Name of this process: a service name, or `embedded`. */
  processName: string;
  defaultPort: number;
}

const logger = new Logger('runtime');

async function createTransport(config: GovmeshConfig): Promise<Transport> {
  const transport: Transport = config.kafka
    ? new KafkaTransport({
        brokers: config.kafka.brokers,
        clientId: config.kafka.clientId,
        partitionsConsumedConcurrently: config.kafka.partitionsConcurrency,
        sessionTimeoutMs: config.kafka.sessionTimeoutMs,
        logger: new Logger('kafka'),
      })
    : new InProcessTransport();
  await transport.connect();
  const partitions = config.kafka?.topicPartitions;
  await transport.ensureTopics(TOPIC_REGISTRY.map((t) => ({ name: t.name, partitions: partitions && t.key === 'runId' ? partitions : t.partitions })));
  return transport;
}

/**
 * Process-wide parts shared by the services of one process: validated config, the transport,
 * the database target (Postgres URL or the embedded PGlite), metrics, /health and /metrics.
 */
@Global()
@Module({})
export class RuntimeModule implements OnApplicationShutdown {
  constructor(
    @Inject(TRANSPORT) private readonly transport: Transport,
    @Inject(DATABASE_TARGET) private readonly database: DatabaseTarget,
  ) {}

  static forRoot(options: RuntimeOptions): DynamicModule {
    return {
      module: RuntimeModule,
      imports: [
        ConfigModule.forRoot({
          isGlobal: true,
          ignoreEnvFile: true,
          validationSchema: CONFIG_SCHEMA,
          validationOptions: { abortEarly: false, allowUnknown: true },
        }),
        TerminusModule,
        DiscoveryModule,
      ],
      controllers: [HealthController, MetricsController],
      providers: [
        HealthRegistry,
        { provide: GovmeshMetrics, useFactory: () => govmeshMetrics() },
        {
          provide: GOVMESH_CONFIG,
          inject: [ConfigService],
          useFactory: (config: ConfigService) =>
            toGovmeshConfig(Object.fromEntries(CONFIG_SCHEMA_KEYS.map((k) => [k, config.get(k)])), options.processName, options.defaultPort),
        },
        { provide: TRANSPORT, inject: [GOVMESH_CONFIG], useFactory: createTransport },
        {
          provide: ENDPOINT_DEPS,
          inject: [GOVMESH_CONFIG, TRANSPORT, GovmeshMetrics, HealthRegistry],
          useFactory: (config: GovmeshConfig, transport: Transport, metrics: GovmeshMetrics, health: HealthRegistry): ServiceEndpointDeps => ({ config, transport, metrics, health }),
        },
        {
          provide: DATABASE_TARGET,
          inject: [GOVMESH_CONFIG],
          useFactory: async (config: GovmeshConfig): Promise<DatabaseTarget> => {
            if (config.databaseUrl) return { kind: 'postgres', url: config.databaseUrl, poolSize: config.databasePoolSize };
            const dir = config.dataDir.startsWith('memory://') ? config.dataDir : join(config.dataDir, 'pgdata');
            logger.log(`embedded database at ${dir}`);
            return { kind: 'pglite', queue: await openEmbeddedDatabase(dir) };
          },
        },
      ],
      exports: [DiscoveryModule, GOVMESH_CONFIG, TRANSPORT, ENDPOINT_DEPS, DATABASE_TARGET, GovmeshMetrics, HealthRegistry],
    };
  }

  async onApplicationShutdown(): Promise<void> {
    await this.transport.close();
    if (this.database.kind === 'pglite') await this.database.queue.db.close();
  }
}

const CONFIG_SCHEMA_KEYS = Object.keys(CONFIG_SCHEMA.describe().keys ?? {});
