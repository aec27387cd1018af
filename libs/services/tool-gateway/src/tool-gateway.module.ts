import { Module } from '@nestjs/common';
import { serviceDatabaseModule } from '@govmesh/nest-runtime';
import { TOOL_GATEWAY_DATABASE } from './database';
import { ToolGatewayEndpoint } from './tool-gateway.endpoint';

@Module({ imports: [serviceDatabaseModule(TOOL_GATEWAY_DATABASE)], providers: [ToolGatewayEndpoint] })
export class ToolGatewayServiceModule {}
