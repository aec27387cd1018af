import { Controller, Get, Injectable } from '@nestjs/common';
import { ApiOperation, ApiResponse, ApiTags } from '@nestjs/swagger';
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

@ApiTags('runtime')
@Controller('health')
@Public()
export class HealthController {
  constructor(
    private readonly health: HealthCheckService,
    private readonly registry: HealthRegistry,
  ) {}

  @Get()
  @HealthCheck()
  // The one open route: no credential.
  @ApiOperation({ summary: 'Liveness and readiness: the database and the consumers of this process', security: [] })
  @ApiResponse({ status: 200, description: 'Healthy: every check is up' })
  @ApiResponse({ status: 503, description: 'Unhealthy: the checks that are down, with their reasons' })
  check() {
    return this.health.check(this.registry.all());
  }
}
