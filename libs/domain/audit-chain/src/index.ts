export * from './chain';
export * from './merkle';
export * from './checkpoint';
export * from './ledger-verifier';
export * from './evidence';
export * from './sql-source';
