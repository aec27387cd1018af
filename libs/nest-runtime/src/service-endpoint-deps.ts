import type { Transport } from '@govmesh/messaging';
import type { GovmeshMetrics } from '@govmesh/observability';
import type { GovmeshConfig } from './config';
import type { HealthRegistry } from './health';

/** What every service's bus needs from the process: config, transport, metrics, health. */
export interface ServiceEndpointDeps {
  config: GovmeshConfig;
  transport: Transport;
  metrics: GovmeshMetrics;
  health: HealthRegistry;
}
