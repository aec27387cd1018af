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
  RetentionJob,
  type RetentionPolicy,
  registrationOf,
  TimerStore,
  type EffectPerformer,
  type HandlerRegistration,
  type UnitOfWork,
} from '@govmesh/messaging';
import { ENDPOINT_DEPS } from './tokens';
import type { ServiceEndpointDeps } from './service-endpoint-deps';
import type { GovmeshConfig } from './config';

/** What a service module adds to its bus: the stores it prunes beside its inbox. */
export interface ServiceBusOptions {
  retention?: (config: GovmeshConfig) => RetentionPolicy[];
}

/**
 * How often gauges read from the database or the broker (timer backlog, consumer lag, a
 * service's own) are refreshed: a few cheap queries on a timer, never work done on a scrape.
 */
export const GAUGE_REFRESH_MS = 5000;

/** Reads one gauge's value from the database or the broker and sets it. */
export type GaugeRefresh = () => Promise<void>;

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
  /** Deletes processed event ids past their retention, and the stores the service module names. */
  readonly retention: RetentionJob;
  private effects?: EffectRunner;
  private consumer?: EventConsumer;
  private readonly gauges: Array<{ name: string; refresh: GaugeRefresh }> = [];
  private gaugeTimer?: NodeJS.Timeout;
  private refreshing?: Promise<void>;
  /** Gauges whose last refresh failed: warned once until they work again. */
  private readonly failingGauges = new Set<string>();

  constructor(
    readonly service: string,
    readonly schema: string,
    readonly dataSource: DataSource,
    readonly deps: ServiceEndpointDeps,
    private readonly discovery: DiscoveryService,
    options: ServiceBusOptions = {},
  ) {
    this.logger = new Logger(service);
    const { metrics, config, transport } = deps;
    // An inbox id is kept at least as long as its event can be delivered again (see INBOX_RETENTION_MIN_DAYS).
    const inbox: RetentionPolicy = { store: 'inbox', table: 'inbox', key: 'event_id', olderThan: 't.received_at < $1', days: config.retention.inboxDays };
    this.retention = new RetentionJob({ service, schema, dataSource, metrics, logger: this.logger, policies: [inbox, ...(options.retention?.(config) ?? [])], intervalMs: config.retention.intervalMinutes * 60_000 });
    this.timers = new TimerStore({ service, schema, dataSource, metrics, logger: this.logger });
    this.relay = new OutboxRelay({ service, schema, dataSource, transport, metrics, logger: this.logger, pollIntervalMs: config.outboxPollMs, maxMessageBytes: config.maxMessageBytes, timers: this.timers });
    this.registerGauge('timer backlog', () => this.timers.refreshBacklog());
    this.registerGauge('consumer lag', async () => this.consumer?.refreshLag());
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
    this.retention.start();
    this.gaugeTimer = setInterval(() => void this.refreshGauges(), GAUGE_REFRESH_MS);
    this.gaugeTimer.unref();
    void this.refreshGauges();
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
    clearInterval(this.gaugeTimer);
    await this.refreshing;
    await this.consumer?.stop().catch((err) => this.logger.warn(`consumer stop: ${(err as Error).message}`));
    await this.effects?.stop();
    await this.retention.stop();
    await this.relay.stop();
  }

  /** Adds a gauge this service refreshes every GAUGE_REFRESH_MS (register before the application starts). */
  registerGauge(name: string, refresh: GaugeRefresh): void {
    this.gauges.push({ name, refresh });
  }

  /** One refresh of every gauge; a pass still under way is not doubled. */
  refreshGauges(): Promise<void> {
    this.refreshing ??= (async () => {
      for (const gauge of this.gauges) {
        try {
          await gauge.refresh();
          this.failingGauges.delete(gauge.name);
        } catch (err) {
          if (!this.failingGauges.has(gauge.name)) this.logger.warn(`could not refresh the ${gauge.name} gauge: ${(err as Error).message}`);
          this.failingGauges.add(gauge.name);
        }
      }
    })().finally(() => (this.refreshing = undefined));
    return this.refreshing;
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
export function serviceBusProvider(service: string, schema: string, options: ServiceBusOptions = {}): Provider {
  return {
    provide: ServiceBus,
    inject: [getDataSourceToken(service), ENDPOINT_DEPS, DiscoveryService],
    useFactory: (dataSource: DataSource, deps: ServiceEndpointDeps, discovery: DiscoveryService) => new ServiceBus(service, schema, dataSource, deps, discovery, options),
  };
}
