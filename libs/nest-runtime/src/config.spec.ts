import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { CONFIG_VARIABLES, parseConnectionKeys, toGovmeshConfig, validateEnvironment } from './config';

const BROKERS = 'kafka-1:9092,kafka-2:9092';
const DATABASE_URL = 'postgres://govmesh:secret@db:5432/govmesh';

function configFor(env: NodeJS.ProcessEnv, processName = 'policy', defaultPort = 3001) {
  return toGovmeshConfig(validateEnvironment(env), processName, defaultPort);
}

describe('validateEnvironment', () => {
  it('names a port that is not a number', () => {
    expect(() => validateEnvironment({ PORT: 'abc' })).toThrow('Config validation error: "PORT" must be a number');
  });

  it('names a port out of range', () => {
    expect(() => validateEnvironment({ PORT: '70000' })).toThrow(/"PORT" must be a valid port/);
  });

  it('converts the text of numeric and boolean variables to values', () => {
    const env = validateEnvironment({ PORT: '8080', GOVMESH_OUTBOX_POLL_MS: '250', GOVMESH_DEMO: 'false', GOVMESH_SEED_DEMO_DATA: 'true' });
    expect(env).toMatchObject({ PORT: 8080, GOVMESH_OUTBOX_POLL_MS: 250, GOVMESH_DEMO: false, GOVMESH_SEED_DEMO_DATA: true });
  });

  it('refuses KAFKA_BROKERS without DATABASE_URL, naming both', () => {
    let message = '';
    try {
      validateEnvironment({ KAFKA_BROKERS: BROKERS });
    } catch (err) {
      message = (err as Error).message;
    }
    expect(message).toContain('KAFKA_BROKERS');
    expect(message).toContain('DATABASE_URL');
    expect(message).toContain('must be set together');
  });

  it('refuses DATABASE_URL without KAFKA_BROKERS too', () => {
    expect(() => validateEnvironment({ DATABASE_URL })).toThrow(/\[DATABASE_URL\] must be set together with \[KAFKA_BROKERS\]/);
  });

  it('names a broker list that is not host:port pairs', () => {
    expect(() => validateEnvironment({ KAFKA_BROKERS: 'kafka-1', DATABASE_URL })).toThrow(/"KAFKA_BROKERS" with value "kafka-1" fails to match the required pattern/);
    expect(() => validateEnvironment({ KAFKA_BROKERS: 'kafka-1:9092, kafka-2:9092', DATABASE_URL })).toThrow(/KAFKA_BROKERS/);
  });

  it('names a database URL that is not Postgres', () => {
    expect(() => validateEnvironment({ KAFKA_BROKERS: BROKERS, DATABASE_URL: 'mysql://db:3306/govmesh' })).toThrow(/"DATABASE_URL" must be a valid uri with a scheme matching the postgres\|postgresql pattern/);
  });

  it('names a malformed bootstrap key and an incomplete OIDC setting', () => {
    expect(() => validateEnvironment({ GOVMESH_BOOTSTRAP_OPERATOR_KEY: 'gm_short' })).toThrow(/"GOVMESH_BOOTSTRAP_OPERATOR_KEY" with value "gm_short" fails to match the required pattern/);
    expect(() => validateEnvironment({ GOVMESH_OIDC_JWKS_URL: 'https://idp.example/jwks' })).toThrow(/GOVMESH_OIDC_JWKS_URL.* must be set together with .*GOVMESH_OIDC_ISSUER/);
  });

  it('reports every bad variable at once, not just the first', () => {
    let message = '';
    try {
      validateEnvironment({ PORT: 'abc', LOG_LEVEL: 'verbose', GOVMESH_MAX_MESSAGE_BYTES: '10' });
    } catch (err) {
      message = (err as Error).message;
    }
    expect(message).toContain('"PORT"');
    expect(message).toContain('"LOG_LEVEL" must be one of [error, warn, info, debug]');
    expect(message).toContain('"GOVMESH_MAX_MESSAGE_BYTES" must be greater than or equal to 65536');
  });

  it('lets through variables it does not know, such as PATH', () => {
    expect(validateEnvironment({ PATH: '/usr/bin', HOME: '/root' })).toMatchObject({ PATH: '/usr/bin' });
  });

  it('knows every variable govmesh reads', () => {
    expect(CONFIG_VARIABLES).toEqual(
      expect.arrayContaining(['PORT', 'KAFKA_BROKERS', 'DATABASE_URL', 'GOVMESH_GRANT_SIGNING_KEY', 'GOVMESH_GRANT_PUBLIC_KEY', 'GOVMESH_INGRESS_SIGNING_KEY', 'GOVMESH_INGRESS_PUBLIC_KEY', 'GOVMESH_VERIFIER_SIGNING_KEY', 'GOVMESH_VERIFIER_PUBLIC_KEY', 'GOVMESH_BOOTSTRAP_OPERATOR_KEY', 'GOVMESH_OIDC_JWKS_URL', 'GOVMESH_METRICS_TOKEN', 'GOVMESH_DATA_DIR', 'GOVMESH_MAX_MESSAGE_BYTES', 'LOG_LEVEL']),
    );
    expect(new Set(CONFIG_VARIABLES).size).toBe(CONFIG_VARIABLES.length);
  });
});

