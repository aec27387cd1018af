export * from './principal';
export * from './api-key.store';
export * from './oidc.verifier';
export * from './auth.guard';
export * from './identity.database';
export * from './identity.entities';
export * from './identity.module';
export * from './refusal.filter';
