import { ContextServiceModule } from '@govmesh/service-context';
import { ModelRouterServiceModule } from '@govmesh/service-model-router';
import { OrchestratorServiceModule } from '@govmesh/service-orchestrator';
import { PolicyServiceModule } from '@govmesh/service-policy';
import { TelemetryServiceModule } from '@govmesh/service-telemetry';
import { ToolGatewayServiceModule } from '@govmesh/service-tool-gateway';
import { VerifierServiceModule } from '@govmesh/service-verifier';

/** All seven services, for the one-process mesh. */
export const ALL_SERVICE_MODULES = [
  PolicyServiceModule,
  OrchestratorServiceModule,
  ModelRouterServiceModule,
  ContextServiceModule,
  ToolGatewayServiceModule,
  VerifierServiceModule,
  TelemetryServiceModule,
];
