import { Module } from '@nestjs/common';
import { serviceBusProvider, serviceDatabaseModule } from '@govmesh/nest-runtime';
import { ORCHESTRATOR_DATABASE } from './database';
import { RunsController } from './runs.controller';
import { RunEventsHandler } from './runs/run-events.handler';
import { RunsRepository } from './runs/runs.repository';
import { RunsService } from './runs/runs.service';

@Module({
  imports: [serviceDatabaseModule(ORCHESTRATOR_DATABASE)],
  controllers: [RunsController],
  providers: [serviceBusProvider(ORCHESTRATOR_DATABASE.service, ORCHESTRATOR_DATABASE.schema), RunsRepository, RunEventsHandler, RunsService],
  exports: [RunsService],
})
export class OrchestratorServiceModule {}
