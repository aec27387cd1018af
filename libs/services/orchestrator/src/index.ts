export * from './orchestrator.module';
export * from './orchestrator.endpoint';
export * from './database';
