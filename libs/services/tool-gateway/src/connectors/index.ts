export * from './egress-policy';
export * from './http-connector';
export * from './ip-address';
export * from './http-operation';
export * from './mcp-connector';
