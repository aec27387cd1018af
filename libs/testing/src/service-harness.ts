import type { Type } from '@nestjs/common';
import type { NestExpressApplication } from '@nestjs/platform-express';
import { createEvent, EVENT_CATALOG, eventKey, TOPIC_REGISTRY, type EventData, type EventType, type GovmeshEvent } from '@govmesh/contracts';
import { InProcessTransport, toOutgoingMessage, type IncomingMessage, type OutgoingMessage } from '@govmesh/messaging';
import { ApiKeyStore, createGovmeshApp, DATABASE_TARGET, GOVMESH_CONFIG, TRANSPORT, type GovmeshConfig, type Role } from '@govmesh/nest-runtime';
import type { DatabaseTarget } from '@govmesh/persistence';
import { GovmeshMetrics } from '@govmesh/observability';

const TEST_SOURCE = 'urn:service-test';

export interface ServiceHarnessOptions {
  /** The service's Nest module (or several, for a slice of the mesh). */
  modules: Array<Type<unknown>>;
  /** The schemas of those services: `settle` waits until their outboxes and side effects are empty. */
  schemas: string[];
  /** Environment for the run (GOVMESH_* variables); embedded defaults otherwise. */
  env?: Record<string, string>;
}

/**
 * The service test tier: one service's module on the in-process transport with an in-memory
 * PGlite (the same migrations), in this process. Tests send it events, wait until it settled, and
 * assert the events it emitted and the rows it wrote. Starting takes a second or two; a case
 * takes milliseconds, so share one harness per file and use fresh run ids per case.
 */
export class ServiceHarness {
  private readonly captured: IncomingMessage[] = [];

  private constructor(
    readonly app: NestExpressApplication,
    readonly transport: InProcessTransport,
    private readonly database: Extract<DatabaseTarget, { kind: 'pglite' }>,
    readonly config: GovmeshConfig,
    private readonly schemas: readonly string[],
    private readonly savedEnv: NodeJS.ProcessEnv,
  ) {}

  static async start(options: ServiceHarnessOptions): Promise<ServiceHarness> {
    const saved = { ...process.env };
    delete process.env['KAFKA_BROKERS'];
    delete process.env['DATABASE_URL'];
    Object.assign(process.env, { GOVMESH_DATA_DIR: 'memory://', LOG_LEVEL: 'error', GOVMESH_OUTBOX_POLL_MS: '50', GOVMESH_DEMO: 'false', ...options.env });
    const app = await createGovmeshApp({ processName: 'service-test', defaultPort: 0, modules: options.modules, requireDistributed: false });
    const transport = app.get<InProcessTransport>(TRANSPORT);
    const database = app.get<DatabaseTarget>(DATABASE_TARGET);
    if (!(transport instanceof InProcessTransport) || database.kind !== 'pglite') throw new Error('the service harness runs embedded only');
    const harness = new ServiceHarness(app, transport, database, app.get<GovmeshConfig>(GOVMESH_CONFIG), options.schemas, saved);
    await transport.subscribe({
      groupId: 'service-harness.capture',
      topics: TOPIC_REGISTRY.map((t) => t.name),
      handleBatch: async (batch) => {
        harness.captured.push(...batch.messages);
      },
    });
    await app.init();
    return harness;
  }

  get metrics(): GovmeshMetrics {
    return this.app.get(GovmeshMetrics);
  }

  /** Builds an event as another service would have sent it. */
  event<T extends EventType>(type: T, data: EventData<T>, options: { source?: string; id?: string } = {}): GovmeshEvent<T> {
    const key = eventKey(type, data);
    return createEvent(type, data, { source: options.source ?? TEST_SOURCE, subject: key, correlationId: key, id: options.id });
  }

  /** Publishes events (or raw messages) and waits until the service has handled everything. */
  async send(...items: Array<GovmeshEvent | OutgoingMessage>): Promise<void> {
    const messages = items.map((item) => ('specversion' in item ? toOutgoingMessage(item) : item));
    await this.transport.publish(messages);
    await this.settle();
  }

