import type { Citation } from '@govmesh/contracts';
import { ESCALATION_CONFIDENCE, builtinProvider, routeByRisk, type ModelRequest, type OfferedTool } from './builtin-provider';

const policyDoc: Citation = {
  documentId: 'doc-kyc-7',
  title: 'Balance enquiries',
  excerpt: 'Always read the balance from the system of record.',
  source: 'handbook',
  classification: 'internal',
  updatedAt: '2026-10-01T00:00:00.000Z',
};

const offered = (name: string): OfferedTool => ({ name, description: `${name} (unit test)`, inputSchema: { type: 'object' } });

/** The tools the seed workflows' answers use, as the catalog offers them when the gateway registered them. */
const SEED_TOOLS: OfferedTool[] = ['sandbox.lookup_account', 'invoices.lookup', 'invoices.approve_payment', 'tickets.lookup', 'tickets.update'].map(offered);

function request(task: string, input: Record<string, unknown> = {}, citations: Citation[] = [], tools: OfferedTool[] = SEED_TOOLS): ModelRequest {
  return { task, input, citations, tools };
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

describe('builtinProvider: the seed workflows without an output schema', () => {
  it('proposes the invoice payment when the input names invoice, amount and currency', () => {
    const answer = builtinProvider.complete('builtin-small', request('Resolve the invoice exception', { invoiceId: 'inv-1001', amount: 1200, currency: 'EUR', vendor: 'Acme Supplies' }, [policyDoc]));
    expect(answer.proposal).toEqual({
      kind: 'tool_call',
      tool: 'invoices.approve_payment',
      arguments: { invoiceId: 'inv-1001', amount: 1200, currency: 'EUR' },
      rationale: 'approve invoice inv-1001 for payment of 1200 EUR (context: doc-kyc-7)',
    });
    expect(answer.confidence).toBe(0.95);
    expect(answer.output).toBeUndefined();
  });

  it('does not propose a payment without a numeric amount', () => {
    const answer = builtinProvider.complete('builtin-large', request('Resolve', { invoiceId: 'inv-1001', amount: '1200', currency: 'EUR' }));
    expect(answer.proposal.kind).toBe('no_action');
  });

  it('proposes the ticket update when the input names ticket and priority, with the assignee group when given', () => {
    expect(builtinProvider.complete('builtin-small', request('Triage', { ticketId: 'tkt-3001', priority: 'high' })).proposal).toMatchObject({
      kind: 'tool_call',
      tool: 'tickets.update',
      arguments: { ticketId: 'tkt-3001', priority: 'high' },
    });
    expect(builtinProvider.complete('builtin-small', request('Triage', { ticketId: 'tkt-3001', priority: 'high', assigneeGroup: 'identity', status: 'triaged' })).proposal).toMatchObject({
      tool: 'tickets.update',
      arguments: { ticketId: 'tkt-3001', priority: 'high', assigneeGroup: 'identity', status: 'triaged' },
    });
  });

  it('takes _confidence from the input as its confidence (the test hook)', () => {
    expect(builtinProvider.complete('builtin-small', request('x', { accountId: 'acc-001', _confidence: 0.3 })).confidence).toBe(0.3);
    expect(builtinProvider.complete('builtin-small', request('x', { accountId: 'acc-001', _confidence: 7 })).confidence).toBe(0.95);
  });
});

describe('builtinProvider: only the tools the catalog offers', () => {
  const invoice = { invoiceId: 'inv-1001', amount: 1200, currency: 'EUR' };
  const without = (...names: string[]) => SEED_TOOLS.filter((t) => !names.includes(t.name));

  it('never proposes a tool the request does not offer, saying which tool would have fitted', () => {
    const small = builtinProvider.complete('builtin-small', request('Resolve the invoice exception', invoice, [], without('invoices.approve_payment')));
    expect(small.proposal).toEqual({ kind: 'no_action', rationale: 'invoices.approve_payment would fit the input, but it is not among the offered tools, so there is nothing to propose' });
    expect(small.confidence).toBe(0.4);
    expect(builtinProvider.complete('builtin-large', request('Resolve', invoice, [], without('invoices.approve_payment'))).confidence).toBe(0.9);
  });

  it('proposes nothing at all when no tool is offered', () => {
    for (const input of [invoice, { ticketId: 'tkt-3001', priority: 'high' }, { accountId: 'acc-001' }]) {
      expect(builtinProvider.complete('builtin-large', request('Do it', input, [], [])).proposal.kind).toBe('no_action');
    }
    expect(builtinProvider.complete('builtin-large', request('Check acc-001', { invoiceId: 'inv-1', amount: 1, currency: 'EUR' }, [], [])).proposal.rationale).toBe(
      'invoices.approve_payment or sandbox.lookup_account would fit the input, but none of them is among the offered tools, so there is nothing to propose',
    );
  });

  it('falls back to the next offered tool the input fits', () => {
    const answer = builtinProvider.complete('builtin-small', request('Pay it, then check acc-002', invoice, [], without('invoices.approve_payment')));
    expect(answer.proposal).toMatchObject({ kind: 'tool_call', tool: 'sandbox.lookup_account', arguments: { accountId: 'acc-002' } });
    expect(answer.confidence).toBe(0.75);
  });

  it('proposes an offered tool whatever else is offered', () => {
    const answer = builtinProvider.complete('builtin-small', request('Triage', { ticketId: 'tkt-3001', priority: 'high' }, [], [offered('crm.other_tool'), offered('tickets.update')]));
    expect(answer.proposal).toMatchObject({ kind: 'tool_call', tool: 'tickets.update' });
  });
});

describe('builtinProvider: structured output', () => {
  const triage = {
    type: 'object',
    required: ['priority', 'assigneeGroup', 'rationale', 'confidence'],
    additionalProperties: false,
    properties: {
      priority: { type: 'string', enum: ['low', 'normal', 'high', 'urgent'] },
      assigneeGroup: { type: 'string' },
      needsCustomerReply: { type: 'boolean' },
      estimateHours: { type: 'number' },
      rationale: { type: 'string' },
      confidence: { type: 'number', minimum: 0, maximum: 1 },
    },
  };
  const structured = (input: Record<string, unknown>, steps?: Record<string, unknown>, schema: Record<string, unknown> = triage): ModelRequest => ({
    task: 'Triage the ticket',
    input,
    citations: [],
    instructions: 'Decide priority and group',
    outputSchema: schema,
    tools: SEED_TOOLS,
    ...(steps ? { steps } : {}),
  });

  it('takes each property from the input when it has the right type, and proposes no action', () => {
    const answer = builtinProvider.complete('builtin-small', structured({ priority: 'high', assigneeGroup: 'identity', needsCustomerReply: true, estimateHours: 2 }));
    expect(answer.output).toEqual({ priority: 'high', assigneeGroup: 'identity', needsCustomerReply: true, estimateHours: 2, rationale: expect.any(String), confidence: 0.95 });
    expect(answer.confidence).toBe(0.95);
    expect(answer.proposal).toEqual({ kind: 'no_action', rationale: answer.output!['rationale'] });
    expect(answer.output!['rationale']).toMatch(/every required field was found\.$/);
  });

  it('falls back to earlier steps (the latest one), then to defaults: first enum value, empty string, false, 0', () => {
    const answer = builtinProvider.complete(
      'builtin-small',
      structured({ priority: 'critical' }, { lookup: { output: { assigneeGroup: 'billing', priority: 'urgent' } }, classify: { assigneeGroup: 'identity' } }),
    );
    expect(answer.output).toEqual({ priority: 'urgent', assigneeGroup: 'identity', needsCustomerReply: false, estimateHours: 0, rationale: expect.any(String), confidence: 0.95 });
    const bare = builtinProvider.complete('builtin-small', structured({}));
    expect(bare.output).toEqual({ priority: 'low', assigneeGroup: '', needsCustomerReply: false, estimateHours: 0, rationale: expect.stringContaining('defaulted: priority, assigneeGroup'), confidence: 0 });
    expect(bare.confidence).toBe(0);
  });

  it('confidence is the share of required properties found (confidence and rationale not counted), rounded, at most 0.95', () => {
    const schema = { type: 'object', required: ['a', 'b', 'c', 'confidence'], properties: { a: { type: 'string' }, b: { type: 'integer' }, c: { type: 'boolean' }, confidence: { type: 'number' } } };
    expect(builtinProvider.complete('builtin-small', structured({ a: 'x' }, undefined, schema)).confidence).toBe(0.33);
    expect(builtinProvider.complete('builtin-small', structured({ a: 'x', b: 2 }, undefined, schema)).output).toEqual({ a: 'x', b: 2, c: false, confidence: 0.67 });
    expect(builtinProvider.complete('builtin-small', structured({ a: 'x', b: 2.5, c: true }, undefined, schema)).confidence).toBe(0.67);
    expect(builtinProvider.complete('builtin-small', structured({ a: 'x', b: 2, c: true }, undefined, schema)).confidence).toBe(0.95);
  });

  it('the input field _confidence overrides the confidence, also in the output', () => {
    const answer = builtinProvider.complete('builtin-small', structured({ priority: 'high', assigneeGroup: 'identity', _confidence: 0.42 }));
    expect(answer.confidence).toBe(0.42);
    expect(answer.output).toMatchObject({ confidence: 0.42 });
    expect(answer.output).not.toHaveProperty('_confidence');
  });

  it('respects a schema default and numeric bounds when it must invent a value', () => {
    const schema = { type: 'object', properties: { n: { type: 'integer', minimum: 3 }, m: { type: 'number', exclusiveMinimum: 0 }, s: { type: 'string', default: 'n/a' }, t: { type: 'string', minLength: 3 }, nested: { type: 'object', properties: { x: { type: 'boolean' } } }, list: { type: 'array' } } };
    expect(builtinProvider.complete('builtin-small', structured({}, undefined, schema)).output).toEqual({ n: 3, m: 1, s: 'n/a', t: 'unknown', nested: { x: false }, list: [] });
  });

  it('answers the same request the same way on either model, counting the output as its tokens', () => {
    const req = structured({ priority: 'urgent', assigneeGroup: 'sre' });
    const small = builtinProvider.complete('builtin-small', req);
    expect(builtinProvider.complete('builtin-large', req)).toEqual(small);
    expect(small.usage.outputTokens).toBe(Math.ceil(JSON.stringify(small.output).length / 4));
  });
});
