export * from './metrics';
export * from './trace-context';
