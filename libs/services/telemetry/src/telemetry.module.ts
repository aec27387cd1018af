import { Module } from '@nestjs/common';
import { serviceBusProvider, serviceDatabaseModule } from '@govmesh/nest-runtime';
import { TELEMETRY_DATABASE } from './database';
import { TelemetryController } from './telemetry.controller';
import { RunTimelineController } from './run-timeline.controller';
import { AuditRepository } from './audit.repository';
import { AuditHandler, DeadLettersHandler } from './telemetry.handlers';

@Module({
  imports: [serviceDatabaseModule(TELEMETRY_DATABASE)],
  controllers: [TelemetryController, RunTimelineController],
  providers: [serviceBusProvider(TELEMETRY_DATABASE.service, TELEMETRY_DATABASE.schema), AuditRepository, AuditHandler, DeadLettersHandler],
})
export class TelemetryServiceModule {}
