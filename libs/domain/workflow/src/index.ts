export * from './definition';
export * from './state';
export * from './compile';
export * from './advance';
export * from './seeds';
