import { Module } from '@nestjs/common';
import { serviceDatabaseModule } from '@govmesh/nest-runtime';
import { ORCHESTRATOR_DATABASE } from './database';
import { OrchestratorEndpoint } from './orchestrator.endpoint';
import { RunsController } from './runs.controller';

@Module({
  imports: [serviceDatabaseModule(ORCHESTRATOR_DATABASE)],
  controllers: [RunsController],
  providers: [OrchestratorEndpoint],
  exports: [OrchestratorEndpoint],
})
export class OrchestratorServiceModule {}
