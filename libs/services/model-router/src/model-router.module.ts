import { Module } from '@nestjs/common';
import { serviceDatabaseModule } from '@govmesh/nest-runtime';
import { MODEL_ROUTER_DATABASE } from './database';
import { ModelRouterEndpoint } from './model-router.endpoint';

@Module({ imports: [serviceDatabaseModule(MODEL_ROUTER_DATABASE)], providers: [ModelRouterEndpoint] })
export class ModelRouterServiceModule {}
