import { SandboxAccount } from './entities';
import { delay, type ToolDefinition } from './tool-definition';

/** The demo's account system: one read tool over `sandbox.accounts`. */
export const LOOKUP_ACCOUNT: ToolDefinition = {
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


export const DEMO_ACCOUNTS: SandboxAccount[] = [
  { id: 'acc-001', holder: 'Ada Lovelace', status: 'active', balanceCents: 125000, updatedAt: new Date('2026-11-01T10:00:00Z') },
  { id: 'acc-002', holder: 'Grace Hopper', status: 'frozen', balanceCents: 0, updatedAt: new Date('2026-11-02T10:00:00Z') },
  { id: 'acc-003', holder: 'Alan Turing', status: 'active', balanceCents: 9900, updatedAt: new Date('2026-11-03T10:00:00Z') },
];

