import { randomUUID } from 'node:crypto';
import Ajv, { type ValidateFunction } from 'ajv';
import type { Reason } from '@govmesh/contracts';
import { SandboxAccount } from './entities';
import { SANDBOX_SYSTEM_TOOLS } from './sandbox-tools';
import { delay, type ToolDefinition } from './tool-definition';

export * from './tool-definition';
export { DEMO_CONTRACTS, DEMO_INVOICES, DEMO_TICKETS, SANDBOX_SYSTEM_TOOLS, seedSandboxSystems } from './sandbox-tools';

const lookupAccount: ToolDefinition = {
  name: 'sandbox.lookup_account',
  connection: 'sandbox-accounts',
  description: 'Read an account (holder, status, balance) from the sandbox system of record',
  sideEffect: 'read',
  idempotent: true,
  inputSchema: {
    type: 'object',
    required: ['accountId'],
    additionalProperties: false,
    properties: { accountId: { type: 'string', pattern: '^acc-[0-9]{3,12}$' } },
  },
  async execute(sandbox, args, call) {
    const accountId = args['accountId'] as string;
    await delay(call.latencyMs, call.signal);
    // The sandbox logs each access once per idempotency key, as a system of record deduplicating calls would.
    await sandbox.query(
      `INSERT INTO "sandbox"."access_log" (account_id, run_id, execution_id, operation, idempotency_key) VALUES ($1, $2, $3, 'read', $4) ON CONFLICT (idempotency_key) DO NOTHING`,
      [accountId, call.runId, call.executionId, call.idempotencyKey],
    );
    const account = await sandbox.getRepository(SandboxAccount).findOne({ where: { id: accountId } });
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
export const BUILT_IN_TOOLS: ToolDefinition[] = [lookupAccount, ...SANDBOX_SYSTEM_TOOLS];

export const DEMO_ACCOUNTS: SandboxAccount[] = [
  { id: 'acc-001', holder: 'Ada Lovelace', status: 'active', balanceCents: 125000, updatedAt: new Date('2026-11-01T10:00:00Z') },
  { id: 'acc-002', holder: 'Grace Hopper', status: 'frozen', balanceCents: 0, updatedAt: new Date('2026-11-02T10:00:00Z') },
  { id: 'acc-003', holder: 'Alan Turing', status: 'active', balanceCents: 9900, updatedAt: new Date('2026-11-03T10:00:00Z') },
];

export class ToolCatalog {
  private readonly ajv = new Ajv({ allErrors: true, strict: true });
  private readonly validators = new Map<string, ValidateFunction>();
  private readonly outputValidators = new Map<string, ValidateFunction>();

  constructor(private readonly tools: ToolDefinition[] = BUILT_IN_TOOLS) {
    for (const t of tools) {
      this.validators.set(t.name, this.ajv.compile(t.inputSchema));
      if (t.outputSchema) this.outputValidators.set(t.name, this.ajv.compile(t.outputSchema));
    }
  }

  find(name: string): ToolDefinition | undefined {
    return this.tools.find((t) => t.name === name);
  }

  /** Null when the arguments fit the tool's schema; otherwise a reason. */
  checkArguments(name: string, args: Record<string, unknown>): Reason | null {
    const validate = this.validators.get(name);
    if (!validate) return { code: 'tool_not_registered', message: `tool "${name}" is not in the catalog` };
    if (validate(args)) return null;
    return { code: 'arguments_invalid', message: `arguments for ${name} do not match its schema: ${schemaErrors(validate)}` };
  }

  /** Null when the tool has no output schema or the output fits it; otherwise a reason. */
  checkOutput(name: string, output: Record<string, unknown> | undefined): Reason | null {
    const validate = this.outputValidators.get(name);
    if (!validate || validate(output ?? {})) return null;
    return { code: 'output_invalid', message: `${name} answered output that does not match its schema: ${schemaErrors(validate)}`.slice(0, 2000) };
  }
}

function schemaErrors(validate: ValidateFunction): string {
  return (validate.errors ?? [])
    .map((e) => `${e.instancePath || '/'} ${e.message}${'additionalProperty' in e.params ? ` (${String(e.params['additionalProperty'])})` : ''}`)
    .join('; ');
}

export const newExecutionId = (): string => randomUUID();