describe('toGovmeshConfig', () => {
  it('runs embedded with the documented defaults when nothing is set', () => {
    expect(configFor({}, 'embedded', 3000)).toEqual({
      mode: 'embedded',
      processName: 'embedded',
      port: 3000,
      host: '127.0.0.1',
      logLevel: 'info',
      kafka: undefined,
      databaseUrl: undefined,
      databasePoolSize: 10,
      dataDir: '.govmesh',
      keys: { grantSigning: undefined, grantPublic: undefined, ingressSigning: undefined, ingressPublic: undefined, verifierSigning: undefined, verifierPublic: undefined, connection: undefined },
      bootstrapOperatorKey: undefined,
      oidc: undefined,
      metricsToken: undefined,
      intentMaxAgeSeconds: 300,
      grantTtlSeconds: 30,
      maxMessageBytes: 262144,
      outboxPollMs: 1000,
      seedDemoData: true,
      runDemo: true,
      runDeadlineSeconds: undefined,
      toolTimeoutMs: 30000,
      sandboxLatencyMs: 0,
      breakerFailures: 5,
      breakerCooldownMs: 30000,
      agentRatePerMinute: 30000,
      agentRateBurst: 1000,
      reviewerWebhooks: {},
      slaWarningFraction: 0.8,
      auditCheckpoint: { intervalMs: 60000, maxRecords: 10000, sink: undefined, sinkToken: undefined },
      baseline: { windowDays: 30, minRuns: 20, costSigma: 3, recentRuns: 20, rateMinCount: 5 },
      retention: { inboxDays: 30, deadLetterDays: 90, runTimelineDays: 90, intervalMinutes: 60 },
    });
  });

  it('takes PORT over the service default', () => {
    expect(configFor({ PORT: '8088' }, 'policy', 3001).port).toBe(8088);
  });

  it('reads the OIDC provider with its claim names', () => {
    const config = configFor({ GOVMESH_OIDC_ISSUER: 'https://idp.example', GOVMESH_OIDC_JWKS_URL: 'https://idp.example/jwks', GOVMESH_OIDC_AUDIENCE: 'govmesh', GOVMESH_OIDC_ROLES_CLAIM: 'realm_access.roles' });
    expect(config.oidc).toEqual({ issuer: 'https://idp.example', jwksUrl: 'https://idp.example/jwks', audience: 'govmesh', rolesClaim: 'realm_access.roles', groupsClaim: 'groups', agentClaim: 'agent_id' });
  });

  it('builds the distributed config: brokers split, client id per process, Kafka defaults', () => {
    const config = configFor({ KAFKA_BROKERS: BROKERS, DATABASE_URL }, 'tool-gateway', 3005);
    expect(config).toMatchObject({
      mode: 'distributed',
      port: 3005,
      databaseUrl: DATABASE_URL,
      kafka: { brokers: ['kafka-1:9092', 'kafka-2:9092'], clientId: 'govmesh-tool-gateway', topicPartitions: 6, partitionsConcurrency: 3, groupPrefix: 'govmesh', sessionTimeoutMs: 30000 },
    });
  });

  it('takes Kafka settings from the environment when given', () => {
    const config = configFor({
      KAFKA_BROKERS: 'localhost:29092',
      DATABASE_URL: 'postgresql://localhost/govmesh',
      KAFKA_CLIENT_ID: 'custom-client',
      KAFKA_TOPIC_PARTITIONS: '12',
      KAFKA_GROUP_PREFIX: 'staging',
      KAFKA_SESSION_TIMEOUT_MS: '10000',
    });
    expect(config.kafka).toEqual({ brokers: ['localhost:29092'], clientId: 'custom-client', topicPartitions: 12, partitionsConcurrency: 3, groupPrefix: 'staging', sessionTimeoutMs: 10000 });
  });
});

