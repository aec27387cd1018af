import { Module } from '@nestjs/common';
import { serviceBusProvider, serviceDatabaseModule } from '@govmesh/nest-runtime';
import { AgentsController } from './agents.controller';
import { PolicyRepository } from './policy.repository';
import { POLICY_DATABASE } from './database';
import { PolicyDecisionsHandler } from './policy.handlers';

@Module({
  imports: [serviceDatabaseModule(POLICY_DATABASE)],
  controllers: [AgentsController],
  providers: [serviceBusProvider(POLICY_DATABASE.service, POLICY_DATABASE.schema), PolicyRepository, PolicyDecisionsHandler],
})
export class PolicyServiceModule {}
