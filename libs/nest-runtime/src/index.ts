export * from './config';
export * from './tokens';
export * from './health';
export * from './runtime.module';
export * from './service-database';
export * from './service-endpoint-deps';
export * from './service-bus';
export * from './bootstrap';
