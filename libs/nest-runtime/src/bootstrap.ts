import 'reflect-metadata';
import { Injectable, Logger, Module, type LogLevel, type OnApplicationShutdown, type Type } from '@nestjs/common';
import { ModulesContainer, NestFactory } from '@nestjs/core';
import type { NextFunction, Request, Response } from 'express';
import { GovmeshMetrics, shutdownTracing, startTracing } from '@govmesh/observability';
import type { NestExpressApplication } from '@nestjs/platform-express';
import { RuntimeModule } from './runtime.module';
import { IdentityModule } from './auth/identity.module';
import { GOVMESH_CONFIG } from './tokens';
import { validateEnvironment, type GovmeshConfig } from './config';
import { installProcessGuards } from './process-guards';
import { setupOpenApi } from './openapi';
import { isYamlMediaType, jsonBody, mediaTypeOf, routeKey, YAML_MEDIA_TYPES, yamlBodyRoutes, yamlBodyText } from './request-bodies';

const LEVELS: Record<GovmeshConfig['logLevel'], LogLevel[]> = {
  error: ['fatal', 'error'],
  warn: ['fatal', 'error', 'warn'],
  info: ['fatal', 'error', 'warn', 'log'],
  debug: ['fatal', 'error', 'warn', 'log', 'debug', 'verbose'],
};

export interface BootOptions {
  processName: string;
  defaultPort: number;
  modules: Type<unknown>[];
  /** Single-service processes only run distributed; the embedded app runs either way. */
  requireDistributed: boolean;
}

/**
 * Flushes the spans not exported yet when the application shuts down, after the consumers stopped
 * (they stop before application shutdown): nothing when tracing is off.
 */
@Injectable()
export class TracingShutdown implements OnApplicationShutdown {
  async onApplicationShutdown(): Promise<void> {
    await shutdownTracing().catch((err: Error) => new Logger('tracing').warn(`flushing spans at shutdown failed: ${err.message}`));
  }
}

/** Builds the Nest application for a process: the runtime plus the given service modules. */
export async function createGovmeshApp(options: BootOptions): Promise<NestExpressApplication> {
  const env = validateEnvironment(process.env);
  if (options.requireDistributed && !env['KAFKA_BROKERS']) {
    throw new Error(
      `Config validation error: "KAFKA_BROKERS" and "DATABASE_URL" are required to run ${options.processName} on its own; ` +
        'run `npm start` for the embedded mesh with every service in one process',
    );
  }
  @Module({ imports: [RuntimeModule.forRoot({ processName: options.processName, defaultPort: options.defaultPort }), IdentityModule, ...options.modules], providers: [TracingShutdown] })
  class GovmeshAppModule {}
  const level = (env['LOG_LEVEL'] as GovmeshConfig['logLevel']) ?? 'info';
  // No form or plain-text parsers: a body any web page can send cross-site never reaches a
  // controller. YAML (whose media types need a CORS preflight) is read only on routes that take it.
  const app = await NestFactory.create<NestExpressApplication>(GovmeshAppModule, { logger: LEVELS[level], abortOnError: false, bodyParser: false });
  const yamlRoutes = yamlBodyRoutes(app.get(ModulesContainer));
  app.use(refuseUnstorableUrls(options.processName, app.get(GovmeshMetrics)));
  app.use(requireJsonBodies(options.processName, app.get(GovmeshMetrics), yamlRoutes));
  app.use(jsonBody());
  app.use(yamlBodyText(yamlRoutes));
  // Swagger UI at /docs; the document at /docs/openapi.json and .yaml, for authenticated callers only.
  setupOpenApi(app);
  // Only real shutdown signals: listening on the fault signals too (Nest's default) turns a V8
  // fatal error into a process that spins forever instead of exiting.
  app.enableShutdownHooks(['SIGTERM', 'SIGINT']);
  return app;
}

const BODY_METHODS = new Set(['POST', 'PUT', 'PATCH', 'DELETE']);

/**
 * Every request body must be JSON, or YAML on a route that takes it (`@AcceptsYamlBody()`):
 * anything else is refused with 415 and a reason, counted and logged, before a parser or a
 * controller sees it. A request without a body passes.
 */
export function requireJsonBodies(processName: string, metrics: GovmeshMetrics, yamlRoutes: ReadonlySet<string> = new Set()) {
  const logger = new Logger(processName);
  return (req: Request, res: Response, next: NextFunction): void => {
    const hasBody = Number(req.headers['content-length'] ?? 0) > 0 || req.headers['transfer-encoding'] !== undefined;
    const type = mediaTypeOf(req.headers['content-type']);
    if (!BODY_METHODS.has(req.method) || !hasBody || type === 'application/json') return next();
    const takesYaml = yamlRoutes.has(routeKey(req.method, req.path));
    if (takesYaml && isYamlMediaType(type)) return next();
    const accepted = takesYaml ? `application/json or ${YAML_MEDIA_TYPES.join(', ')}` : 'application/json';
    metrics.httpRefusals.inc({ process: processName, reason: 'unsupported_media_type' });
    logger.warn(`${req.method} ${req.path} refused: content-type "${type || 'none'}" is not ${accepted}`);
    res.status(415).json({ code: 'unsupported_media_type', message: `request bodies must be ${accepted}, not "${type || 'none'}"` });
  };
}

/**
 * Refuses a URL whose path or query holds U+0000 (`%00`), 400 `unstorable_text`: checked once here
 * for every route, so no id or query parameter reaches a database query with it (Postgres refuses
 * such text with an error, not a miss). Percent-encoding that is not UTF-8 never decodes to a NUL
 * or an unpaired surrogate; each route refuses it with its own code.
 */
export function refuseUnstorableUrls(processName: string, metrics: GovmeshMetrics) {
  return (req: Request, res: Response, next: NextFunction): void => {
    if (!/%00/i.test(req.originalUrl) && !req.originalUrl.includes('\u0000')) return next();
    metrics.httpRefusals.inc({ process: processName, reason: 'unstorable_text' });
    res.status(400).json({ code: 'unstorable_text', message: 'the URL contains U+0000 (a NUL character), which no id or parameter may hold' });
  };
}

/** Starts a process and listens; a configuration error stops it with a message naming the variable. */
export async function bootstrapGovmesh(options: BootOptions): Promise<NestExpressApplication> {
  const logger = new Logger(options.processName);
  installProcessGuards(options.processName, { stallExitMs: Number(process.env['GOVMESH_STALL_EXIT_MS'] ?? 30000) });
  try {
    // Traces are on only with an OTLP endpoint (OTEL_EXPORTER_OTLP_ENDPOINT); started before the
    // services so that their first events are traced too.
    validateEnvironment(process.env);
    const tracing = await startTracing(options.processName);
    if (tracing) logger.log(`exporting traces as ${tracing.serviceName} to ${tracing.endpoint} (${tracing.protocol})`);
    const app = await createGovmeshApp(options);
    const config = app.get<GovmeshConfig>(GOVMESH_CONFIG);
    await app.listen(config.port, config.host);
    logger.log(`${options.processName} (${config.mode}) serving http://localhost:${config.port}  (/health, /metrics, /docs)`);
    return app;
  } catch (err) {
    const message = (err as Error).message;
    if (message.startsWith('Config validation error')) {
      process.stderr.write(`govmesh ${options.processName}: ${message}\n`);
    } else {
      process.stderr.write(`govmesh ${options.processName} failed to start: ${(err as Error).stack ?? message}\n`);
    }
    process.exit(1);
  }
}
