export * from './tool-gateway.module';
export * from './database';
export * from './tools';
