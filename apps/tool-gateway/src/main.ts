import { bootstrapGovmesh } from '@govmesh/nest-runtime';
import { ToolGatewayServiceModule } from '@govmesh/service-tool-gateway';

void bootstrapGovmesh({ processName: 'tool-gateway', defaultPort: 8085, modules: [ToolGatewayServiceModule], requireDistributed: true });
