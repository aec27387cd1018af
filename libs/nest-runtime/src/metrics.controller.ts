import { Controller, Get, Header } from '@nestjs/common';
import { GovmeshMetrics } from '@govmesh/observability';
import { ApiOperation, ApiProduces, ApiResponse, ApiTags } from '@nestjs/swagger';
import { MetricsAccess } from './auth/auth.guard';

@ApiTags('runtime')
@Controller('metrics')
@MetricsAccess()
export class MetricsController {
  constructor(private readonly metrics: GovmeshMetrics) {}

  @Get()
  // Its security (none, or the metrics token) is set per process in openapi.ts.
  @ApiOperation({ summary: 'Prometheus metrics of this process', description: 'Open, unless GOVMESH_METRICS_TOKEN is set: then `authorization: Bearer <GOVMESH_METRICS_TOKEN>`.' })
  @ApiProduces('text/plain')
  @ApiResponse({ status: 200, description: 'The metrics in the Prometheus text format', content: { 'text/plain': { schema: { type: 'string' } } } })
  @ApiResponse({ status: 401, description: 'GOVMESH_METRICS_TOKEN is set and the request does not carry it' })
  @Header('Content-Type', 'text/plain; version=0.0.4; charset=utf-8')
  async scrape(): Promise<string> {
    return this.metrics.registry.metrics();
  }
}
