import { Catch, HttpException, Inject, Logger, type ArgumentsHost } from '@nestjs/common';
import { BaseExceptionFilter } from '@nestjs/core';
import type { Request, Response } from 'express';
import { GovmeshMetrics } from '@govmesh/observability';
import { GOVMESH_CONFIG } from '../tokens';
import type { GovmeshConfig } from '../config';

const COUNTED = Symbol('govmesh.refusal.counted');

/** Marks a refusal as already counted (the auth guard counts its own). */
export function counted<E extends HttpException>(exception: E): E {
  (exception as unknown as Record<symbol, boolean>)[COUNTED] = true;
  return exception;
}

/** Codes for the refusals the framework makes itself (unparsable JSON, no such route, too large). */
const FRAMEWORK_CODES: Record<number, string> = { 400: 'malformed_request', 404: 'not_found', 405: 'method_not_allowed', 413: 'request_too_large' };

/**
 * Every refused request is visible to an operator: each 4xx answer is counted in
 * `govmesh_http_requests_refused_total{process,reason}` by its code and logged. A refusal the
 * framework made without a code (JSON that does not parse, an unknown route) gets one, so every
 * 4xx answer says `code` and `message` alike.
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
    if (status < 400 || status >= 500) return super.catch(exception, host);
    const body = exception.getResponse();
    const given = typeof body === 'object' && body !== null && typeof (body as { code?: unknown }).code === 'string' ? (body as { code: string }).code : undefined;
    const code = given ?? FRAMEWORK_CODES[status] ?? `http_${status}`;
    if (!(exception as unknown as Record<symbol, boolean>)[COUNTED]) {
      this.metrics.httpRefusals.inc({ process: this.config.processName, reason: code });
      const req = host.switchToHttp().getRequest<Request>();
      this.logger.warn(`${req.method} ${req.path.slice(0, 200)} refused (${status} ${code})`);
    }
    if (given) return super.catch(exception, host);
    const message = typeof body === 'string' ? body : String((body as { message?: unknown }).message ?? exception.message);
    host.switchToHttp().getResponse<Response>().status(status).json({ code, message: message.slice(0, 500) });
  }
}
