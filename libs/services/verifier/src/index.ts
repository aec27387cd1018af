export * from './verifier.module';
export * from './database';
export * from './compare';
export * from './checks';
