import { timingSafeEqual } from 'node:crypto';
import { createParamDecorator, HttpException, Inject, UnauthorizedException, Injectable, Logger, SetMetadata, type CanActivate, type ExecutionContext } from '@nestjs/common';
import { Reflector } from '@nestjs/core';
import type { Request, Response } from 'express';
import { GovmeshMetrics } from '@govmesh/observability';
import { GOVMESH_CONFIG } from '../tokens';
import type { GovmeshConfig } from '../config';
import { ApiKeyStore } from './api-key.store';
import { OidcVerifier } from './oidc.verifier';
import { AuthRefusal, hasRole, type Principal, type Role } from './principal';
import { counted } from './refusal.filter';

const ACCESS = 'govmesh:access';

type Access = { kind: 'public' } | { kind: 'metrics' } | { kind: 'roles'; roles: Role[] };

/** Open to anyone: only `/health`. */
export const Public = () => SetMetadata(ACCESS, { kind: 'public' } satisfies Access);
/** `/metrics`: open, or behind GOVMESH_METRICS_TOKEN when it is set. */
export const MetricsAccess = () => SetMetadata(ACCESS, { kind: 'metrics' } satisfies Access);
/** The roles admitted to a controller or a route (a route's own list replaces the controller's). */
export const Roles = (...roles: Role[]) => SetMetadata(ACCESS, { kind: 'roles', roles } satisfies Access);

export interface AuthenticatedRequest extends Request {
  principal?: Principal;
}

/** The authenticated caller of this request, for controllers. */
export const CurrentPrincipal = createParamDecorator((_: unknown, context: ExecutionContext): Principal => {
  const principal = context.switchToHttp().getRequest<AuthenticatedRequest>().principal;
  if (!principal) throw new UnauthorizedException({ code: 'credential_missing', message: 'this request carries no credential' });
  return principal;
});

function bearer(req: Request): string | undefined {
  const header = req.headers.authorization;
  if (typeof header !== 'string') return undefined;
  const m = /^Bearer\s+(\S+)\s*$/i.exec(header);
  return m ? m[1] : '';
}

function sameSecret(a: string, b: string): boolean {
  const x = Buffer.from(a);
  const y = Buffer.from(b);
  return x.length === y.length && timingSafeEqual(x, y);
}

/**
 * Every route authenticates its caller and checks the role, unless it is marked public. A route
 * that names no roles is refused: forgetting to declare access closes a route, never opens it.
 * A refusal is a 401 (no or bad credential) or 403 (wrong role), with a reason, counted in
 * `govmesh_http_requests_refused_total{reason}` and logged.
 */
@Injectable()
export class AuthGuard implements CanActivate {
  private readonly logger = new Logger('auth');

  constructor(
    private readonly reflector: Reflector,
    private readonly keys: ApiKeyStore,
    private readonly oidc: OidcVerifier,
    private readonly metrics: GovmeshMetrics,
    @Inject(GOVMESH_CONFIG) private readonly config: GovmeshConfig,
  ) {}

  async canActivate(context: ExecutionContext): Promise<boolean> {
    if (context.getType() !== 'http') return true;
    const req = context.switchToHttp().getRequest<AuthenticatedRequest>();
    const access = this.reflector.getAllAndOverride<Access | undefined>(ACCESS, [context.getHandler(), context.getClass()]);
    try {
      if (access?.kind === 'public') return true;
      if (access?.kind === 'metrics') {
        if (!this.config.metricsToken) return true;
        const token = bearer(req);
        if (token === undefined) throw new AuthRefusal(401, 'credential_missing', '/metrics needs the metrics token: send authorization: Bearer <GOVMESH_METRICS_TOKEN>');
        if (!sameSecret(token, this.config.metricsToken)) throw new AuthRefusal(401, 'credential_invalid', 'the metrics token does not match');
        return true;
      }
      req.principal = await authenticateRequest(req, this.keys, this.oidc);
      if (!access) throw new AuthRefusal(403, 'route_not_open', `${req.method} ${req.path} admits no role`);
      if (!hasRole(req.principal, ...access.roles)) {
        throw new AuthRefusal(403, 'role_forbidden', `${req.method} ${req.path} needs the ${access.roles.join(' or ')} role; this credential has ${req.principal.roles.join(', ') || 'no role'}`);
      }
      return true;
    } catch (err) {
      if (!(err instanceof AuthRefusal)) throw err;
      throw this.refusal(req, context.switchToHttp().getResponse<Response>(), err);
    }
  }

  /** Counts and logs a refusal and turns it into the HTTP answer (a guard's `false` would only say "Forbidden resource"). */
  private refusal(req: Request, res: Response, refusal: AuthRefusal): HttpException {
    noteRefusal(req, res, refusal, this.metrics, this.config.processName, this.logger);
    return counted(new HttpException({ code: refusal.code, message: refusal.message }, refusal.status));
  }
}

/**
 * The principal behind a request's `authorization: Bearer` credential: a govmesh API key
 * (`gm_…`) or, when an OIDC provider is configured, a bearer JWT. A 401 refusal otherwise.
 * The guard and the few routes outside Nest's router (the OpenAPI document) both use it.
 */
export async function authenticateRequest(req: Request, keys: ApiKeyStore, oidc: OidcVerifier): Promise<Principal> {
  const token = bearer(req);
  if (token === undefined) throw new AuthRefusal(401, 'credential_missing', 'this API needs a credential: send authorization: Bearer <API key or token>');
  if (token === '') throw new AuthRefusal(401, 'credential_invalid', 'the authorization header must be "Bearer <API key or token>"');
  if (token.startsWith('gm_')) return keys.authenticate(token);
  return oidc.authenticate(token);
}

/** Counts and logs a refusal and, for a 401, says so in `WWW-Authenticate`; the caller answers `{code, message}`. */
export function noteRefusal(req: Request, res: Response, refusal: AuthRefusal, metrics: GovmeshMetrics, processName: string, logger: Logger): void {
  metrics.httpRefusals.inc({ process: processName, reason: refusal.code });
  logger.warn(`${req.method} ${(req.originalUrl ?? req.url).split('?')[0].slice(0, 200)} refused (${refusal.status} ${refusal.code}): ${refusal.message}`);
  if (refusal.status === 401) res.setHeader('WWW-Authenticate', `Bearer error="invalid_token", error_description="${refusal.code}"`);
}
