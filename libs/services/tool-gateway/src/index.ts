export * from './tool-gateway.module';
export * from './database';
export * from './tools';
export { ConnectionsService, ConnectionCredentials, ConnectionRefusal, Secret, EnvKeyProvider, CONNECTION_KEY_PROVIDER, type KeyProvider } from './connections';
