export * from './telemetry.module';
export * from './database';
