import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { Module } from '@nestjs/common';
import { NestFactory } from '@nestjs/core';
import { getDataSourceToken } from '@nestjs/typeorm';
import { DataSource } from 'typeorm';
import { inUnitOfWork } from '@govmesh/messaging';
import { GovmeshMetrics } from '@govmesh/observability';
import { migrateServiceDatabase, openEmbeddedDatabase, serviceDataSourceOptions, type DatabaseTarget } from '@govmesh/persistence';
import { ENDPOINT_DEPS } from '@govmesh/nest-runtime';
import { expectEventually } from '@govmesh/testing';
import { Notifications1795252614591 } from '../migrations/1795252614591-Notifications';
import { NOTIFICATION_ENTITIES, type NotificationStatus } from './notification.entity';
import { NotificationsService } from './notifications.service';
import { Notifier, reviewerNotificationText, type NotificationToSend, type NotifierOptions } from './notifier';

const SCHEMA = 'orchestrator';
const SECRET = 'T0000/B0000/secretsecretsecret';

interface Received {
  path: string;
  contentType: string | undefined;
  body: string;
}

/** A webhook receiver on 127.0.0.1: /ok answers 200, /flaky 500 twice then 200, /down always 503, /hang never. */
class WebhookServer {
  readonly received: Received[] = [];
  private flakyCalls = 0;
  private readonly server: Server;

  constructor() {
    this.server = createServer((req, res) => this.handle(req, res));
  }

  async listen(): Promise<void> {
    await new Promise<void>((resolve) => this.server.listen(0, '127.0.0.1', resolve));
  }

  url(path: string): string {
    return `http://127.0.0.1:${(this.server.address() as AddressInfo).port}/${path}/services/${SECRET}`;
  }

  calls(path: string): Received[] {
    return this.received.filter((r) => r.path === path);
  }

  reset(): void {
    this.received.length = 0;
    this.flakyCalls = 0;
  }

  private handle(req: IncomingMessage, res: ServerResponse): void {
    let body = '';
    req.on('data', (chunk: Buffer) => (body += chunk.toString('utf8')));
    req.on('end', () => {
      const path = (req.url ?? '').split('/')[1];
      this.received.push({ path, contentType: req.headers['content-type'], body });
      if (path === 'hang') return; // never answers
      if (path === 'down') return void res.writeHead(503).end('service unavailable');
      if (path === 'flaky' && ++this.flakyCalls <= 2) return void res.writeHead(500).end('boom');
      res.writeHead(200, { 'content-type': 'text/plain' }).end('ok');
    });
  }

  async close(): Promise<void> {
    this.server.closeAllConnections();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }
}

interface Row {
  id: string;
  group_name: string;
  event: string;
  status: NotificationStatus;
  attempts: number;
  last_error: string | null;
  delivered_at: Date | null;
  text: string;
}

