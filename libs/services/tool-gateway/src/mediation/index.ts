export * from './circuit-breaker';
export * from './rate-bucket.entity';
export * from './rate-limiter';
export * from './settings';
export * from './token-bucket';
