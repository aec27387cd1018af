import { Module } from '@nestjs/common';
import { serviceBusProvider, serviceDatabaseModule } from '@govmesh/nest-runtime';
import { VERIFIER_DATABASE } from './database';
import { VerificationRequestsHandler, VerificationsRepository } from './verifier.handlers';

@Module({
  imports: [serviceDatabaseModule(VERIFIER_DATABASE)],
  providers: [serviceBusProvider(VERIFIER_DATABASE.service, VERIFIER_DATABASE.schema), VerificationsRepository, VerificationRequestsHandler],
})
export class VerifierServiceModule {}
