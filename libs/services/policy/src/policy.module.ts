import { Module } from '@nestjs/common';
import { serviceDatabaseModule } from '@govmesh/nest-runtime';
import { POLICY_DATABASE } from './database';
import { AgentsController } from './agents.controller';
import { PolicyEndpoint } from './policy.endpoint';

@Module({
  imports: [serviceDatabaseModule(POLICY_DATABASE)],
  controllers: [AgentsController],
  providers: [PolicyEndpoint],
})
export class PolicyServiceModule {}
