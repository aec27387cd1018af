import { bootstrapGovmesh } from '@govmesh/nest-runtime';
import { ModelRouterServiceModule } from '@govmesh/service-model-router';

void bootstrapGovmesh({ processName: 'model-router', defaultPort: 8083, modules: [ModelRouterServiceModule], requireDistributed: true });
