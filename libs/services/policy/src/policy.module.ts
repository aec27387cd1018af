import { Module } from '@nestjs/common';
import { serviceBusProvider, serviceDatabaseModule } from '@govmesh/nest-runtime';
import { AgentsController } from './agents.controller';
import { ApiKeysController } from './api-keys.controller';
import { PoliciesController } from './policies.controller';
import { PolicySets } from './policy-sets.service';
import { PolicyRepository } from './policy.repository';
import { POLICY_DATABASE } from './database';
import { PolicyDecisionsHandler, ToolRegistryHandler } from './policy.handlers';

@Module({
  imports: [serviceDatabaseModule(POLICY_DATABASE)],
  controllers: [AgentsController, ApiKeysController, PoliciesController],
  providers: [serviceBusProvider(POLICY_DATABASE.service, POLICY_DATABASE.schema), PolicyRepository, PolicySets, PolicyDecisionsHandler, ToolRegistryHandler],
})
export class PolicyServiceModule {}
