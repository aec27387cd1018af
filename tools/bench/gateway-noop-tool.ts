/**
 * The no-op tool of `npm run bench:gateway`, registered the way a built-in tool is: a manifest in
 * the gateway's tool registry (`tool_gateway.tools`, with its `govmesh.tool.registered.v1` event)
 * whose operation is an in-process sandbox operation. The gateway's own ConnectorFactory builds
 * the executable tool from that manifest and the registry loads it into the catalog, exactly as for
 * `sandbox.lookup_account`; only the code behind the operation differs: it does nothing.
 *
 * The hook: the sandbox operations a manifest may name are a map in the gateway
 * (`SANDBOX_OPERATIONS`, registry/built-in-tools.ts). `plugNoopOperation()` adds the no-op to that
 * map in this process before the gateway starts. No production file changes, and nothing changes
 * for any other manifest. (A first-class hook would be an injectable map of in-process operations
 * that ConnectorFactory's `sandbox` branch consults; connector-factory.ts and built-in-tools.ts are
 * being edited by others, so the bench does without.)
 */
import type { INestApplication } from '@nestjs/common';
import type { Actor, ToolManifest } from '@govmesh/contracts';
import type { UnitOfWork } from '@govmesh/messaging';
import { ServiceBus, type Principal } from '@govmesh/nest-runtime';
import type { ToolDefinition, ToolResult } from '@govmesh/service-tool-gateway';
import { SANDBOX_OPERATIONS } from '../../libs/services/tool-gateway/src/registry/built-in-tools';
import { ToolGrantsService } from '../../libs/services/tool-gateway/src/registry/tool-grants.service';
import { ToolRegistry } from '../../libs/services/tool-gateway/src/registry/tool-registry.service';

export const NOOP_TOOL = 'bench.noop';
/** Its own connection, so its circuit breaker is its own. */
export const NOOP_CONNECTION = 'bench-in-process';

const INPUT_SCHEMA = {
  type: 'object',
  required: ['n'],
  additionalProperties: false,
  properties: { n: { type: 'integer', minimum: 0 }, note: { type: 'string', maxLength: 200 } },
};

const OUTPUT_SCHEMA = {
  type: 'object',
  required: ['n'],
  additionalProperties: false,
  properties: { n: { type: 'integer', minimum: 0 } },
};

/** Answers at once, without I/O: what the gateway adds is everything measured beyond this. */
export const NOOP_RESULT_REASON = { code: 'noop', message: 'did nothing, at once' };

export const noopOperation: ToolDefinition = {
  name: NOOP_TOOL,
  connection: NOOP_CONNECTION,
  description: 'Does nothing and answers at once (benchmark of the gateway overhead)',
  sideEffect: 'read',
  idempotent: true,
  inputSchema: INPUT_SCHEMA,
  outputSchema: OUTPUT_SCHEMA,
  async execute(_db, args): Promise<ToolResult> {
    return { status: 'succeeded', output: { n: args['n'] as number }, reasons: [NOOP_RESULT_REASON] };
  },
};

/**
 * The manifest, as an operator would write it for a built-in style tool. The tool has its own
 * token bucket (like `invoices.approve_payment`), large enough never to refuse during the bench:
 * each call still takes a token from it and from the agent's bucket.
 */
export const NOOP_MANIFEST: ToolManifest = {
  name: NOOP_TOOL,
  version: '1.0.0',
  description: noopOperation.description,
  inputSchema: INPUT_SCHEMA,
  outputSchema: OUTPUT_SCHEMA,
  sideEffect: 'read',
  classification: 'internal',
  idempotent: true,
  operation: { connector: 'sandbox', operation: NOOP_TOOL },
  connection: NOOP_CONNECTION,
  rateLimit: { perMinute: 1_000_000, burst: 100_000 },
};

/** Makes `bench.noop` a sandbox operation a manifest may name, in this process. Call before the gateway starts. */
export function plugNoopOperation(): void {
  if (!(SANDBOX_OPERATIONS instanceof Map)) throw new Error('the gateway keeps its sandbox operations differently now: update tools/bench/gateway-noop-tool.ts');
  (SANDBOX_OPERATIONS as Map<string, ToolDefinition>).set(NOOP_TOOL, noopOperation);
}

const BENCH_OPERATOR: Principal = { id: 'key:bench-gateway', kind: 'api_key', name: 'bench:gateway', roles: ['operator'], groups: [] };
const BENCH_ACTOR: Actor = { kind: 'operator', id: BENCH_OPERATOR.id, name: BENCH_OPERATOR.name };

/** The registry's own write, as it registers the built-in tools at start (private: a sandbox manifest is refused on the operator API). */
type RegistryWrite = (uow: UnitOfWork, manifest: ToolManifest, previous: null, change: 'seeded', actor: Actor) => Promise<unknown>;

/**
 * Registers the no-op manifest through the gateway's registry (one transaction with its event, as
 * the built-in tools are seeded), reloads the catalog from the table, and grants the tool to
 * `agentId` (every version) through the tool-grants service, as `POST /v1/tool-grants` does:
 * with argument constraints (a JSON Schema and a CEL condition), so that the grant check does its
 * whole work on every call.
 */
export async function registerNoopTool(app: INestApplication, agentId: string): Promise<ToolDefinition> {
  const registry = app.get(ToolRegistry);
  const write = (registry as unknown as { write: RegistryWrite }).write.bind(registry);
  await app.get(ServiceBus, { strict: false }).transaction((uow) => write(uow, NOOP_MANIFEST, null, 'seeded', BENCH_ACTOR));
  await registry.reload();
  await app.get(ToolGrantsService).grant(
    {
      agentId,
      agentVersion: '*',
      tool: NOOP_TOOL,
      constraints: { schema: { type: 'object', properties: { n: { type: 'integer', maximum: 1_000_000_000 } } }, condition: 'arguments.n >= 0' },
      reason: 'bench:gateway',
    },
    BENCH_OPERATOR,
  );
  const loaded = (await registry.get(NOOP_TOOL))?.status;
  if (loaded !== 'active') throw new Error(`${NOOP_TOOL} is not active in the registry (${loaded ?? 'missing'})`);
  return noopOperation;
}
