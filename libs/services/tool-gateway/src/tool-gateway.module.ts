import { Module } from '@nestjs/common';
import { serviceBusProvider, serviceDatabaseModule } from '@govmesh/nest-runtime';
import { ConnectionsController, ConnectionsService, connectionKeyProviderFactory } from './connections';
import { TOOL_GATEWAY_DATABASE } from './database';
import { AgentChangesHandler, ExecutionsRepository, ToolCallPerformer, ToolRequestsHandler } from './tool-gateway.handlers';
import { ToolCatalog } from './tools';

@Module({
  imports: [serviceDatabaseModule(TOOL_GATEWAY_DATABASE)],
  controllers: [ConnectionsController],
  providers: [
    serviceBusProvider(TOOL_GATEWAY_DATABASE.service, TOOL_GATEWAY_DATABASE.schema),
    { provide: ToolCatalog, useFactory: () => new ToolCatalog() },
    ExecutionsRepository,
    ToolRequestsHandler,
    AgentChangesHandler,
    ToolCallPerformer,
    connectionKeyProviderFactory,
    ConnectionsService,
  ],
})
export class ToolGatewayServiceModule {}
