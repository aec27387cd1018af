export * from './eventually';
export * from './postgres';
export * from './broker';
export * from './mesh';
export * from './kafka-client';
export * from './fixture';
export * from './service-harness';
export * from './mcp-test-server.fixtures';
