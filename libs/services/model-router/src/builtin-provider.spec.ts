import type { Citation } from '@govmesh/contracts';
import { ESCALATION_CONFIDENCE, builtinProvider, routeByRisk, type ModelRequest } from './builtin-provider';

const policyDoc: Citation = {
  documentId: 'doc-kyc-7',
  title: 'Balance enquiries',
  excerpt: 'Always read the balance from the system of record.',
  source: 'handbook',
  classification: 'internal',
  updatedAt: '2026-10-01T00:00:00.000Z',
};

function request(task: string, input: Record<string, unknown> = {}, citations: Citation[] = []): ModelRequest {
  return { task, input, citations };
}

describe('builtinProvider', () => {
  it('proposes the account lookup for the account id given in the input, with high confidence', () => {
    const answer = builtinProvider.complete('builtin-small', request('What is the balance?', { accountId: 'acc-001' }, [policyDoc]));
    expect(answer.proposal).toEqual({
      kind: 'tool_call',
      tool: 'sandbox.lookup_account',
      arguments: { accountId: 'acc-001' },
      rationale: 'look up acc-001 in the system of record before answering (context: doc-kyc-7)',
    });
    expect(answer.confidence).toBe(0.95);
  });

  it('finds an account id written in the task, with less confidence than one given as input', () => {
    const answer = builtinProvider.complete('builtin-small', request('Customer asks about acc-003, is it active?'));
    expect(answer.proposal).toMatchObject({ kind: 'tool_call', arguments: { accountId: 'acc-003' } });
    expect(answer.proposal.rationale).toContain('(context: no documents)');
    expect(answer.confidence).toBe(0.75);
    expect(answer.confidence).toBeGreaterThanOrEqual(ESCALATION_CONFIDENCE);
  });

  it('prefers the account id in the input over one in the task', () => {
    const answer = builtinProvider.complete('builtin-large', request('Move money out of acc-002', { accountId: 'acc-001' }));
    expect(answer.proposal).toMatchObject({ kind: 'tool_call', arguments: { accountId: 'acc-001' } });
    expect(answer.confidence).toBe(0.95);
  });

  it('does not take a non-string accountId from the input, falling back to the task', () => {
    const answer = builtinProvider.complete('builtin-small', request('Look at acc-002', { accountId: 42 }));
    expect(answer.proposal).toMatchObject({ kind: 'tool_call', arguments: { accountId: 'acc-002' } });
    expect(answer.confidence).toBe(0.75);
  });

  it.each([
    ['no account at all', 'Summarise our refund policy'],
    ['too few digits', 'Check acc-12'],
    ['too many digits', 'Check acc-1234567890123'],
    ['part of a longer word', 'Check xacc-001'],
  ])('proposes no action when the task has %s', (_what, task) => {
    const answer = builtinProvider.complete('builtin-small', request(task));
    expect(answer.proposal).toEqual({ kind: 'no_action', rationale: 'no account id in the task or input, so there is nothing to look up' });
  });

  it('is unsure on the small model when there is nothing to do, so the router escalates', () => {
    const small = builtinProvider.complete('builtin-small', request('Summarise our refund policy'));
    const large = builtinProvider.complete('builtin-large', request('Summarise our refund policy'));
    expect(small.confidence).toBe(0.4);
    expect(small.confidence).toBeLessThan(ESCALATION_CONFIDENCE);
    expect(large.confidence).toBe(0.9);
    expect(large.confidence).toBeGreaterThanOrEqual(ESCALATION_CONFIDENCE);
  });

  it('answers the same input the same way and counts about four characters per token', () => {
    const req = request('Check acc-001', { accountId: 'acc-001', note: 'x'.repeat(400) }, [policyDoc]);
    const first = builtinProvider.complete('builtin-small', req);
    expect(builtinProvider.complete('builtin-small', req)).toEqual(first);
    const prompt = `${req.task}\n${JSON.stringify(req.input)}\n${policyDoc.excerpt}`;
    expect(first.usage).toEqual({ inputTokens: Math.ceil(prompt.length / 4), outputTokens: Math.ceil(first.proposal.rationale.length / 4) });
  });
});

describe('routeByRisk', () => {
  it('sends low-risk work to the small model and anything riskier to the large one', () => {
    expect(routeByRisk('low')).toMatchObject({ model: 'builtin-small', reason: 'low risk: cheapest capable model' });
    expect(routeByRisk('medium')).toMatchObject({ model: 'builtin-large', reason: 'medium risk: strongest model' });
    expect(routeByRisk('high')).toMatchObject({ model: 'builtin-large', reason: 'high risk: strongest model' });
    expect(routeByRisk('high').provider).toBe(builtinProvider);
  });

  it('a low-risk task without an account ends below the escalation threshold on its first route', () => {
    const route = routeByRisk('low');
    const answer = route.provider.complete(route.model, request('Hello there'));
    expect(answer.proposal.kind).toBe('no_action');
    expect(answer.confidence).toBeLessThan(ESCALATION_CONFIDENCE);
  });
});

describe('builtinProvider with an empty input field', () => {
  it('falls back to the account id in the task when input.accountId is empty', () => {
    const answer = builtinProvider.complete('builtin-small', request('look up acc-001', { accountId: '' }));
    expect(answer.proposal).toMatchObject({ kind: 'tool_call', arguments: { accountId: 'acc-001' } });
  });
});
