import { Logger } from '@nestjs/common';
import { ApiKeyStore, bootstrapGovmesh, GOVMESH_CONFIG, type GovmeshConfig } from '@govmesh/nest-runtime';
import { ALL_SERVICE_MODULES } from './modules';
import { runDemo, runWorkflowDemo } from './demo';

/**
 * The whole mesh in one process: all seven services, the in-process transport and the
 * embedded database by default (or Kafka and Postgres when both are configured).
 */
async function main(): Promise<void> {
  const app = await bootstrapGovmesh({
    processName: 'embedded',
    defaultPort: 8080,
    requireDistributed: false,
    modules: ALL_SERVICE_MODULES,
  });
  const port = Number(new URL(await app.getUrl()).port);
  const base = `http://127.0.0.1:${port}`;
  const logger = new Logger('govmesh');
  logger.log(`health: ${base}/health   metrics: ${base}/metrics   intents: POST ${base}/v1/intents`);
  const operatorKey = app.get(ApiKeyStore).operatorKey;
  if (process.env['GOVMESH_DEMO'] !== 'false' && operatorKey) {
    try {
      const print = (line: string) => process.stdout.write(`${line}\n`);
      await runDemo(base, operatorKey, print);
      await runWorkflowDemo(base, operatorKey, app.get<GovmeshConfig>(GOVMESH_CONFIG).dataDir, print);
    } catch (err) {
      logger.error(`demo failed: ${(err as Error).message}`);
    }
  }
  logger.log('serving until stopped (Ctrl-C)');
}

void main();
