import { bootstrapGovmesh } from '@govmesh/nest-runtime';
import { ContextServiceModule } from '@govmesh/service-context';

void bootstrapGovmesh({ processName: 'context', defaultPort: 8084, modules: [ContextServiceModule], requireDistributed: true });
