import * as Joi from 'joi';

/**
 * Parses GOVMESH_REVIEWER_WEBHOOKS: a JSON object mapping a reviewer group to its incoming webhook
 * URL (Slack or Teams). Throws a message naming the group, never the URL (a Slack webhook URL is a
 * secret). Accepts the parsed object too, so it reads both raw and validated values.
 */
export function parseReviewerWebhooks(value: unknown): Record<string, string> {
  if (value === undefined || value === null || value === '') return {};
  let parsed: unknown = value;
  if (typeof value === 'string') {
    try {
      parsed = JSON.parse(value);
    } catch {
      throw new Error('it is not valid JSON (expected an object mapping each reviewer group to its webhook URL, e.g. {"finance-ops":"https://hooks.slack.com/services/..."})');
    }
  }
  if (!parsed || typeof parsed !== 'object' || Array.isArray(parsed)) throw new Error('it must be a JSON object mapping each reviewer group to its webhook URL');
  const webhooks: Record<string, string> = {};
  for (const [group, url] of Object.entries(parsed as Record<string, unknown>)) {
    if (group.length === 0 || group.length > 128) throw new Error(`group names must have 1 to 128 characters (got ${group.length})`);
    if (typeof url !== 'string') throw new Error(`the webhook of group "${group}" must be a URL string`);
    let protocol = '';
    try {
      protocol = new URL(url).protocol;
    } catch {
      throw new Error(`the webhook of group "${group}" is not a valid URL`);
    }
    if (protocol !== 'http:' && protocol !== 'https:') throw new Error(`the webhook of group "${group}" must be an http or https URL (got ${protocol})`);
    webhooks[group] = url;
  }
  return webhooks;
}

/** A master key of GOVMESH_CONNECTION_KEYS: its id (stored with every record it wraps) and its 32 bytes. */
export interface ConnectionMasterKey {
  id: string;
  key: Buffer;
}

const CONNECTION_KEY_ID = /^[A-Za-z0-9._-]{1,64}$/;

/**
 * Parses GOVMESH_CONNECTION_KEYS: comma-separated `<key id>:<base64 of 32 bytes>` entries, the
 * first one current (new secrets are wrapped under it), the others kept to unwrap what they wrapped
 * before a rotation. Throws a message naming the entry and key id, never key material.
 */
export function parseConnectionKeys(value: unknown): ConnectionMasterKey[] {
  if (typeof value !== 'string' || value.trim() === '') throw new Error('it must list at least one key as <key id>:<base64 of 32 bytes>');
  const keys: ConnectionMasterKey[] = [];
  value.split(',').forEach((raw, index) => {
    const entry = raw.trim();
    const colon = entry.indexOf(':');
    const id = colon > 0 ? entry.slice(0, colon) : '';
    const material = colon > 0 ? entry.slice(colon + 1) : '';
    if (!CONNECTION_KEY_ID.test(id)) throw new Error(`entry ${index + 1} must be <key id>:<base64 of 32 bytes>, the key id 1-64 letters, digits, . _ -`);
    if (!/^[A-Za-z0-9+/_-]+={0,2}$/.test(material)) throw new Error(`key "${id}" is not base64`);
    const key = Buffer.from(material.replace(/-/g, '+').replace(/_/g, '/'), 'base64');
    if (key.length !== 32) throw new Error(`key "${id}" must be 32 bytes (AES-256), got ${key.length}`);
    if (keys.some((k) => k.id === id)) throw new Error(`key id "${id}" appears twice`);
    keys.push({ id, key });
  });
  return keys;
}

/**
 * The shortest inbox retention, in days. An event id must stay in a consumer's inbox as long as the
 * same event can be delivered again, or the redelivery would be handled twice. Redeliveries come
 * from (a) a consumer group re-reading a topic: groups start from the earliest retained offset
 * (`fromBeginning`), so a group whose committed offsets were lost or expired (Kafka's default
 * `offsets.retention.minutes` is 7 days) re-reads everything the topic still holds, up to its
 * `retention.ms` (Kafka's default: 7 days); and (b) the outbox relay publishing again after a crash
 * between the publish and the deletion of its rows, at the producer's next start. An inbox row is
 * written when the event is consumed, after it was produced, so keeping it one day longer than the
 * topics keep messages covers (a) with margin for clock skew; (b) is covered unless a producer stays
 * down for longer than the retention itself. Topics kept longer than 7 days need a longer inbox
 * retention than this minimum: set it above your `retention.ms`.
 */
