import { Module } from '@nestjs/common';
import { serviceBusProvider, serviceDatabaseModule } from '@govmesh/nest-runtime';
import { VERIFIER_DATABASE } from './database';
import { ToolRegistryHandler, VerificationReadsHandler, VerificationRequestsHandler } from './verifier.handlers';
import { VerifierRepository } from './verifier.repository';

@Module({
  imports: [serviceDatabaseModule(VERIFIER_DATABASE)],
  providers: [serviceBusProvider(VERIFIER_DATABASE.service, VERIFIER_DATABASE.schema), VerifierRepository, ToolRegistryHandler, VerificationRequestsHandler, VerificationReadsHandler],
})
export class VerifierServiceModule {}
