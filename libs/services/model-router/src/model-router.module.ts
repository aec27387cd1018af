import { Module } from '@nestjs/common';
import { serviceBusProvider, serviceDatabaseModule } from '@govmesh/nest-runtime';
import { MODEL_ROUTER_DATABASE } from './database';
import { ModelCallsRepository, ModelRequestsHandler } from './model-router.handlers';

@Module({
  imports: [serviceDatabaseModule(MODEL_ROUTER_DATABASE)],
  providers: [serviceBusProvider(MODEL_ROUTER_DATABASE.service, MODEL_ROUTER_DATABASE.schema), ModelCallsRepository, ModelRequestsHandler],
})
export class ModelRouterServiceModule {}