export const INBOX_RETENTION_MIN_DAYS = 8;

/** Refuses an inbox retention shorter than a redelivery can come (0 keeps ids forever). */
export function checkInboxRetention(days: number): void {
  if (days !== 0 && days < INBOX_RETENTION_MIN_DAYS) {
    throw new Error(`an inbox retention of ${days} day(s) is shorter than a redelivery can come (a consumer group re-reads up to the topics' 7-day retention): use 0 (keep forever) or at least ${INBOX_RETENTION_MIN_DAYS}`);
  }
}

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
  GOVMESH_GRANT_SIGNING_KEY: Joi.string().max(4096).description('Policy: Ed25519 private key that signs action grants (base64url seed or PKCS#8 PEM); required distributed'),
  GOVMESH_GRANT_PUBLIC_KEY: Joi.string().max(4096).description('Tool gateway: the public key of the grant signing key (base64url); required distributed'),
  GOVMESH_INGRESS_SIGNING_KEY: Joi.string().max(4096).description('Orchestrator: Ed25519 private key attesting intents taken in over HTTP; required distributed'),
  GOVMESH_INGRESS_PUBLIC_KEY: Joi.string().max(4096).description('Policy: the public key of the ingress signing key; required distributed'),
  GOVMESH_VERIFIER_SIGNING_KEY: Joi.string().max(4096).description('Verifier: Ed25519 private key that signs its read requests to the tool gateway; required distributed'),
  GOVMESH_VERIFIER_PUBLIC_KEY: Joi.string().max(4096).description('Tool gateway: the public key of the verifier signing key; required distributed'),
  GOVMESH_GATEWAY_SIGNING_KEY: Joi.string().max(4096).description("Tool gateway: Ed25519 private key that signs its answers to the verifier's reads; required distributed"),
  GOVMESH_GATEWAY_PUBLIC_KEY: Joi.string().max(4096).description('Verifier: the public key of the gateway signing key; required distributed'),
  GOVMESH_AUDIT_SIGNING_KEY: Joi.string().max(4096).description("Telemetry: Ed25519 private key that signs the audit ledger's checkpoints and evidence bundles; required distributed"),
  GOVMESH_AUDIT_PUBLIC_KEY: Joi.string().max(4096).description('Telemetry and auditors: the public key of the audit signing key; telemetry refuses to start when it does not match'),
  GOVMESH_AUDIT_CHECKPOINT_INTERVAL_MS: Joi.number().integer().min(1000).max(86400000).default(60000).description("Telemetry: how often the audit ledger's head is checkpointed and signed, when records were added"),
  GOVMESH_AUDIT_CHECKPOINT_MAX_RECORDS: Joi.number().integer().min(1).max(1000000).default(10000).description('Telemetry: the most records one checkpoint covers (its Merkle tree); a longer stretch gets several'),
  GOVMESH_AUDIT_CHECKPOINT_SINK: Joi.string()
    .max(2048)
    .pattern(/^(file:\/\/\/|https?:\/\/)/, 'file:///path or http(s):// URL')
    .description('Telemetry: where each signed checkpoint is also written, outside the database: file:///path/checkpoints.jsonl (one JSON line each) or an http(s) URL (POST)'),
  GOVMESH_AUDIT_CHECKPOINT_SINK_TOKEN: Joi.string().max(4096).description('Telemetry: bearer token sent with each checkpoint to an http(s) sink (a secret)'),
  GOVMESH_BOOTSTRAP_OPERATOR_KEY: Joi.string().pattern(/^gm_[a-z0-9]{12}_[A-Za-z0-9_-]{43}$/).description('An operator API key installed at start (`npx govmesh keygen --service` makes one); embedded mode generates its own'),
  GOVMESH_OIDC_ISSUER: Joi.string().uri().description('OIDC issuer whose bearer JWTs are accepted (with GOVMESH_OIDC_JWKS_URL)'),
  GOVMESH_OIDC_JWKS_URL: Joi.string().uri({ scheme: ['http', 'https'] }).description("The issuer's JWKS URL"),
  GOVMESH_OIDC_AUDIENCE: Joi.string().description('Audience the tokens must name (aud)'),
  GOVMESH_OIDC_ROLES_CLAIM: Joi.string().default('roles').description('Claim holding the govmesh roles (a dotted path works: realm_access.roles)'),
  GOVMESH_OIDC_GROUPS_CLAIM: Joi.string().default('groups').description('Claim holding the reviewer groups'),
  GOVMESH_OIDC_AGENT_CLAIM: Joi.string().default('agent_id').description('Claim naming the agent, for tokens with the agent role'),
  GOVMESH_METRICS_TOKEN: Joi.string().min(16).description('When set, /metrics needs authorization: Bearer <token>; open otherwise'),
  GOVMESH_INTENT_MAX_AGE_SECONDS: Joi.number().integer().min(5).max(86400).default(300).description('Signed intents older than this (submittedAt) are refused as stale'),
  GOVMESH_GRANT_TTL_SECONDS: Joi.number().integer().min(1).max(3600).default(30).description('How long an action grant stays valid'),
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
  GOVMESH_REVIEWER_WEBHOOKS: Joi.string()
    .custom((value: string) => {
      parseReviewerWebhooks(value);
      return value;
    })
    .description('Orchestrator: JSON object mapping each reviewer group to its Slack or Teams incoming webhook URL (http/https), e.g. {"finance-ops":"https://hooks.slack.com/services/..."}'),
  GOVMESH_SLA_WARNING_FRACTION: Joi.number().greater(0).less(1).default(0.8).description('Orchestrator: the fraction of a review SLA after which its groups get an sla_near notification'),
  GOVMESH_CONNECTION_KEYS: Joi.string()
    .max(16384)
    .custom((value: string) => {
      parseConnectionKeys(value);
      return value;
    })
    .description('Tool gateway: master keys that wrap the data keys of connection secrets, `<key id>:<base64 of 32 bytes>` comma-separated, the first current; required distributed'),
  GOVMESH_SANDBOX_LATENCY_MS: Joi.number().integer().min(0).max(600000).default(0).description('Delay the sandbox system of record adds to every call (rehearses slow systems)'),
  GOVMESH_BREAKER_FAILURES: Joi.number().integer().min(1).max(1000).default(5).description("Tool gateway: consecutive failures (timeouts, retryable errors) that open a connection's circuit breaker"),
  GOVMESH_BREAKER_COOLDOWN_MS: Joi.number().integer().min(100).max(3600000).default(30000).description('Tool gateway: how long an open breaker refuses calls before it lets one trial call through'),
  GOVMESH_AGENT_RATE_PER_MINUTE: Joi.number().integer().min(0).max(100000000).default(30000).description("Tool gateway: refill rate of every agent's token bucket over all its tool calls (0: no per-agent limit)"),
  GOVMESH_AGENT_RATE_BURST: Joi.number().integer().min(1).max(10000000).default(1000).description("Tool gateway: capacity of every agent's token bucket"),
  // OpenTelemetry's own variables, read by its SDK: checked here so a typo stops the process with its name.
  OTEL_EXPORTER_OTLP_ENDPOINT: Joi.string().allow('').uri({ scheme: ['http', 'https'] }).description('Traces are exported over OTLP only when this (or OTEL_EXPORTER_OTLP_TRACES_ENDPOINT) is set: the collector base URL, /v1/traces is appended'),
  OTEL_EXPORTER_OTLP_TRACES_ENDPOINT: Joi.string().allow('').uri({ scheme: ['http', 'https'] }).description('The full URL traces are sent to; wins over OTEL_EXPORTER_OTLP_ENDPOINT'),
  OTEL_EXPORTER_OTLP_HEADERS: Joi.string()
    .allow('')
    .max(8192)
    .pattern(/^\s*[^=,\s]+\s*=[^,]*(,\s*[^=,\s]+\s*=[^,]*)*$/)
    // The value is a credential more often than not: the message never quotes it.
    .messages({ 'string.pattern.base': '"OTEL_EXPORTER_OTLP_HEADERS" must be key=value pairs separated by commas' })
    .description('Headers of every OTLP export request, key=value comma-separated (an API key: a secret, never logged)'),
  OTEL_EXPORTER_OTLP_TRACES_PROTOCOL: Joi.string().allow('').valid('http/protobuf', 'http/json', 'grpc').description('OTLP encoding of traces (default http/protobuf)'),
  OTEL_SERVICE_NAME: Joi.string().allow('').max(255).description('service.name of the spans (default govmesh-<service>, govmesh for the embedded mesh)'),
  OTEL_TRACES_SAMPLER: Joi.string()
    .allow('')
    .valid('always_on', 'always_off', 'traceidratio', 'parentbased_always_on', 'parentbased_always_off', 'parentbased_traceidratio')
    .description('Which traces are recorded (default parentbased_always_on: a trace started by a sampled caller is recorded)'),
  OTEL_TRACES_SAMPLER_ARG: Joi.number().allow('').min(0).max(1).description('The ratio of the traceidratio samplers'),
  GOVMESH_BASELINE_WINDOW_DAYS: Joi.number().integer().min(1).max(365).default(30).description("Telemetry: the window of each agent's behaviour baseline (tools, egress destinations, cost per run, deny and escalation rates)"),
  GOVMESH_BASELINE_MIN_RUNS: Joi.number().integer().min(1).max(100000).default(20).description('Telemetry: completed runs an agent needs in the window before its behaviour is flagged (the warm-up)'),
  GOVMESH_BASELINE_COST_SIGMA: Joi.number().min(1).max(20).default(3).description("Telemetry: a run costing more than the mean of the agent's runs plus this many standard deviations is a cost outlier"),
  GOVMESH_BASELINE_RECENT_RUNS: Joi.number().integer().min(5).max(10000).default(20).description("Telemetry: the agent's latest completed runs whose deny and escalation rates are compared with its baseline"),
  GOVMESH_BASELINE_RATE_MIN_COUNT: Joi.number().integer().min(1).max(10000).default(5).description('Telemetry: denied (escalated) runs among the recent runs before a deny (escalation) rate can be flagged'),
  GOVMESH_RETENTION_INBOX_DAYS: Joi.number()
    .integer()
    .min(0)
    .max(3650)
    .default(30)
    .custom((value: number) => {
      checkInboxRetention(value);
      return value;
    })
    .description(`Every service: processed event ids are kept this many days (0: forever; at least ${INBOX_RETENTION_MIN_DAYS}, longer than a redelivery is possible)`),
  GOVMESH_RETENTION_DEAD_LETTERS_DAYS: Joi.number().integer().min(0).max(36500).default(90).description("Telemetry: dead letters (with their original bytes) are kept this many days (0: forever); the audit ledger's record of each is never pruned"),
  GOVMESH_RETENTION_RUN_TIMELINE_DAYS: Joi.number().integer().min(0).max(36500).default(90).description("Orchestrator: the timeline of a run that ended more than this many days ago is deleted (0: forever); the audit ledger's is never pruned"),
  GOVMESH_RETENTION_INTERVAL_MINUTES: Joi.number().integer().min(1).max(1440).default(60).description('How often each service runs its retention jobs'),
})
  .and('KAFKA_BROKERS', 'DATABASE_URL')
  .and('GOVMESH_OIDC_ISSUER', 'GOVMESH_OIDC_JWKS_URL', 'GOVMESH_OIDC_AUDIENCE')
  .messages({ 'object.and': '{{#presentWithLabels}} must be set together with {{#missingWithLabels}} (KAFKA_BROKERS with DATABASE_URL for distributed mode; the three GOVMESH_OIDC_ISSUER, _JWKS_URL, _AUDIENCE for bearer tokens)' });

