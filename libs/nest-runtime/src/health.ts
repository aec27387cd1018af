import { Controller, Get, Injectable } from '@nestjs/common';
import { Public } from './auth/auth.guard';
import { HealthCheck, HealthCheckService, type HealthIndicatorResult } from '@nestjs/terminus';

export type HealthContributor = () => Promise<HealthIndicatorResult>;

/** Services register what /health checks: their database, their consumers. */
@Injectable()
export class HealthRegistry {
  private readonly contributors: HealthContributor[] = [];

  register(contributor: HealthContributor): void {
    this.contributors.push(contributor);
  }

  all(): HealthContributor[] {
    return [...this.contributors];
  }
}

@Controller('health')
@Public()
export class HealthController {
  constructor(
    private readonly health: HealthCheckService,
    private readonly registry: HealthRegistry,
  ) {}

  @Get()
  @HealthCheck()
  check() {
    return this.health.check(this.registry.all());
  }
}
