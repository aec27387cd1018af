import { Logger } from '@nestjs/common';
import { bootstrapGovmesh } from '@govmesh/nest-runtime';
import { ContextServiceModule } from '@govmesh/service-context';
import { ModelRouterServiceModule } from '@govmesh/service-model-router';
import { OrchestratorServiceModule } from '@govmesh/service-orchestrator';
import { PolicyServiceModule } from '@govmesh/service-policy';
import { TelemetryServiceModule } from '@govmesh/service-telemetry';
import { ToolGatewayServiceModule } from '@govmesh/service-tool-gateway';
import { VerifierServiceModule } from '@govmesh/service-verifier';
import { runDemo } from './demo';

/**
 * The whole mesh in one process: all seven services, the in-process transport and the
 * embedded database by default (or Kafka and Postgres when both are configured).
 */
async function main(): Promise<void> {
  const app = await bootstrapGovmesh({
    processName: 'embedded',
    defaultPort: 8080,
    requireDistributed: false,
    modules: [
      PolicyServiceModule,
      OrchestratorServiceModule,
      ModelRouterServiceModule,
      ContextServiceModule,
      ToolGatewayServiceModule,
      VerifierServiceModule,
      TelemetryServiceModule,
    ],
  });
  const port = Number(new URL(await app.getUrl()).port);
  const base = `http://localhost:${port}`;
  const logger = new Logger('govmesh');
  logger.log(`health: ${base}/health   metrics: ${base}/metrics   intents: POST ${base}/v1/intents`);
  if (process.env['GOVMESH_DEMO'] !== 'false') {
    try {
      await runDemo(base, (line) => process.stdout.write(`${line}\n`));
    } catch (err) {
      logger.error(`demo failed: ${(err as Error).message}`);
    }
  }
  logger.log('serving until stopped (Ctrl-C)');
}

void main();
