import 'reflect-metadata';
import { Logger, Module, type LogLevel, type Type } from '@nestjs/common';
import { NestFactory } from '@nestjs/core';
import type { NestExpressApplication } from '@nestjs/platform-express';
import { RuntimeModule } from './runtime.module';
import { GOVMESH_CONFIG } from './tokens';
import { validateEnvironment, type GovmeshConfig } from './config';
import { installProcessGuards } from './process-guards';

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

/** Builds the Nest application for a process: the runtime plus the given service modules. */
export async function createGovmeshApp(options: BootOptions): Promise<NestExpressApplication> {
  const env = validateEnvironment(process.env);
  if (options.requireDistributed && !env['KAFKA_BROKERS']) {
    throw new Error(
      `Config validation error: "KAFKA_BROKERS" and "DATABASE_URL" are required to run ${options.processName} on its own; ` +
        'run `npm start` for the embedded mesh with every service in one process',
    );
  }
  @Module({ imports: [RuntimeModule.forRoot({ processName: options.processName, defaultPort: options.defaultPort }), ...options.modules] })
  class GovmeshAppModule {}
  const level = (env['LOG_LEVEL'] as GovmeshConfig['logLevel']) ?? 'info';
  const app = await NestFactory.create<NestExpressApplication>(GovmeshAppModule, { logger: LEVELS[level], abortOnError: false });
  app.useBodyParser('json', { limit: '256kb' });
  // Only real shutdown signals: listening on the fault signals too (Nest's default) turns a V8
  // fatal error into a process that spins forever instead of exiting.
  app.enableShutdownHooks(['SIGTERM', 'SIGINT']);
  return app;
}

/** Starts a process and listens; a configuration error stops it with a message naming the variable. */
export async function bootstrapGovmesh(options: BootOptions): Promise<NestExpressApplication> {
  const logger = new Logger(options.processName);
  installProcessGuards(options.processName, { stallExitMs: Number(process.env['GOVMESH_STALL_EXIT_MS'] ?? 30000) });
  try {
    const app = await createGovmeshApp(options);
    const config = app.get<GovmeshConfig>(GOVMESH_CONFIG);
    await app.listen(config.port, '0.0.0.0');
    logger.log(`${options.processName} (${config.mode}) serving http://localhost:${config.port}  (/health, /metrics)`);
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
