import * as Joi from 'joi';

/**
 * Every environment variable govmesh reads, validated at boot. The README's configuration table
 * documents the same list; `config.spec.ts` checks that the two agree.
 */
export const CONFIG_SCHEMA = Joi.object({
  PORT: Joi.number().port().description('HTTP port for /health, /metrics and APIs'),
  GOVMESH_HOST: Joi.string().hostname().description('Address to listen on (default 127.0.0.1 embedded, 0.0.0.0 distributed)'),
  KAFKA_BROKERS: Joi.string()
    .pattern(/^[^,\s]+:\d+(,[^,\s]+:\d+)*$/)
    .description('Comma-separated Kafka bootstrap brokers; with DATABASE_URL selects distributed mode'),
  DATABASE_URL: Joi.string()
    .uri({ scheme: ['postgres', 'postgresql'] })
    .description('Postgres connection URL; with KAFKA_BROKERS selects distributed mode'),
  LOG_LEVEL: Joi.string().valid('error', 'warn', 'info', 'debug').default('info'),
  GOVMESH_DATA_DIR: Joi.string().default('.govmesh').description('Embedded mode: where PGlite keeps its data'),
  GOVMESH_GRANT_SECRET: Joi.string().min(32).description('HMAC key for action grants (policy signs, tool-gateway checks)'),
  GOVMESH_MAX_MESSAGE_BYTES: Joi.number().integer().min(65536).max(10485760).default(262144).description('Largest message accepted; intents get 16 KiB less, the room their decision needs'),
  GOVMESH_OUTBOX_POLL_MS: Joi.number().integer().min(10).max(60000).default(1000),
  GOVMESH_SEED_DEMO_DATA: Joi.boolean().default(true).description('Register the demo agents, sandbox accounts and documents'),
  GOVMESH_DEMO: Joi.boolean().default(true).description('Embedded mode: run the demo workload at start'),
  KAFKA_CLIENT_ID: Joi.string().description('Kafka client id (default govmesh-<service>)'),
  KAFKA_TOPIC_PARTITIONS: Joi.number().integer().min(1).max(1000).default(6).description('Partitions for topics created on a real Kafka'),
  KAFKA_PARTITIONS_CONCURRENCY: Joi.number().integer().min(1).max(64).default(3),
  KAFKA_SESSION_TIMEOUT_MS: Joi.number().integer().min(3000).max(300000).default(30000).description('Consumer group session timeout: how soon a dead consumer\'s partitions move'),
  KAFKA_GROUP_PREFIX: Joi.string().default('govmesh').description('Consumer groups are <prefix>.<service>'),
  DATABASE_POOL_SIZE: Joi.number().integer().min(2).max(100).default(10),
  GOVMESH_RUN_DEADLINE_SECONDS: Joi.number().integer().min(1).max(30 * 86400).description('Deadline of every run, overriding its workflow\'s default; past it the run ends timed_out'),
  GOVMESH_TOOL_TIMEOUT_MS: Joi.number().integer().min(100).max(600000).default(30000).description('How long the tool gateway waits for one tool call'),
  GOVMESH_STALL_EXIT_MS: Joi.number().integer().min(0).max(3600000).default(30000).description('Kill the process when its event loop is stuck this long, so a supervisor restarts it (0: never)'),
  GOVMESH_SANDBOX_LATENCY_MS: Joi.number().integer().min(0).max(600000).default(0).description('Delay the sandbox system of record adds to every call (rehearses slow systems)'),
})
  .and('KAFKA_BROKERS', 'DATABASE_URL')
  .messages({ 'object.and': 'KAFKA_BROKERS and DATABASE_URL must be set together (distributed mode) or both left unset (embedded mode)' });

export const CONFIG_VARIABLES = Object.keys(CONFIG_SCHEMA.describe().keys ?? {});

const DEV_GRANT_SECRET = 'govmesh-embedded-development-grant-secret-not-for-production';

export interface GovmeshConfig {
  mode: 'embedded' | 'distributed';
  port: number;
  /** Address to listen on. */
  host: string;
  logLevel: 'error' | 'warn' | 'info' | 'debug';
  kafka?: { brokers: string[]; clientId: string; topicPartitions: number; partitionsConcurrency: number; groupPrefix: string; sessionTimeoutMs: number };
  databaseUrl?: string;
  databasePoolSize: number;
  dataDir: string;
  grantSecret: string;
  maxMessageBytes: number;
  outboxPollMs: number;
  seedDemoData: boolean;
  runDemo: boolean;
  /** Overrides the workflow's default run deadline when set. */
  runDeadlineSeconds?: number;
  toolTimeoutMs: number;
  sandboxLatencyMs: number;
}

/** Turns validated variables into the typed config; a distributed service needs its secret. */
export function toGovmeshConfig(env: Record<string, unknown>, processName: string, defaultPort: number): GovmeshConfig {
  const distributed = Boolean(env['KAFKA_BROKERS']);
  const grantSecret = env['GOVMESH_GRANT_SECRET'] as string | undefined;
  if (distributed && !grantSecret) {
    throw new Error('Config validation error: "GOVMESH_GRANT_SECRET" is required in distributed mode (at least 32 characters)');
  }
  return {
    mode: distributed ? 'distributed' : 'embedded',
    port: (env['PORT'] as number | undefined) ?? defaultPort,
    // Embedded mode is a developer's machine: reachable from it only unless told otherwise.
    host: (env['GOVMESH_HOST'] as string | undefined) ?? (distributed ? '0.0.0.0' : '127.0.0.1'),
    logLevel: env['LOG_LEVEL'] as GovmeshConfig['logLevel'],
    kafka: distributed
      ? {
          brokers: String(env['KAFKA_BROKERS']).split(','),
          clientId: (env['KAFKA_CLIENT_ID'] as string | undefined) ?? `govmesh-${processName}`,
          topicPartitions: env['KAFKA_TOPIC_PARTITIONS'] as number,
          partitionsConcurrency: env['KAFKA_PARTITIONS_CONCURRENCY'] as number,
          groupPrefix: env['KAFKA_GROUP_PREFIX'] as string,
          sessionTimeoutMs: env['KAFKA_SESSION_TIMEOUT_MS'] as number,
        }
      : undefined,
    databaseUrl: env['DATABASE_URL'] as string | undefined,
    databasePoolSize: env['DATABASE_POOL_SIZE'] as number,
    dataDir: env['GOVMESH_DATA_DIR'] as string,
    grantSecret: grantSecret ?? DEV_GRANT_SECRET,
    maxMessageBytes: env['GOVMESH_MAX_MESSAGE_BYTES'] as number,
    outboxPollMs: env['GOVMESH_OUTBOX_POLL_MS'] as number,
    seedDemoData: env['GOVMESH_SEED_DEMO_DATA'] as boolean,
    runDemo: env['GOVMESH_DEMO'] as boolean,
    runDeadlineSeconds: env['GOVMESH_RUN_DEADLINE_SECONDS'] as number | undefined,
    toolTimeoutMs: env['GOVMESH_TOOL_TIMEOUT_MS'] as number,
    sandboxLatencyMs: env['GOVMESH_SANDBOX_LATENCY_MS'] as number,
  };
}

/** Validates the environment the way ConfigModule does, for code that runs before Nest. */
export function validateEnvironment(env: NodeJS.ProcessEnv): Record<string, unknown> {
  const { error, value } = CONFIG_SCHEMA.validate(env, { abortEarly: false, allowUnknown: true, convert: true });
  if (error) throw new Error(`Config validation error: ${error.message}`);
  return value as Record<string, unknown>;
}
