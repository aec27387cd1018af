import { Inject, Injectable, Logger, type OnModuleDestroy, type OnModuleInit } from '@nestjs/common';
import { InjectDataSource } from '@nestjs/typeorm';
import type { DataSource } from 'typeorm';
import type { UnitOfWork } from '@govmesh/messaging';
import { ENDPOINT_DEPS, type ServiceEndpointDeps } from '@govmesh/nest-runtime';
import { ORCHESTRATOR_DATABASE, ORCHESTRATOR_SERVICE } from '../database';
import { Notifier, type NotificationToSend } from './notifier';

/**
 * The orchestrator's reviewer notifications: a `Notifier` over the service's DataSource and the
 * configured webhooks (GOVMESH_REVIEWER_WEBHOOKS), delivering from module init to module destroy.
 */
@Injectable()
export class NotificationsService implements OnModuleInit, OnModuleDestroy {
  readonly notifier: Notifier;

  constructor(
    @InjectDataSource(ORCHESTRATOR_SERVICE) dataSource: DataSource,
    @Inject(ENDPOINT_DEPS) deps: ServiceEndpointDeps,
  ) {
    this.notifier = new Notifier({
      service: ORCHESTRATOR_SERVICE,
      schema: ORCHESTRATOR_DATABASE.schema,
      dataSource,
      metrics: deps.metrics,
      logger: new Logger(`${ORCHESTRATOR_SERVICE}.notifications`),
      webhooks: deps.config.reviewerWebhooks,
      pollIntervalMs: deps.config.outboxPollMs,
    });
  }

  /**
   * Writes notifications (one per group) in the caller's unit of work, so they exist iff it
   * commits, and wakes delivery after the commit. Delivery never throws into the caller.
   */
  enqueue(uow: UnitOfWork, items: readonly NotificationToSend[]): Promise<number> {
    return this.notifier.enqueue(uow, items);
  }

  onModuleInit(): void {
    this.notifier.start();
  }

  async onModuleDestroy(): Promise<void> {
    await this.notifier.stop();
  }
}
