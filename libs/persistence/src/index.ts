export * from './data-source';
export * from './pglite';
export * from './pglite-pool';
export * from './errors';
