import { randomUUID } from 'node:crypto';
import Ajv, { type ValidateFunction } from 'ajv';
import type { EntityManager } from 'typeorm';
import type { RecordClaim, Reason } from '@govmesh/contracts';
import { SandboxAccessLog, SandboxAccount } from './entities';

export interface ToolResult {
  status: 'succeeded' | 'failed' | 'rejected';
  output?: Record<string, unknown>;
  claim?: RecordClaim;
  reasons: Reason[];
}

export interface ToolDefinition {
  name: string;
  description: string;
  sideEffect: 'read' | 'write';
  inputSchema: Record<string, unknown>;
  /** Runs inside the gateway's transaction; credentials, when a tool has any, are injected here and never leave. */
  execute(manager: EntityManager, args: Record<string, unknown>, call: { runId: string; executionId: string }): Promise<ToolResult>;
}

const lookupAccount: ToolDefinition = {
  name: 'sandbox.lookup_account',
  description: 'Read an account (holder, status, balance) from the sandbox system of record',
  sideEffect: 'read',
  inputSchema: {
    type: 'object',
    required: ['accountId'],
    additionalProperties: false,
    properties: { accountId: { type: 'string', pattern: '^acc-[0-9]{3,12}$' } },
  },
  async execute(manager, args, call) {
    const accountId = args['accountId'] as string;
    const account = await manager.findOne(SandboxAccount, { where: { id: accountId } });
    await manager.insert(SandboxAccessLog, { accountId, runId: call.runId, executionId: call.executionId, operation: 'read' });
    if (!account) return { status: 'failed', reasons: [{ code: 'account_not_found', message: `no account ${accountId} in the sandbox` }] };
    const fields = { holder: account.holder, status: account.status, balanceCents: account.balanceCents };
    return {
      status: 'succeeded',
      output: { accountId, ...fields },
      claim: { system: 'sandbox', entity: 'account', id: accountId, fields },
      reasons: [{ code: 'read_completed', message: `read account ${accountId}` }],
    };
  },
};

/** The built-in tool catalog. */
export const BUILT_IN_TOOLS: ToolDefinition[] = [lookupAccount];

export const DEMO_ACCOUNTS: SandboxAccount[] = [
  { id: 'acc-001', holder: 'Ada Lovelace', status: 'active', balanceCents: 125000, updatedAt: new Date('2026-11-01T10:00:00Z') },
  { id: 'acc-002', holder: 'Grace Hopper', status: 'frozen', balanceCents: 0, updatedAt: new Date('2026-11-02T10:00:00Z') },
  { id: 'acc-003', holder: 'Alan Turing', status: 'active', balanceCents: 9900, updatedAt: new Date('2026-11-03T10:00:00Z') },
];

export class ToolCatalog {
  private readonly ajv = new Ajv({ allErrors: true, strict: true });
  private readonly validators = new Map<string, ValidateFunction>();

  constructor(private readonly tools: ToolDefinition[] = BUILT_IN_TOOLS) {
    for (const t of tools) this.validators.set(t.name, this.ajv.compile(t.inputSchema));
  }

  find(name: string): ToolDefinition | undefined {
    return this.tools.find((t) => t.name === name);
  }

  /** Null when the arguments fit the tool's schema; otherwise a reason. */
  checkArguments(name: string, args: Record<string, unknown>): Reason | null {
    const validate = this.validators.get(name);
    if (!validate) return { code: 'tool_not_registered', message: `tool "${name}" is not in the catalog` };
    if (validate(args)) return null;
    const detail = (validate.errors ?? [])
      .map((e) => `${e.instancePath || '/'} ${e.message}${'additionalProperty' in e.params ? ` (${String(e.params['additionalProperty'])})` : ''}`)
      .join('; ');
    return { code: 'arguments_invalid', message: `arguments for ${name} do not match its schema: ${detail}` };
  }
}

export const newExecutionId = (): string => randomUUID();
