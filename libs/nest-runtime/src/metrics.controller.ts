import { Controller, Get, Header } from '@nestjs/common';
import { GovmeshMetrics } from '@govmesh/observability';
import { MetricsAccess } from './auth/auth.guard';

@Controller('metrics')
@MetricsAccess()
export class MetricsController {
  constructor(private readonly metrics: GovmeshMetrics) {}

  @Get()
  @Header('Content-Type', 'text/plain; version=0.0.4; charset=utf-8')
  async scrape(): Promise<string> {
    return this.metrics.registry.metrics();
  }
}
