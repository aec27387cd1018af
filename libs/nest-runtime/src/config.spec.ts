import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { CONFIG_VARIABLES, toGovmeshConfig, validateEnvironment } from './config';

const BROKERS = 'kafka-1:9092,kafka-2:9092';
const DATABASE_URL = 'postgres://govmesh:secret@db:5432/govmesh';
const GRANT_SECRET = 'a-very-long-grant-secret-of-40-characters';

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
    expect(() => validateEnvironment({ DATABASE_URL })).toThrow(/KAFKA_BROKERS and DATABASE_URL must be set together/);
  });

  it('names a broker list that is not host:port pairs', () => {
    expect(() => validateEnvironment({ KAFKA_BROKERS: 'kafka-1', DATABASE_URL })).toThrow(/"KAFKA_BROKERS" with value "kafka-1" fails to match the required pattern/);
    expect(() => validateEnvironment({ KAFKA_BROKERS: 'kafka-1:9092, kafka-2:9092', DATABASE_URL })).toThrow(/KAFKA_BROKERS/);
  });

  it('names a database URL that is not Postgres', () => {
    expect(() => validateEnvironment({ KAFKA_BROKERS: BROKERS, DATABASE_URL: 'mysql://db:3306/govmesh' })).toThrow(/"DATABASE_URL" must be a valid uri with a scheme matching the postgres\|postgresql pattern/);
  });

  it('names a grant secret shorter than 32 characters', () => {
    expect(() => validateEnvironment({ GOVMESH_GRANT_SECRET: 'short' })).toThrow(/"GOVMESH_GRANT_SECRET" length must be at least 32 characters long/);
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
      expect.arrayContaining(['PORT', 'KAFKA_BROKERS', 'DATABASE_URL', 'GOVMESH_GRANT_SECRET', 'GOVMESH_DATA_DIR', 'GOVMESH_MAX_MESSAGE_BYTES', 'LOG_LEVEL']),
    );
    expect(new Set(CONFIG_VARIABLES).size).toBe(CONFIG_VARIABLES.length);
  });
});

describe('toGovmeshConfig', () => {
  it('runs embedded with the documented defaults when nothing is set', () => {
    expect(configFor({}, 'embedded', 3000)).toEqual({
      mode: 'embedded',
      port: 3000,
      host: '127.0.0.1',
      logLevel: 'info',
      kafka: undefined,
      databaseUrl: undefined,
      databasePoolSize: 10,
      dataDir: '.govmesh',
      grantSecret: 'govmesh-embedded-development-grant-secret-not-for-production',
      maxMessageBytes: 262144,
      outboxPollMs: 1000,
      seedDemoData: true,
      runDemo: true,
      runDeadlineSeconds: undefined,
      toolTimeoutMs: 30000,
      sandboxLatencyMs: 0,
    });
  });

  it('takes PORT over the service default', () => {
    expect(configFor({ PORT: '8088' }, 'policy', 3001).port).toBe(8088);
  });

  it('refuses distributed mode without GOVMESH_GRANT_SECRET, naming it', () => {
    expect(() => configFor({ KAFKA_BROKERS: BROKERS, DATABASE_URL })).toThrow(/"GOVMESH_GRANT_SECRET" is required in distributed mode/);
  });

  it('never signs distributed grants with the development secret', () => {
    const config = configFor({ KAFKA_BROKERS: BROKERS, DATABASE_URL, GOVMESH_GRANT_SECRET: GRANT_SECRET });
    expect(config.grantSecret).toBe(GRANT_SECRET);
  });

  it('builds the distributed config: brokers split, client id per process, Kafka defaults', () => {
    const config = configFor({ KAFKA_BROKERS: BROKERS, DATABASE_URL, GOVMESH_GRANT_SECRET: GRANT_SECRET }, 'tool-gateway', 3005);
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
      GOVMESH_GRANT_SECRET: GRANT_SECRET,
      KAFKA_CLIENT_ID: 'custom-client',
      KAFKA_TOPIC_PARTITIONS: '12',
      KAFKA_GROUP_PREFIX: 'staging',
      KAFKA_SESSION_TIMEOUT_MS: '10000',
    });
    expect(config.kafka).toEqual({ brokers: ['localhost:29092'], clientId: 'custom-client', topicPartitions: 12, partitionsConcurrency: 3, groupPrefix: 'staging', sessionTimeoutMs: 10000 });
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
