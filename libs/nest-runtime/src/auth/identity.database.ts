import type { ServiceDatabaseDefinition } from '../service-database';
import { IDENTITY_ENTITIES } from './identity.entities';
import { IDENTITY_MIGRATIONS } from './migrations';

/**
 * The principals' store, shared by every process: each one verifies API keys against it on every
 * request, and the policy service's operator API manages them. No outbox: key changes are not
 * events (their audit record is the policy service's registry event stream).
 */
export const IDENTITY_DATABASE: ServiceDatabaseDefinition = {
  service: 'identity',
  schema: 'identity',
  entities: IDENTITY_ENTITIES,
  migrations: IDENTITY_MIGRATIONS,
  messaging: false,
};
