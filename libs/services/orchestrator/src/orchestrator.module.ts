import { Module } from '@nestjs/common';
import { serviceBusProvider, serviceDatabaseModule, type GovmeshConfig } from '@govmesh/nest-runtime';
import type { RetentionPolicy } from '@govmesh/messaging';
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

/** A run's own timeline goes once the run ended long enough ago (the audit ledger keeps every event for good); a run still going keeps all of it. */
const runTimelineRetention = (config: GovmeshConfig): RetentionPolicy[] => [
  {
    store: 'run_timeline',
    table: 'run_timeline',
    key: 'seq',
    olderThan: `t.run_id IN (SELECT r.id FROM "${ORCHESTRATOR_DATABASE.schema}"."runs" AS r WHERE r.status = 'completed' AND r.completed_at < $1)`,
    days: config.retention.runTimelineDays,
  },
];

@Module({
  imports: [serviceDatabaseModule(ORCHESTRATOR_DATABASE)],
  controllers: [RunsController, ApprovalsController, EscalationsController, WorkflowsController],
  providers: [serviceBusProvider(ORCHESTRATOR_DATABASE.service, ORCHESTRATOR_DATABASE.schema, { retention: runTimelineRetention }), RunsRepository, WorkflowRegistry, NotificationsService, RunDriver, RunEventsHandler, AgentRunsHandler, RunsService],
  exports: [RunsService, WorkflowRegistry],
})
export class OrchestratorServiceModule {}
