import { Module } from '@nestjs/common';
import { serviceDatabaseModule } from '@govmesh/nest-runtime';
import { VERIFIER_DATABASE } from './database';
import { VerifierEndpoint } from './verifier.endpoint';

@Module({ imports: [serviceDatabaseModule(VERIFIER_DATABASE)], providers: [VerifierEndpoint] })
export class VerifierServiceModule {}
