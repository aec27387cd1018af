export * from './policy.module';
export * from './database';
export * from './demo-data';
