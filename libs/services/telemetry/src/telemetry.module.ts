import { Module } from '@nestjs/common';
import { serviceBusProvider, serviceDatabaseModule } from '@govmesh/nest-runtime';
import { TELEMETRY_DATABASE } from './database';
import { TelemetryController } from './telemetry.controller';
import { RunTimelineController } from './run-timeline.controller';
import { AuditRepository } from './audit.repository';
import { AuditLedger } from './audit-ledger';
import { EvidenceController } from './evidence.controller';
import { AuditHandler, DeadLettersHandler } from './telemetry.handlers';
import { BASELINE_CONTROLLERS, BASELINE_PROVIDERS, telemetryRetention } from './baselines';
import { UnstorableRecordsRepository } from './unstorable-records.repository';

@Module({
  imports: [serviceDatabaseModule(TELEMETRY_DATABASE)],
  controllers: [TelemetryController, RunTimelineController, EvidenceController, ...BASELINE_CONTROLLERS],
  providers: [serviceBusProvider(TELEMETRY_DATABASE.service, TELEMETRY_DATABASE.schema, { retention: telemetryRetention }), AuditRepository, AuditLedger, AuditHandler, DeadLettersHandler, UnstorableRecordsRepository, ...BASELINE_PROVIDERS],
})
export class TelemetryServiceModule {}
