import { Module } from '@nestjs/common';
import { serviceDatabaseModule } from '@govmesh/nest-runtime';
import { CONTEXT_DATABASE } from './database';
import { ContextEndpoint } from './context.endpoint';

@Module({ imports: [serviceDatabaseModule(CONTEXT_DATABASE)], providers: [ContextEndpoint] })
export class ContextServiceModule {}
