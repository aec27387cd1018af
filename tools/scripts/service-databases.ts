import { IDENTITY_DATABASE, type ServiceDatabaseDefinition } from '@govmesh/nest-runtime';
import { CONTEXT_DATABASE } from '@govmesh/service-context';
import { MODEL_ROUTER_DATABASE } from '@govmesh/service-model-router';
import { ORCHESTRATOR_DATABASE } from '@govmesh/service-orchestrator';
import { POLICY_DATABASE } from '@govmesh/service-policy';
import { TELEMETRY_DATABASE } from '@govmesh/service-telemetry';
import { TOOL_GATEWAY_DATABASE } from '@govmesh/service-tool-gateway';
import { VERIFIER_DATABASE } from '@govmesh/service-verifier';

/** Every service's database definition, for the migration tools and the drift check. */
export const SERVICE_DATABASES: ServiceDatabaseDefinition[] = [
  IDENTITY_DATABASE,
  POLICY_DATABASE,
  ORCHESTRATOR_DATABASE,
  MODEL_ROUTER_DATABASE,
  CONTEXT_DATABASE,
  TOOL_GATEWAY_DATABASE,
  VERIFIER_DATABASE,
  TELEMETRY_DATABASE,
];
