import { Module } from '@nestjs/common';
import { serviceDatabaseModule } from '@govmesh/nest-runtime';
import { TELEMETRY_DATABASE } from './database';
import { TelemetryController } from './telemetry.controller';
import { TelemetryEndpoint } from './telemetry.endpoint';

@Module({ imports: [serviceDatabaseModule(TELEMETRY_DATABASE)], controllers: [TelemetryController], providers: [TelemetryEndpoint] })
export class TelemetryServiceModule {}
