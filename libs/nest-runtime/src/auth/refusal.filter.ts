import { Catch, HttpException, Inject, Logger, type ArgumentsHost } from '@nestjs/common';
import { BaseExceptionFilter } from '@nestjs/core';
import type { Request } from 'express';
import { GovmeshMetrics } from '@govmesh/observability';
import { GOVMESH_CONFIG } from '../tokens';
import type { GovmeshConfig } from '../config';

const COUNTED = Symbol('govmesh.refusal.counted');

/** Marks a refusal as already counted (the auth guard counts its own). */
export function counted<E extends HttpException>(exception: E): E {
  (exception as unknown as Record<symbol, boolean>)[COUNTED] = true;
  return exception;
}

/**
 * Every refused request is visible to an operator: each 4xx answer is counted in
 * `govmesh_http_requests_refused_total{process,reason}` by its code (`http_<status>` when it has
 * none), and logged, then answered as usual.
 */
@Catch(HttpException)
export class RefusalCounter extends BaseExceptionFilter {
  private readonly logger = new Logger('http');

  constructor(
    private readonly metrics: GovmeshMetrics,
    @Inject(GOVMESH_CONFIG) private readonly config: GovmeshConfig,
  ) {
    super();
  }

  override catch(exception: HttpException, host: ArgumentsHost): void {
    const status = exception.getStatus();
    if (status >= 400 && status < 500 && !(exception as unknown as Record<symbol, boolean>)[COUNTED]) {
      const body = exception.getResponse();
      const code = typeof body === 'object' && body !== null && typeof (body as { code?: unknown }).code === 'string' ? (body as { code: string }).code : `http_${status}`;
      this.metrics.httpRefusals.inc({ process: this.config.processName, reason: code });
      const req = host.switchToHttp().getRequest<Request>();
      this.logger.warn(`${req.method} ${req.path} refused (${status} ${code})`);
    }
    super.catch(exception, host);
  }
}