export const CONFIG_VARIABLES = Object.keys(CONFIG_SCHEMA.describe().keys ?? {});

export interface GovmeshConfig {
  mode: 'embedded' | 'distributed';
  /** A service name, `embedded`, or `service-test`. */
  processName: string;
  port: number;
  /** Address to listen on. */
  host: string;
  logLevel: 'error' | 'warn' | 'info' | 'debug';
  kafka?: { brokers: string[]; clientId: string; topicPartitions: number; partitionsConcurrency: number; groupPrefix: string; sessionTimeoutMs: number };
  databaseUrl?: string;
  databasePoolSize: number;
  dataDir: string;
  /** Key material as configured; embedded mode fills what is missing (see ServiceKeys). */
  keys: { grantSigning?: string; grantPublic?: string; ingressSigning?: string; ingressPublic?: string; verifierSigning?: string; verifierPublic?: string; gatewaySigning?: string; gatewayPublic?: string; auditSigning?: string; auditPublic?: string; connection?: string };
  bootstrapOperatorKey?: string;
  oidc?: { issuer: string; jwksUrl: string; audience: string; rolesClaim: string; groupsClaim: string; agentClaim: string };
  metricsToken?: string;
  intentMaxAgeSeconds: number;
  grantTtlSeconds: number;
  maxMessageBytes: number;
  outboxPollMs: number;
  seedDemoData: boolean;
  runDemo: boolean;
  /** Overrides the workflow's default run deadline when set. */
  runDeadlineSeconds?: number;
  toolTimeoutMs: number;
  sandboxLatencyMs: number;
  /** Tool gateway mediation: consecutive failures that open a breaker, and its cool-down. */
  breakerFailures: number;
  breakerCooldownMs: number;
  /** Every agent's token bucket over all its tool calls; 0 per minute: no per-agent limit. */
  agentRatePerMinute: number;
  agentRateBurst: number;
  /** Reviewer group → incoming webhook URL (a secret: never log it). */
  reviewerWebhooks: Record<string, string>;
  /** Signed checkpoints of the audit ledger: how often, how many records each at most, and the optional sink outside the database. */
  auditCheckpoint: { intervalMs: number; maxRecords: number; sink?: string; sinkToken?: string };
  /** The fraction of a review SLA after which an `sla_near` notification goes out. */
  slaWarningFraction: number;
  /** Telemetry's behaviour baselines per agent. */
  baseline: { windowDays: number; minRuns: number; costSigma: number; recentRuns: number; rateMinCount: number };
  /** Retention of each store in days (0: forever) and how often the jobs run. */
  retention: { inboxDays: number; deadLetterDays: number; runTimelineDays: number; intervalMinutes: number };
}

