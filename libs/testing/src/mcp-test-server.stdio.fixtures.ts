/**
 * The test MCP server over stdio, run as a child process:
 * `node -r @swc-node/register libs/testing/src/mcp-test-server.stdio.fixtures.ts`
 * from the repository root. `MCP_TEST_SLOW_MS` sets how long the `slow` tool takes.
 */
import { StdioServerTransport } from '@modelcontextprotocol/sdk/server/stdio.js';
import { createTestMcpServer, createTestMcpState } from './mcp-test-server.fixtures';

async function main(): Promise<void> {
  const slowMs = Number(process.env['MCP_TEST_SLOW_MS'] ?? '10000');
  const server = createTestMcpServer(createTestMcpState(Number.isFinite(slowMs) ? slowMs : 10_000));
  const transport = new StdioServerTransport();
  // The client closing stdin ends the server.
  process.stdin.on('end', () => {
    void server.close().finally(() => process.exit(0));
  });
  await server.connect(transport);
}

main().catch((error: unknown) => {
  process.stderr.write(`test MCP server failed: ${error instanceof Error ? error.message : String(error)}\n`);
  process.exit(1);
});