describe('Notifier', () => {
  let queue: Awaited<ReturnType<typeof openEmbeddedDatabase>>;
  let dataSource: DataSource;
  const webhooks = new WebhookServer();
  const metrics = new GovmeshMetrics();
  const logs: string[] = [];
  const logger = { log: (m: string) => logs.push(`log ${m}`), warn: (m: string) => logs.push(`warn ${m}`), error: (m: string) => logs.push(`error ${m}`) };
  let notifier: Notifier | undefined;

  beforeAll(async () => {
    await webhooks.listen();
    queue = await openEmbeddedDatabase('memory://');
    const target: DatabaseTarget = { kind: 'pglite', queue };
    dataSource = new DataSource(serviceDataSourceOptions({ schema: SCHEMA, entities: NOTIFICATION_ENTITIES, migrations: [Notifications1795252614591], target }));
    await dataSource.initialize();
    await migrateServiceDatabase(dataSource, SCHEMA, target);
  });

  afterEach(async () => {
    await notifier?.stop();
    notifier = undefined;
  });

  beforeEach(async () => {
    await dataSource.query(`TRUNCATE "${SCHEMA}"."notifications"`);
    webhooks.reset();
    logs.length = 0;
    metrics.notifications.reset();
    metrics.notificationsPending.reset();
  });

  afterAll(async () => {
    await dataSource.destroy();
    await queue.db.close();
    await webhooks.close();
  });

  function start(groups: Record<string, string>, options: Partial<NotifierOptions> = {}): Notifier {
    notifier = new Notifier({ service: 'orchestrator', schema: SCHEMA, dataSource, metrics, logger, webhooks: groups, backoffBaseMs: 10, maxBackoffMs: 200, timeoutMs: 300, pollIntervalMs: 50, ...options });
    notifier.start();
    return notifier;
  }

  function item(groups: string[], overrides: Partial<NotificationToSend> = {}): NotificationToSend {
    const text = reviewerNotificationText({ event: 'arrived', kind: 'approval', itemId: 'ap-1', runId: 'run-1', agentId: 'finance-agent', asked: 'approve payments.transfer to ACME', amount: { value: 82000, currency: 'EUR' }, level: 1, dueAt: new Date('2026-11-21T10:00:00Z') });
    return { itemId: 'ap-1', runId: 'run-1', groups, event: 'arrived', text, ...overrides };
  }

  async function enqueue(n: Notifier, items: NotificationToSend[]): Promise<number> {
    const { result } = await inUnitOfWork(dataSource, SCHEMA, 'orchestrator', (uow) => n.enqueue(uow, items));
    return result;
  }

  async function rows(): Promise<Row[]> {
    return dataSource.query(`SELECT * FROM "${SCHEMA}"."notifications" ORDER BY group_name`);
  }

  async function rowOf(group: string): Promise<Row> {
    const found = (await rows()).find((r) => r.group_name === group);
    if (!found) throw new Error(`no notification for ${group}`);
    return found;
  }

  async function counted(event: string, outcome: string): Promise<number> {
    const metric = await metrics.notifications.get();
    return metric.values.filter((v) => v.labels['event'] === event && v.labels['outcome'] === outcome).reduce((sum, v) => sum + v.value, 0);
  }

  it('posts {"text": ...} as JSON to the group webhook and records it delivered', async () => {
    const n = start({ 'finance-ops': webhooks.url('ok') });
    expect(await enqueue(n, [item(['finance-ops', 'finance-ops'])])).toBe(1);

    await expectEventually(async () => expect((await rowOf('finance-ops')).status).toBe('delivered'), { timeoutMs: 5000, intervalMs: 20 });
    const row = await rowOf('finance-ops');
    expect(row).toMatchObject({ attempts: 1, last_error: null, event: 'arrived' });
    expect(row.delivered_at).not.toBeNull();

    const [call] = webhooks.calls('ok');
    expect(webhooks.calls('ok')).toHaveLength(1);
    expect(call.contentType).toBe('application/json');
    const body = JSON.parse(call.body) as Record<string, unknown>;
    expect(Object.keys(body)).toEqual(['text']);
    expect(body['text']).toBe(row.text);
    expect(row.text).toContain('GET /v1/approvals/ap-1');
    expect(row.text).toContain('Amount: 82000 EUR');
    expect(await counted('arrived', 'delivered')).toBe(1);
    // The webhook URL is a secret: logs name the group and host only.
    expect(logs.join('\n')).toContain('finance-ops (127.0.0.1:');
    expect(logs.join('\n')).not.toContain('secret');
  });

  it('writes notifications only when the transaction that enqueued them commits', async () => {
    const n = start({ 'finance-ops': webhooks.url('ok') });
    await expect(
      inUnitOfWork(dataSource, SCHEMA, 'orchestrator', async (uow) => {
        await n.enqueue(uow, [item(['finance-ops'])]);
        throw new Error('the decision failed');
      }),
    ).rejects.toThrow('the decision failed');
    expect(await rows()).toEqual([]);
  });

  it('retries a webhook that fails twice, then records it delivered', async () => {
    const n = start({ approvers: webhooks.url('flaky') });
    await enqueue(n, [item(['approvers'], { event: 'sla_near' })]);

    await expectEventually(async () => expect((await rowOf('approvers')).status).toBe('delivered'), { timeoutMs: 5000, intervalMs: 20 });
    expect(await rowOf('approvers')).toMatchObject({ attempts: 3, last_error: null });
    expect(webhooks.calls('flaky')).toHaveLength(3);
    expect(await counted('sla_near', 'retry')).toBe(2);
    expect(await counted('sla_near', 'delivered')).toBe(1);
  });

  it('gives up on a webhook that always fails after maxAttempts, keeping the error but not the URL', async () => {
    const n = start({ risk: webhooks.url('down') }, { maxAttempts: 4 });
    await enqueue(n, [item(['risk'], { event: 'escalated' })]);

    await expectEventually(async () => expect((await rowOf('risk')).status).toBe('failed'), { timeoutMs: 5000, intervalMs: 20 });
    const row = await rowOf('risk');
    expect(row.attempts).toBe(4);
    expect(row.last_error).toBe('HTTP 503: service unavailable');
    expect(webhooks.calls('down')).toHaveLength(4);
    expect(await counted('escalated', 'retry')).toBe(3);
    expect(await counted('escalated', 'failed')).toBe(1);
    expect(logs.some((l) => l.startsWith('warn gave up notifying group "risk" (127.0.0.1:'))).toBe(true);
    expect(logs.join('\n')).not.toContain('secret');
  });

  it('records a group without a webhook as no_webhook at once, warning once per group', async () => {
    const n = start({ 'finance-ops': webhooks.url('ok') });
    await enqueue(n, [item(['nobody', 'finance-ops']), item(['nobody'], { itemId: 'ap-2', event: 'sla_near' })]);

    await expectEventually(async () => expect((await rows()).map((r) => [r.group_name, r.status])).toEqual([['finance-ops', 'delivered'], ['nobody', 'no_webhook'], ['nobody', 'no_webhook']]), { timeoutMs: 5000, intervalMs: 20 });
    expect((await rows()).filter((r) => r.group_name === 'nobody').every((r) => r.attempts === 0)).toBe(true);
    expect(await counted('arrived', 'no_webhook')).toBe(1);
    expect(await counted('sla_near', 'no_webhook')).toBe(1);
    expect(logs.filter((l) => l.startsWith('warn no webhook configured for reviewer group "nobody"'))).toHaveLength(1);
    expect(webhooks.received.every((r) => r.path === 'ok')).toBe(true);
  });

  it('times out a hanging webhook and retries it, while other groups are delivered meanwhile', async () => {
    const n = start({ slow: webhooks.url('hang'), a: webhooks.url('ok'), b: webhooks.url('ok') }, { maxAttempts: 2, timeoutMs: 1000 });
    const started = Date.now();
    await enqueue(n, [item(['slow', 'a', 'b'])]);

    await expectEventually(
      async () => {
        const byGroup = Object.fromEntries((await rows()).map((r) => [r.group_name, r.status]));
        expect(byGroup).toMatchObject({ a: 'delivered', b: 'delivered' });
      },
      { timeoutMs: 5000, intervalMs: 10 },
    );
    // Delivered within the hanging POST's timeout: nothing waited on it.
    expect(Date.now() - started).toBeLessThan(1000);
    expect(await rowOf('slow')).toMatchObject({ status: 'pending', attempts: 1 });
    expect(webhooks.calls('hang')).toHaveLength(1);

    await expectEventually(async () => expect((await rowOf('slow')).status).toBe('failed'), { timeoutMs: 10000, intervalMs: 20 });
    expect(await rowOf('slow')).toMatchObject({ attempts: 2, last_error: 'timed out after 1000 ms' });
    expect(webhooks.calls('hang')).toHaveLength(2);
    expect(await counted('arrived', 'retry')).toBe(1);
    expect(await counted('arrived', 'failed')).toBe(1);
  });

  it('releases a notification in flight at stop for the next start, without counting the attempt', async () => {
    const n = start({ slow: webhooks.url('hang') }, { timeoutMs: 5000 });
    await enqueue(n, [item(['slow'])]);
    await expectEventually(() => expect(webhooks.calls('hang')).toHaveLength(1), { timeoutMs: 5000, intervalMs: 10 });
    const stopping = Date.now();
    await n.stop();
    notifier = undefined;
    expect(Date.now() - stopping).toBeLessThan(1000);
    expect(await rowOf('slow')).toMatchObject({ status: 'pending', attempts: 0 });
  });

  it('sets the pending gauge after each pass', async () => {
    const n = start({ slow: webhooks.url('hang') }, { timeoutMs: 5000 });
    await enqueue(n, [item(['slow'])]);
    await expectEventually(async () => expect((await metrics.notificationsPending.get()).values[0]?.value).toBe(1), { timeoutMs: 5000, intervalMs: 20 });
  });

  it('runs as a Nest provider over the service DataSource and config, from module init to destroy', async () => {
    @Module({
      providers: [
        NotificationsService,
        { provide: getDataSourceToken('orchestrator'), useValue: dataSource },
        { provide: ENDPOINT_DEPS, useValue: { config: { reviewerWebhooks: { 'finance-ops': webhooks.url('ok') }, outboxPollMs: 50 }, metrics } },
      ],
    })
    class NotificationsTestModule {}
    const app = await NestFactory.createApplicationContext(NotificationsTestModule, { logger: false });
    try {
      const service = app.get(NotificationsService);
      await inUnitOfWork(dataSource, SCHEMA, 'orchestrator', (uow) => service.enqueue(uow, [item(['finance-ops', 'nobody'])]));
      await expectEventually(async () => expect((await rows()).map((r) => [r.group_name, r.status])).toEqual([['finance-ops', 'delivered'], ['nobody', 'no_webhook']]), { timeoutMs: 5000, intervalMs: 20 });
    } finally {
      await app.close();
    }
  });
});
