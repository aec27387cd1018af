import { bootstrapGovmesh } from '@govmesh/nest-runtime';
import { OrchestratorServiceModule } from '@govmesh/service-orchestrator';

void bootstrapGovmesh({ processName: 'orchestrator', defaultPort: 8082, modules: [OrchestratorServiceModule], requireDistributed: true });
