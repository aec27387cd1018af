import { bootstrapGovmesh } from '@govmesh/nest-runtime';
import { PolicyServiceModule } from '@govmesh/service-policy';

void bootstrapGovmesh({ processName: 'policy', defaultPort: 8081, modules: [PolicyServiceModule], requireDistributed: true });
