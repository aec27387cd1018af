import type { VerificationCheck } from '@govmesh/contracts';
import { loadCel } from '@govmesh/cel';
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

describe('citation checks', () => {
  const TEXT = 'Clause 2. Notice of non-renewal: at least 90 days before the end date.';
  const QUOTE = 'at least 90 days';
  const cited: VerifiedCall = { ...call, output: { documentId: 'doc-1', version: '2', quote: QUOTE, offset: TEXT.indexOf(QUOTE) } };
  const check: VerificationCheck = { check: 'citation', tool: 'documents.read', document: 'output.documentId', version: 'output.version', quote: 'output.quote', offset: 'output.offset' };
  const answer = (status: 'succeeded' | 'failed' | 'rejected', output?: Record<string, unknown>, code = 'read_completed') => ({ tool: 'documents.read', executionId: 'e', status, ...(output ? { output } : {}), reasons: [{ code, message: code }] });

  it('plans a read of the cited document version with the read tool, arguments documentId and version', () => {
    expect(planCheck(check, 3, cited)).toMatchObject({ status: 'awaiting_read', read: { tool: 'documents.read', arguments: { documentId: 'doc-1', version: '2' } } });
    // literal integers of CEL are offsets too
    expect(planCheck({ ...check, offset: '33' }, 3, cited).status).toBe('awaiting_read');
    expect(planCheck({ ...check, offset: 'null' }, 3, cited).status).toBe('awaiting_read');
  });

  it('settles on what the read tool answered: the version and the quote at the offset', () => {
    const state = planCheck(check, 3, cited);
    expect(settleCheck(state, 3, cited, answer('succeeded', { version: '2', text: TEXT }))).toMatchObject({ status: 'pass', reasons: [{ code: 'citation_check_passed', message: expect.stringMatching(/^check 3 \(citation via documents\.read\): /) }], readExecutionId: 'e' });
    expect(settleCheck(state, 3, cited, answer('succeeded', { version: '1', text: TEXT }))).toMatchObject({ status: 'mismatch', reasons: [{ code: 'citation_version_mismatch' }] });
    expect(settleCheck(state, 3, cited, answer('succeeded', { version: '2', text: `x${TEXT}` }))).toMatchObject({ status: 'mismatch', reasons: [{ code: 'citation_offset_mismatch' }] });
    expect(settleCheck(state, 3, cited, answer('succeeded', { version: '2', text: 'nothing' }))).toMatchObject({ status: 'mismatch', reasons: [{ code: 'citation_not_found' }] });
    expect(settleCheck(state, 3, cited, answer('failed', undefined, 'document_not_found'))).toMatchObject({ status: 'not_found', reasons: [{ code: 'citation_read_failed' }] });
    expect(settleCheck(state, 3, cited, answer('failed', undefined, 'system_unavailable'))).toMatchObject({ status: 'error', reasons: [{ code: 'citation_read_failed' }] });
  });

  it('keeps the evidence as observed, and the verdict shows it, never the text', () => {
    const settled = settleCheck(planCheck(check, 0, cited), 0, cited, answer('succeeded', { version: '2', text: TEXT }));
    const { observed } = verdictOf([settled]);
    expect(observed).toMatchObject({ cited: { documentId: 'doc-1', version: '2', quote: QUOTE }, observed: { version: '2', foundAt: [TEXT.indexOf(QUOTE)] } });
    expect(JSON.stringify(observed)).not.toContain('Clause 2');
  });

  it('refuses what cannot be checked, without a read', () => {
    const plan = (output: Record<string, unknown>, spec: VerificationCheck = check) => planCheck(spec, 1, { ...cited, output: { ...cited.output, ...output } });
    expect(plan({ quote: '' })).toMatchObject({ status: 'error', reasons: [{ code: 'citation_quote_empty' }] });
    expect(plan({ offset: -4 })).toMatchObject({ status: 'error', reasons: [{ code: 'citation_offset_invalid' }] });
    expect(plan({ offset: '4' })).toMatchObject({ status: 'error', reasons: [{ code: 'verification_expression_failed', message: expect.stringContaining('offset = `output.offset` is a string, not an int or a double or null') }] });
    expect(plan({ documentId: 7 })).toMatchObject({ status: 'error', reasons: [{ code: 'verification_expression_failed', message: expect.stringContaining('document = `output.documentId`') }] });
    expect(plan({}, { ...check, quote: 'output.nothing' } as VerificationCheck)).toMatchObject({ status: 'error', reasons: [{ code: 'verification_expression_failed', message: expect.stringContaining('cannot be evaluated over the call: No such key: nothing') }] });
    expect(plan({}, { ...check, quote: 'record.text' } as VerificationCheck)).toMatchObject({ status: 'error', reasons: [{ code: 'verification_expression_failed' }] });
  });

  it('a citation check stored before citation checks named a read tool cannot run', () => {
    const { tool: _, ...legacy } = check as Extract<VerificationCheck, { check: 'citation' }>;
    expect(planCheck(legacy as unknown as VerificationCheck, 0, cited)).toMatchObject({ status: 'error', reasons: [{ code: 'citation_check_unavailable' }] });
  });
});
