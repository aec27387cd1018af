import { Logger, type BeforeApplicationShutdown, type OnApplicationBootstrap, type Provider } from '@nestjs/common';
import { DiscoveryService } from '@nestjs/core';
import { getDataSourceToken } from '@nestjs/typeorm';
import type { DataSource } from 'typeorm';
import {
  EffectRunner,
  EventConsumer,
  inUnitOfWork,
  OutboxRelay,
  performerServiceOf,
  registrationOf,
  TimerStore,
  type EffectPerformer,
  type HandlerRegistration,
  type UnitOfWork,
} from '@govmesh/messaging';
import { ENDPOINT_DEPS } from './tokens';
import type { ServiceEndpointDeps } from './service-endpoint-deps';

/**
 * One service's connection to the event backbone: its consumer group (running the handlers
 * declared with `@HandlesEvents` for this service), its outbox relay, its durable timers and its
 * side-effect runner. HTTP paths change state through `transaction`, with the same unit of work
 * as the handlers.
 */
export class ServiceBus implements OnApplicationBootstrap, BeforeApplicationShutdown {
  readonly logger: Logger;
  readonly relay: OutboxRelay;
  readonly timers: TimerStore;
  private effects?: EffectRunner;
  private consumer?: EventConsumer;

  constructor(
    readonly service: string,
    readonly schema: string,
    readonly dataSource: DataSource,
    readonly deps: ServiceEndpointDeps,
    private readonly discovery: DiscoveryService,
  ) {
    this.logger = new Logger(service);
    const { metrics, config, transport } = deps;
    this.timers = new TimerStore({ service, schema, dataSource, metrics, logger: this.logger });
    this.relay = new OutboxRelay({ service, schema, dataSource, transport, metrics, logger: this.logger, pollIntervalMs: config.outboxPollMs, maxMessageBytes: config.maxMessageBytes, timers: this.timers });
    deps.health.register(async () => {
      try {
        await dataSource.query('SELECT 1');
        return { [service]: { status: 'up', consuming: Boolean(this.consumer), mode: config.mode } };
      } catch (err) {
        return { [service]: { status: 'down', message: (err as Error).message } };
      }
    });
  }

  /** The handlers and performers of this service among the application's providers. */
  private discover(): { handlers: HandlerRegistration[]; performers: EffectPerformer[] } {
    const handlers: HandlerRegistration[] = [];
    const performers: EffectPerformer[] = [];
    for (const wrapper of this.discovery.getProviders()) {
      const instance: unknown = wrapper.instance;
      if (!instance || typeof instance !== 'object') continue;
      const registration = registrationOf(instance);
      if (registration?.service === this.service) handlers.push(registration);
      if (performerServiceOf(instance) === this.service) performers.push(instance as EffectPerformer);
    }
    return { handlers, performers };
  }

  async onApplicationBootstrap(): Promise<void> {
    const { transport, metrics, config } = this.deps;
    const { handlers, performers } = this.discover();
    this.relay.start();
    this.effects = new EffectRunner({
      service: this.service,
      schema: this.schema,
      dataSource: this.dataSource,
      metrics,
      logger: this.logger,
      performers,
      pollIntervalMs: config.outboxPollMs,
      onRecorded: (uow) => this.committed(uow),
    });
    this.effects.start();
    if (handlers.length === 0) return;
    this.consumer = new EventConsumer({
      service: this.service,
      schema: this.schema,
      groupId: `${config.kafka?.groupPrefix ?? 'govmesh'}.${this.service}`,
      dataSource: this.dataSource,
      transport,
      metrics,
      logger: this.logger,
      handlers,
      maxMessageBytes: config.maxMessageBytes,
      onCommitted: (uow) => this.committed(uow),
    });
    await this.consumer.start();
    this.logger.log(`consuming ${this.consumer.topics.join(', ')} with ${handlers.map((h) => h.name).join(', ')}`);
  }

  async beforeApplicationShutdown(): Promise<void> {
    await this.consumer?.stop().catch((err) => this.logger.warn(`consumer stop: ${(err as Error).message}`));
    await this.effects?.stop();
    await this.relay.stop();
  }

  /** After any committed unit of work: publish its events, note its timers, start its effects. */
  private committed(uow: UnitOfWork): void {
    for (const t of uow.timers) {
      this.timers.notify(t.dueAt);
      this.deps.metrics.timersSet.inc({ service: this.service, purpose: t.purpose });
    }
    this.relay.publishCommitted(uow.outgoing);
    if (uow.timers.length > 0) this.relay.wake();
    // Refused messages are dead letters written to the outbox: the loop publishes them now.
    if (uow.refused.length > 0) this.relay.wake(true);
    if (uow.reservedEffects > 0) this.effects?.wake();
  }

  /** Runs `work` in one transaction with a unit of work (HTTP paths); its events publish after commit. */
  async transaction<R>(work: (uow: UnitOfWork) => Promise<R>): Promise<R> {
    const { result, uow } = await inUnitOfWork(this.dataSource, this.schema, this.service, work);
    this.committed(uow);
    return result;
  }
}

/** The ServiceBus provider of a service module (each module gets its own instance). */
export function serviceBusProvider(service: string, schema: string): Provider {
  return {
    provide: ServiceBus,
    inject: [getDataSourceToken(service), ENDPOINT_DEPS, DiscoveryService],
    useFactory: (dataSource: DataSource, deps: ServiceEndpointDeps, discovery: DiscoveryService) => new ServiceBus(service, schema, dataSource, deps, discovery),
  };
}
