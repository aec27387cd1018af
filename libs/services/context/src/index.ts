export * from './context.module';
export * from './database';
