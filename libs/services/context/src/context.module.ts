import { Module } from '@nestjs/common';
import { serviceBusProvider, serviceDatabaseModule } from '@govmesh/nest-runtime';
import { ContextRequestsHandler, DocumentsRepository } from './context.handlers';
import { CONTEXT_DATABASE } from './database';

@Module({
  imports: [serviceDatabaseModule(CONTEXT_DATABASE)],
  providers: [serviceBusProvider(CONTEXT_DATABASE.service, CONTEXT_DATABASE.schema), DocumentsRepository, ContextRequestsHandler],
})
export class ContextServiceModule {}