  /** Publishes bytes as they are on a topic under a key, for hostile-input cases. */
  async sendRaw(topic: string, value: Buffer | string, key: string | null = null): Promise<void> {
    await this.send({ topic, key, value: Buffer.isBuffer(value) ? value : Buffer.from(value), headers: {} });
  }

  /**
   * Waits until nothing is in flight: every consumer group drained, every outbox published,
   * every reserved side effect recorded.
   */
  async settle(timeoutMs = 10000): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    let quietChecks = 0;
    while (quietChecks < 3) {
      if (Date.now() > deadline) throw new Error('the service did not settle in time');
      await new Promise((resolve) => setTimeout(resolve, 5));
      const counts = this.schemas.map((s) => `(SELECT count(*) FROM "${s}"."outbox") + (SELECT count(*) FROM "${s}"."effects")`).join(' + ') || '0';
      const pending = await this.query<{ n: number }>(`SELECT (${counts})::int AS n`);
      quietChecks = this.transport.idle() && pending[0].n === 0 ? quietChecks + 1 : 0;
    }
  }

  /** The events the services under test published (not what the test sent), optionally of one type. */
  emitted<T extends EventType>(type?: T): Array<GovmeshEvent<T>> {
    return this.captured
      .filter((m) => m.value && (!type || m.headers['ce_type'] === type))
      .map((m) => JSON.parse(m.value!.toString('utf8')) as GovmeshEvent<T>)
      .filter((e) => e.type in EVENT_CATALOG && e.source !== TEST_SOURCE);
  }

  /** Messages published to a topic (the dead-letter topic, say), with their headers. */
  published(topic: string): IncomingMessage[] {
    return this.captured.filter((m) => m.topic === topic);
  }

  /** Events emitted for one run, in order. */
  emittedFor(runId: string): GovmeshEvent[] {
    return this.emitted().filter((e) => e.correlationid === runId || e.subject === runId);
  }

  async query<R = Record<string, unknown>>(sql: string, params: unknown[] = []): Promise<R[]> {
    const release = await this.database.queue.acquire();
    try {
      return (await this.database.queue.db.query<R>(sql, params)).rows;
    } finally {
      release();
    }
  }

  /** The operator API key the embedded runtime generated for this in-memory database. */
  get operatorKey(): string {
    const key = this.app.get(ApiKeyStore).operatorKey;
    if (!key) throw new Error('no operator key was generated (is GOVMESH_BOOTSTRAP_OPERATOR_KEY set?)');
    return key;
  }

  /** A fresh API key of a role (an agent key names its agent). */
  async apiKey(role: Role, options: { agentId?: string; groups?: string[]; name?: string } = {}): Promise<string> {
    const { key } = await this.app.get(ApiKeyStore).create({ name: options.name ?? `test ${role}`, role, groups: options.groups, agentId: options.agentId }, 'service-test');
    return key;
  }

  /** The base URL of the app, listening on a free port of 127.0.0.1 from the first call on. */
  async baseUrl(): Promise<string> {
    if (!this.app.getHttpServer().listening) await this.app.listen(0, '127.0.0.1');
    return (await this.app.getUrl()).replace('[::1]', '127.0.0.1');
  }

  /**
   * One HTTP request as an outside client makes it: JSON body, `authorization: Bearer <key>` when
   * a key is given (the operator key unless `key` is null), answered status and parsed body.
   */
  async http<T = Record<string, unknown>>(method: string, path: string, options: { key?: string | null; body?: unknown; headers?: Record<string, string> } = {}): Promise<{ status: number; body: T }> {
    const key = options.key === undefined ? this.operatorKey : options.key;
    const headers: Record<string, string> = { ...(options.body !== undefined ? { 'content-type': 'application/json' } : {}), ...(key ? { authorization: `Bearer ${key}` } : {}), ...options.headers };
    const res = await fetch(`${await this.baseUrl()}${path}`, { method, headers, body: options.body === undefined ? undefined : typeof options.body === 'string' ? options.body : JSON.stringify(options.body) });
    const text = await res.text();
    let body: unknown = text;
    try {
      body = JSON.parse(text);
    } catch {
      // not JSON: the text as is
    }
    return { status: res.status, body: body as T };
  }

  async close(): Promise<void> {
    await this.app.close();
    process.env = this.savedEnv;
  }

}
