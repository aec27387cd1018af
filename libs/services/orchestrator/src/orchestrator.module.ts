import { Module } from '@nestjs/common';
import { serviceBusProvider, serviceDatabaseModule } from '@govmesh/nest-runtime';
import { ORCHESTRATOR_DATABASE } from './database';
import { NotificationsService } from './notifications/notifications.service';
import { ApprovalsController, EscalationsController } from './reviews.controller';
import { RunsController } from './runs.controller';
import { AgentRunsHandler } from './runs/agent-changes.handler';
import { RunDriver } from './runs/run-driver';
import { RunEventsHandler } from './runs/run-events.handler';
import { RunsRepository } from './runs/runs.repository';
import { RunsService } from './runs/runs.service';
import { WorkflowRegistry } from './workflows/workflow-registry';
import { WorkflowsController } from './workflows.controller';

@Module({
  imports: [serviceDatabaseModule(ORCHESTRATOR_DATABASE)],
  controllers: [RunsController, ApprovalsController, EscalationsController, WorkflowsController],
  providers: [serviceBusProvider(ORCHESTRATOR_DATABASE.service, ORCHESTRATOR_DATABASE.schema), RunsRepository, WorkflowRegistry, NotificationsService, RunDriver, RunEventsHandler, AgentRunsHandler, RunsService],
  exports: [RunsService, WorkflowRegistry],
})
export class OrchestratorServiceModule {}
