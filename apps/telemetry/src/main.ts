import { bootstrapGovmesh } from '@govmesh/nest-runtime';
import { TelemetryServiceModule } from '@govmesh/service-telemetry';

void bootstrapGovmesh({ processName: 'telemetry', defaultPort: 8087, modules: [TelemetryServiceModule], requireDistributed: true });
