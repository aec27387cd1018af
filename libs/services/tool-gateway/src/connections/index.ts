export * from './connection.entity';
export * from './crypto';
export * from './key-provider';
export * from './connections.service';
export * from './connections.controller';
