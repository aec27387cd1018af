export * from './transport';
export * from './in-process-transport';
export * from './kafka-transport';
export * from './entities';
export * from './outbox';
export * from './consumer';
export * from './dead-letter';
