export * from './config';
export * from './tokens';
export * from './health';
export * from './runtime.module';
export * from './service-database';
export * from './service-endpoint';
export * from './bootstrap';
