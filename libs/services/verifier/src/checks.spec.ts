import type { VerificationCheck } from '@govmesh/contracts';
import { loadCel } from './cel';
import { EXECUTION_LOOKUP_TOOL, planCheck, settleCheck, verdictOf, type CheckState, type VerifiedCall } from './checks';

const call: VerifiedCall = {
  runId: 'r-1',
  claim: { system: 'erp', entity: 'invoice', id: 'inv-1', fields: { status: 'paid' } },
  tool: 'invoices.approve_payment',
  executionId: '5f0c3a52-4c1e-4f0b-9d2a-0d7c1c9e8a11',
  arguments: { invoiceId: 'inv-1', amount: 1200 },
  output: { paymentId: 'pay-1' },
};

beforeAll(async () => {
  await loadCel();
});

describe('planCheck: the read each check needs', () => {
  it('evaluates read arguments over the call, integers as JSON numbers', () => {
    const check: VerificationCheck = { check: 'read_back', tool: 'invoices.lookup', arguments: { invoiceId: 'claim.id', limit: '10', amount: 'arguments.amount', tags: '[output.paymentId, claim.id]' } };
    expect(planCheck(check, 0, call)).toMatchObject({ status: 'awaiting_read', read: { tool: 'invoices.lookup', arguments: { invoiceId: 'inv-1', limit: 10, amount: 1200, tags: ['pay-1', 'inv-1'] } } });
  });

  it('a grant check reads the execution from the gateway\'s ledger; without an execution id it cannot run', () => {
    expect(planCheck({ check: 'grant' }, 2, call)).toMatchObject({ status: 'awaiting_read', read: { tool: EXECUTION_LOOKUP_TOOL, arguments: { executionId: call.executionId } } });
    expect(planCheck({ check: 'grant' }, 2, { ...call, executionId: undefined })).toMatchObject({ status: 'error', reasons: [{ code: 'execution_unknown' }] });
  });

  it('an expression that does not parse or type-check settles the check as error', () => {
    for (const expression of ['claim.id +', 'nope.id', '1 + "a"']) {
      expect(planCheck({ check: 'state', tool: 'invoices.lookup', arguments: { invoiceId: expression }, expect: 'true' }, 1, call)).toMatchObject({ status: 'error', reasons: [{ code: 'verification_expression_failed' }] });
    }
  });
});

describe('settleCheck and verdictOf', () => {
  const readBack: VerificationCheck = { check: 'read_back', tool: 'invoices.lookup', arguments: { invoiceId: 'claim.id' }, fields: ['status', 'paymentCount'] };

  it('a field the check compares but the claim does not state is a mismatch', () => {
    const state = planCheck(readBack, 0, call);
    const settled = settleCheck(state, 0, call, { tool: 'invoices.lookup', executionId: 'e', status: 'succeeded', output: { status: 'paid', paymentCount: 1 }, reasons: [] });
    expect(settled).toMatchObject({ status: 'mismatch', reasons: [{ code: 'field_not_claimed' }] });
  });

  it('a failed read is not_found only when the gateway says the record is missing', () => {
    const state = planCheck(readBack, 0, call);
    const failed = (code: string) => settleCheck(state, 0, call, { tool: 'invoices.lookup', executionId: 'e', status: 'failed', reasons: [{ code, message: code }] }).status;
    expect(failed('invoice_not_found')).toBe('not_found');
    expect(failed('upstream_unavailable')).toBe('error');
  });

  it('the verdict: confirmed only if all pass, then mismatch, then not_found, else unsupported', () => {
    const of = (...statuses: Array<CheckState['status']>) => verdictOf(statuses.map((status) => ({ check: 'grant', spec: { check: 'grant' }, status, reasons: [{ code: 'x', message: 'x' }] }))).verdict;
    expect(of('pass', 'pass')).toBe('confirmed');
    expect(of('pass', 'error', 'not_found', 'mismatch')).toBe('mismatch');
    expect(of('pass', 'error', 'not_found')).toBe('not_found');
    expect(of('pass', 'error')).toBe('unsupported');
    expect(of()).toBe('unsupported');
  });
});
