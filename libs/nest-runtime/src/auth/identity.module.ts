import { Global, Module } from '@nestjs/common';
import { APP_FILTER, APP_GUARD } from '@nestjs/core';
import { serviceDatabaseModule } from '../service-database';
import { ServiceKeys } from '../keys';
import { ApiKeyStore } from './api-key.store';
import { AuthGuard } from './auth.guard';
import { IDENTITY_DATABASE } from './identity.database';
import { OidcVerifier } from './oidc.verifier';
import { RefusalCounter } from './refusal.filter';

/**
 * Principals for every process: the API key store (its own `identity` schema), the OIDC token
 * verifier, the global guard that authenticates every request, and the services' signing keys.
 */
@Global()
@Module({
  imports: [serviceDatabaseModule(IDENTITY_DATABASE)],
  providers: [ApiKeyStore, OidcVerifier, ServiceKeys, { provide: APP_GUARD, useClass: AuthGuard }, { provide: APP_FILTER, useClass: RefusalCounter }],
  exports: [ApiKeyStore, OidcVerifier, ServiceKeys],
})
export class IdentityModule {}
