import { Logger, type BeforeApplicationShutdown, type OnApplicationBootstrap } from '@nestjs/common';
import type { DataSource, EntityManager } from 'typeorm';
import { createEvent, validateEventData, type EventData, type EventType, type GovmeshEvent } from '@govmesh/contracts';
import { appendToOutbox, EventConsumer, OutboxRelay, type EventHandlers, type RawHandler, type Transport } from '@govmesh/messaging';
import { childTraceparent, type GovmeshMetrics } from '@govmesh/observability';
import type { GovmeshConfig } from './config';
import type { HealthRegistry } from './health';

export interface ServiceEndpointDeps {
  config: GovmeshConfig;
  transport: Transport;
  metrics: GovmeshMetrics;
  health: HealthRegistry;
}

/**
 * One service's connection to the event backbone: its outbox relay, its consumer group, and a
 * way for HTTP handlers to change state and publish events in one transaction. Subclasses
 * list their handlers; they never touch the transport.
 */
export abstract class ServiceEndpoint implements OnApplicationBootstrap, BeforeApplicationShutdown {
  protected readonly logger: Logger;
  private relay?: OutboxRelay;
  private consumer?: EventConsumer;

  protected constructor(
    readonly service: string,
    readonly schema: string,
    protected readonly dataSource: DataSource,
    protected readonly deps: ServiceEndpointDeps,
  ) {
    this.logger = new Logger(service);
    deps.health.register(async () => {
      const key = `${service}`;
      try {
        await dataSource.query('SELECT 1');
        return { [key]: { status: 'up', consuming: Boolean(this.consumer), mode: deps.config.mode } };
      } catch (err) {
        return { [key]: { status: 'down', message: (err as Error).message } };
      }
    });
  }

  protected abstract handlers(): EventHandlers;

  protected rawHandlers(): Record<string, RawHandler> {
    return {};
  }

  /** Hook for seeding reference data before consuming starts. */
  protected async prepare(): Promise<void> {
    // Services with reference data override this.
  }

  async onApplicationBootstrap(): Promise<void> {
    await this.prepare();
    const { transport, metrics, config } = this.deps;
    this.relay = new OutboxRelay({ service: this.service, schema: this.schema, dataSource: this.dataSource, transport, metrics, logger: this.logger, pollIntervalMs: config.outboxPollMs });
    this.relay.start();
    const handlers = this.handlers();
    const raw = this.rawHandlers();
    if (Object.keys(handlers).length + Object.keys(raw).length === 0) return;
    this.consumer = new EventConsumer({
      service: this.service,
      schema: this.schema,
      groupId: `${config.kafka?.groupPrefix ?? 'govmesh'}.${this.service}`,
      dataSource: this.dataSource,
      transport,
      relay: this.relay,
      metrics,
      logger: this.logger,
      handlers,
      rawHandlers: raw,
      maxMessageBytes: config.maxMessageBytes,
    });
    await this.consumer.start();
    this.logger.log(`consuming ${this.consumer.topics.join(', ')}`);
  }

  async beforeApplicationShutdown(): Promise<void> {
    await this.consumer?.stop().catch((err) => this.logger.warn(`consumer stop: ${(err as Error).message}`));
    await this.relay?.stop();
  }

  /**
   * Runs `work` in a transaction; events it emits are written to the outbox in the same
   * transaction and published after commit.
   */
  async transaction<R>(work: (manager: EntityManager, emit: <T extends EventType>(type: T, data: EventData<T>, runId: string, traceparent?: string) => GovmeshEvent<T>) => Promise<R>): Promise<R> {
    const outgoing: GovmeshEvent[] = [];
    const result = await this.dataSource.transaction(async (manager) => {
      const value = await work(manager, (type, data, runId, traceparent) => {
        const invalid = validateEventData(type, data);
        if (invalid) throw new Error(invalid.message);
        const event = createEvent(type, data, { source: `govmesh/${this.service}`, subject: runId, correlationId: runId, traceparent: childTraceparent(traceparent) });
        outgoing.push(event);
        return event;
      });
      await appendToOutbox(manager, this.schema, outgoing);
      return value;
    });
    if (outgoing.length > 0) this.relay?.wake();
    return result;
  }
}
