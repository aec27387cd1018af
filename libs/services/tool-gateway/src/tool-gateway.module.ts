import { Module } from '@nestjs/common';
import { serviceBusProvider, serviceDatabaseModule } from '@govmesh/nest-runtime';
import { ConnectionsController, ConnectionsService, connectionKeyProviderFactory } from './connections';
import { TOOL_GATEWAY_DATABASE } from './database';
import { ConnectionMapService } from './registry/connection-map.service';
import { ConnectorFactory } from './registry/connector-factory';
import { McpConnections } from './registry/mcp-connections';
import { ToolGrantsService } from './registry/tool-grants.service';
import { ToolRegistry } from './registry/tool-registry.service';
import { ToolGrantsController, ToolsController } from './registry/tools.controller';
import { AgentChangesHandler, ExecutionsRepository, ToolCallPerformer, ToolRequestsHandler, VerificationReadsHandler } from './tool-gateway.handlers';
import { ToolCatalog } from './tools';

@Module({
  imports: [serviceDatabaseModule(TOOL_GATEWAY_DATABASE)],
  controllers: [ConnectionsController, ToolsController, ToolGrantsController],
  providers: [
    serviceBusProvider(TOOL_GATEWAY_DATABASE.service, TOOL_GATEWAY_DATABASE.schema),
    { provide: ToolCatalog, useFactory: () => new ToolCatalog() },
    ExecutionsRepository,
    ToolRequestsHandler,
    AgentChangesHandler,
    ToolCallPerformer,
    VerificationReadsHandler,
    connectionKeyProviderFactory,
    ConnectionsService,
    McpConnections,
    ConnectorFactory,
    ToolRegistry,
    ToolGrantsService,
    ConnectionMapService,
  ],
})
export class ToolGatewayServiceModule {}
