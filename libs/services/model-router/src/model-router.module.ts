import { Module } from '@nestjs/common';
import { serviceBusProvider, serviceDatabaseModule } from '@govmesh/nest-runtime';
import { MODEL_ROUTER_DATABASE } from './database';
import { ModelCallsRepository, ModelRequestsHandler, ToolRegistryHandler } from './model-router.handlers';
import { ToolSchemas } from './tool-catalog';
import { RouterToolsRepository } from './tools.repository';

@Module({
  imports: [serviceDatabaseModule(MODEL_ROUTER_DATABASE)],
  providers: [
    serviceBusProvider(MODEL_ROUTER_DATABASE.service, MODEL_ROUTER_DATABASE.schema),
    ModelCallsRepository,
    RouterToolsRepository,
    { provide: ToolSchemas, useFactory: () => new ToolSchemas() },
    ModelRequestsHandler,
    ToolRegistryHandler,
  ],
})
export class ModelRouterServiceModule {}