describe('reviewer webhooks', () => {
  const SLACK = 'https://hooks.slack.com/services/T000/B000/secretsecret';

  it('reads the group → URL map and the SLA warning fraction', () => {
    const config = configFor({ GOVMESH_REVIEWER_WEBHOOKS: JSON.stringify({ 'finance-ops': SLACK, 'risk': 'http://teams.internal/hook' }), GOVMESH_SLA_WARNING_FRACTION: '0.5' }, 'orchestrator', 3002);
    expect(config.reviewerWebhooks).toEqual({ 'finance-ops': SLACK, risk: 'http://teams.internal/hook' });
    expect(config.slaWarningFraction).toBe(0.5);
  });

  it('refuses invalid JSON, a non-object and a non-http(s) URL, naming the group but never the URL', () => {
    expect(() => validateEnvironment({ GOVMESH_REVIEWER_WEBHOOKS: '{finance-ops: x}' })).toThrow(/"GOVMESH_REVIEWER_WEBHOOKS" failed custom validation because it is not valid JSON/);
    expect(() => validateEnvironment({ GOVMESH_REVIEWER_WEBHOOKS: '["https://x"]' })).toThrow(/must be a JSON object/);
    let message = '';
    try {
      validateEnvironment({ GOVMESH_REVIEWER_WEBHOOKS: JSON.stringify({ 'finance-ops': 'ftp://files.example/secretsecret' }) });
    } catch (err) {
      message = (err as Error).message;
    }
    expect(message).toContain('the webhook of group "finance-ops" must be an http or https URL');
    expect(message).not.toContain('secretsecret');
    expect(() => validateEnvironment({ GOVMESH_REVIEWER_WEBHOOKS: JSON.stringify({ ops: 'not a url' }) })).toThrow(/the webhook of group "ops" is not a valid URL/);
    expect(() => validateEnvironment({ GOVMESH_REVIEWER_WEBHOOKS: JSON.stringify({ ops: 42 }) })).toThrow(/must be a URL string/);
  });

  it('refuses an SLA warning fraction outside (0, 1)', () => {
    expect(() => validateEnvironment({ GOVMESH_SLA_WARNING_FRACTION: '1.5' })).toThrow(/"GOVMESH_SLA_WARNING_FRACTION" must be less than 1/);
  });
});

describe('connection master keys', () => {
  const key = (byte: number, length = 32) => Buffer.alloc(length, byte).toString('base64');

  it('reads the keys in order, the first current, in standard or url-safe base64', () => {
    const url = Buffer.alloc(32, 0xfb).toString('base64url');
    const config = configFor({ GOVMESH_CONNECTION_KEYS: `kid1:${key(1)}, kid0:${url}` }, 'tool-gateway', 3005);
    expect(config.keys.connection).toBe(`kid1:${key(1)}, kid0:${url}`);
    expect(parseConnectionKeys(config.keys.connection).map((k) => [k.id, k.key.length, k.key[0]])).toEqual([
      ['kid1', 32, 1],
      ['kid0', 32, 0xfb],
    ]);
  });

  it.each([
    ['kid1', /entry 1 must be <key id>:<base64 of 32 bytes>/],
    [`:${key(1)}`, /entry 1 must be/],
    [`kid1:${key(1)},kid 2:${key(2)}`, /entry 2 must be/],
    ['kid1:not base64!', /key "kid1" is not base64/],
    [`kid1:${key(7, 16)}`, /key "kid1" must be 32 bytes \(AES-256\), got 16/],
    [`kid1:${key(1)},kid1:${key(2)}`, /key id "kid1" appears twice/],
  ])('refuses %s, naming the variable and never the key material', (value, problem) => {
    let message = '';
    try {
      validateEnvironment({ GOVMESH_CONNECTION_KEYS: value });
    } catch (err) {
      message = (err as Error).message;
    }
    expect(message).toMatch(/"GOVMESH_CONNECTION_KEYS" failed custom validation because/);
    expect(message).toMatch(problem);
    for (const material of value.split(',').map((e) => e.split(':')[1]).filter((m) => m && m.length > 8)) expect(message).not.toContain(material);
  });
});

describe('the README documents every variable', () => {
  it('lists each validated variable in its configuration table', () => {
    const readme = readFileSync(join(__dirname, '../../../README.md'), 'utf8');
    const table = readme.slice(readme.indexOf('## Configuration'), readme.indexOf('## Development'));
    const missing = CONFIG_VARIABLES.filter((name) => !table.includes(`| \`${name}\` |`));
    expect(missing).toEqual([]);
  });
});