/** Turns validated variables into the typed config. Services check the keys they need at start. */
export function toGovmeshConfig(env: Record<string, unknown>, processName: string, defaultPort: number): GovmeshConfig {
  const distributed = Boolean(env['KAFKA_BROKERS']);
  const str = (name: string) => env[name] as string | undefined;
  return {
    mode: distributed ? 'distributed' : 'embedded',
    processName,
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
    keys: {
      grantSigning: str('GOVMESH_GRANT_SIGNING_KEY'),
      grantPublic: str('GOVMESH_GRANT_PUBLIC_KEY'),
      ingressSigning: str('GOVMESH_INGRESS_SIGNING_KEY'),
      ingressPublic: str('GOVMESH_INGRESS_PUBLIC_KEY'),
      verifierSigning: str('GOVMESH_VERIFIER_SIGNING_KEY'),
      verifierPublic: str('GOVMESH_VERIFIER_PUBLIC_KEY'),
      gatewaySigning: str('GOVMESH_GATEWAY_SIGNING_KEY'),
      gatewayPublic: str('GOVMESH_GATEWAY_PUBLIC_KEY'),
      auditSigning: str('GOVMESH_AUDIT_SIGNING_KEY'),
      auditPublic: str('GOVMESH_AUDIT_PUBLIC_KEY'),
      connection: str('GOVMESH_CONNECTION_KEYS'),
    },
    bootstrapOperatorKey: str('GOVMESH_BOOTSTRAP_OPERATOR_KEY'),
    oidc: str('GOVMESH_OIDC_JWKS_URL')
      ? {
          issuer: str('GOVMESH_OIDC_ISSUER')!,
          jwksUrl: str('GOVMESH_OIDC_JWKS_URL')!,
          audience: str('GOVMESH_OIDC_AUDIENCE')!,
          rolesClaim: str('GOVMESH_OIDC_ROLES_CLAIM')!,
          groupsClaim: str('GOVMESH_OIDC_GROUPS_CLAIM')!,
          agentClaim: str('GOVMESH_OIDC_AGENT_CLAIM')!,
        }
      : undefined,
    metricsToken: str('GOVMESH_METRICS_TOKEN'),
    intentMaxAgeSeconds: env['GOVMESH_INTENT_MAX_AGE_SECONDS'] as number,
    grantTtlSeconds: env['GOVMESH_GRANT_TTL_SECONDS'] as number,
    maxMessageBytes: env['GOVMESH_MAX_MESSAGE_BYTES'] as number,
    outboxPollMs: env['GOVMESH_OUTBOX_POLL_MS'] as number,
    seedDemoData: env['GOVMESH_SEED_DEMO_DATA'] as boolean,
    runDemo: env['GOVMESH_DEMO'] as boolean,
    runDeadlineSeconds: env['GOVMESH_RUN_DEADLINE_SECONDS'] as number | undefined,
    toolTimeoutMs: env['GOVMESH_TOOL_TIMEOUT_MS'] as number,
    sandboxLatencyMs: env['GOVMESH_SANDBOX_LATENCY_MS'] as number,
    breakerFailures: env['GOVMESH_BREAKER_FAILURES'] as number,
    breakerCooldownMs: env['GOVMESH_BREAKER_COOLDOWN_MS'] as number,
    agentRatePerMinute: env['GOVMESH_AGENT_RATE_PER_MINUTE'] as number,
    agentRateBurst: env['GOVMESH_AGENT_RATE_BURST'] as number,
    reviewerWebhooks: parseReviewerWebhooks(env['GOVMESH_REVIEWER_WEBHOOKS']),
    auditCheckpoint: {
      intervalMs: (env['GOVMESH_AUDIT_CHECKPOINT_INTERVAL_MS'] as number | undefined) ?? 60000,
      maxRecords: (env['GOVMESH_AUDIT_CHECKPOINT_MAX_RECORDS'] as number | undefined) ?? 10000,
      sink: str('GOVMESH_AUDIT_CHECKPOINT_SINK'),
      sinkToken: str('GOVMESH_AUDIT_CHECKPOINT_SINK_TOKEN'),
    },
    slaWarningFraction: (env['GOVMESH_SLA_WARNING_FRACTION'] as number | undefined) ?? 0.8,
    baseline: {
      windowDays: (env['GOVMESH_BASELINE_WINDOW_DAYS'] as number | undefined) ?? 30,
      minRuns: (env['GOVMESH_BASELINE_MIN_RUNS'] as number | undefined) ?? 20,
      costSigma: (env['GOVMESH_BASELINE_COST_SIGMA'] as number | undefined) ?? 3,
      recentRuns: (env['GOVMESH_BASELINE_RECENT_RUNS'] as number | undefined) ?? 20,
      rateMinCount: (env['GOVMESH_BASELINE_RATE_MIN_COUNT'] as number | undefined) ?? 5,
    },
    retention: {
      inboxDays: (env['GOVMESH_RETENTION_INBOX_DAYS'] as number | undefined) ?? 30,
      deadLetterDays: (env['GOVMESH_RETENTION_DEAD_LETTERS_DAYS'] as number | undefined) ?? 90,
      runTimelineDays: (env['GOVMESH_RETENTION_RUN_TIMELINE_DAYS'] as number | undefined) ?? 90,
      intervalMinutes: (env['GOVMESH_RETENTION_INTERVAL_MINUTES'] as number | undefined) ?? 60,
    },
  };
}

/** Validates the environment the way ConfigModule does, for code that runs before Nest. */
export function validateEnvironment(env: NodeJS.ProcessEnv): Record<string, unknown> {
  const { error, value } = CONFIG_SCHEMA.validate(env, { abortEarly: false, allowUnknown: true, convert: true });
  if (error) throw new Error(`Config validation error: ${error.message}`);
  return value as Record<string, unknown>;
}
