import { bootstrapGovmesh } from '@govmesh/nest-runtime';
import { VerifierServiceModule } from '@govmesh/service-verifier';

void bootstrapGovmesh({ processName: 'verifier', defaultPort: 8086, modules: [VerifierServiceModule], requireDistributed: true });
