export * from './model-router.module';
export * from './database';
export * from './builtin-provider';
