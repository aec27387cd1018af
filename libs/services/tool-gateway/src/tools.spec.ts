import { BUILT_IN_TOOLS, ToolCatalog, type ToolDefinition } from './tools';

const LOOKUP = 'sandbox.lookup_account';

describe('ToolCatalog.checkArguments', () => {
  const catalog = new ToolCatalog();

  it('accepts the arguments the lookup tool expects', () => {
    expect(catalog.checkArguments(LOOKUP, { accountId: 'acc-001' })).toBeNull();
    expect(catalog.checkArguments(LOOKUP, { accountId: 'acc-123456789012' })).toBeNull();
  });

  it('refuses arguments without the account id, naming it', () => {
    expect(catalog.checkArguments(LOOKUP, {})).toEqual({
      code: 'arguments_invalid',
      message: "arguments for sandbox.lookup_account do not match its schema: / must have required property 'accountId'",
    });
  });

  it.each([
    ['an injection attempt', "acc-001' OR '1'='1"],
    ['too few digits', 'acc-12'],
    ['too many digits', 'acc-1234567890123'],
    ['the wrong prefix', 'ACC-001'],
    ['an empty string', ''],
  ])('refuses an account id with %s', (_what, accountId) => {
    const reason = catalog.checkArguments(LOOKUP, { accountId });
    expect(reason?.code).toBe('arguments_invalid');
    expect(reason?.message).toContain('/accountId must match pattern "^acc-[0-9]{3,12}$"');
  });

  it('refuses an account id that is not a string', () => {
    expect(catalog.checkArguments(LOOKUP, { accountId: 1 })?.message).toContain('/accountId must be string');
  });

  it('refuses an argument the tool does not declare', () => {
    const reason = catalog.checkArguments(LOOKUP, { accountId: 'acc-001', includeSsn: true });
    expect(reason?.code).toBe('arguments_invalid');
    expect(reason?.message).toContain('must NOT have additional properties');
  });

  it('reports every problem at once', () => {
    const reason = catalog.checkArguments(LOOKUP, { accountId: 7, extra: 1 });
    expect(reason?.message).toContain('must NOT have additional properties');
    expect(reason?.message).toContain('/accountId must be string');
  });

  it('checks a tool against its own schema', () => {
    const transfer: ToolDefinition = {
      name: 'test.transfer',
      description: 'move money',
      sideEffect: 'write',
      idempotent: false,
      inputSchema: {
        type: 'object',
        required: ['amount'],
        additionalProperties: false,
        properties: { amount: { type: 'integer', minimum: 1, maximum: 100000 } },
      },
      execute: async () => ({ status: 'failed', reasons: [] }),
    };
    const custom = new ToolCatalog([...BUILT_IN_TOOLS, transfer]);
    expect(custom.find('test.transfer')).toBe(transfer);
    expect(custom.checkArguments('test.transfer', { amount: 500 })).toBeNull();
    expect(custom.checkArguments('test.transfer', { amount: 0 })?.message).toContain('/amount must be >= 1');
    expect(custom.checkArguments('test.transfer', { accountId: 'acc-001' })?.code).toBe('arguments_invalid');
    expect(custom.checkArguments(LOOKUP, { amount: 500 })?.code).toBe('arguments_invalid');
  });

  it('refuses at construction a tool whose schema uses an unknown keyword', () => {
    const sloppy = { ...BUILT_IN_TOOLS[0], name: 'test.sloppy', inputSchema: { type: 'object', propertys: {} } };
    expect(() => new ToolCatalog([sloppy])).toThrow(/unknown keyword/);
  });

  it('finds only catalog tools', () => {
    expect(catalog.find(LOOKUP)?.sideEffect).toBe('read');
    expect(catalog.find('shell.exec')).toBeUndefined();
  });
});

describe('ToolCatalog.checkArguments for an unknown tool', () => {
  it('answers with a reason instead of throwing', () => {
    expect(new ToolCatalog().checkArguments('sandbox.drop_tables', {})?.code).toBe('tool_not_registered');
  });

  it('names the extra property it refuses', () => {
    expect(new ToolCatalog().checkArguments('sandbox.lookup_account', { accountId: 'acc-001', sql: 'DROP' })?.message).toContain('(sql)');
  });
});

describe('the seed workflows\' tools', () => {
  const catalog = new ToolCatalog();

  it('are in the catalog with their side effect, each deduplicating by idempotency key', () => {
    expect(BUILT_IN_TOOLS.map((t) => [t.name, t.sideEffect, t.idempotent])).toEqual([
      ['sandbox.lookup_account', 'read', true],
      ['invoices.lookup', 'read', true],
      ['invoices.approve_payment', 'write', true],
      ['contracts.lookup', 'read', true],
      ['contracts.draft_renewal', 'write', true],
      ['mail.send_external', 'external_send', true],
      ['mail.lookup', 'read', true],
      ['tickets.lookup', 'read', true],
      ['tickets.update', 'write', true],
      ['documents.read', 'read', true],
    ]);
  });

  it.each([
    ['invoices.lookup', { invoiceId: 'inv-1001' }],
    ['invoices.approve_payment', { invoiceId: 'inv-1001', amount: 1200, currency: 'EUR' }],
    ['invoices.approve_payment', { invoiceId: 'inv-1001', amount: 0.01, currency: 'USD' }],
    ['contracts.lookup', { contractId: 'ctr-2001' }],
    ['contracts.draft_renewal', { contractId: 'ctr-2001', draft: 'Dear Umbrella Corp, ...' }],
    ['mail.send_external', { to: 'legal@umbrella.example', subject: 'Renewal', body: 'Hello' }],
    ['mail.send_external', { to: 'a.b+c@mail.umbrella.example', subject: 'Renewal', body: 'Hello', contractId: 'ctr-2001' }],
    ['tickets.lookup', { ticketId: 'tkt-3001' }],
    ['tickets.update', { ticketId: 'tkt-3001', priority: 'high' }],
    ['tickets.update', { ticketId: 'tkt-3001', status: 'triaged', assigneeGroup: 'identity' }],
    ['documents.read', { documentId: 'doc-4001', version: '2' }],
    ['documents.read', { documentId: 'doc-4001', version: 'latest' }],
  ])('%s accepts %j', (tool, args) => {
    expect(catalog.checkArguments(tool, args)).toBeNull();
  });

  it.each([
    ['invoices.lookup', { invoiceId: "inv-1001' OR 1=1" }, '/invoiceId must match pattern'],
    ['invoices.approve_payment', { invoiceId: 'inv-1001', amount: 0, currency: 'EUR' }, '/amount must be > 0'],
    ['invoices.approve_payment', { invoiceId: 'inv-1001', amount: -5, currency: 'EUR' }, '/amount must be > 0'],
    ['invoices.approve_payment', { invoiceId: 'inv-1001', amount: '1200', currency: 'EUR' }, '/amount must be number'],
    ['invoices.approve_payment', { invoiceId: 'inv-1001', amount: 1200, currency: 'euro' }, '/currency must match pattern'],
    ['invoices.approve_payment', { invoiceId: 'inv-1001', amount: 1200 }, "must have required property 'currency'"],
    ['invoices.approve_payment', { invoiceId: 'inv-1001', amount: 1200, currency: 'EUR', vendor: 'x' }, 'must NOT have additional properties (vendor)'],
    ['contracts.draft_renewal', { contractId: 'ctr-2001', draft: 'x'.repeat(8001) }, '/draft must NOT have more than 8000 characters'],
    ['contracts.draft_renewal', { contractId: 'ctr-2001', draft: '' }, '/draft must NOT have fewer than 1 characters'],
    ['mail.send_external', { to: 'not an address', subject: 's', body: 'b' }, '/to must match pattern'],
    ['mail.send_external', { to: 'a@b.example', subject: 's', body: 'b', bcc: 'x@y.example' }, '(bcc)'],
    ['tickets.update', { ticketId: 'tkt-3001' }, 'must NOT have fewer than 2 properties'],
    ['tickets.update', { ticketId: 'tkt-3001', priority: 'critical' }, '/priority must be equal to one of the allowed values'],
    ['tickets.update', { ticketId: 'tkt-3001', status: 'deleted' }, '/status must be equal to one of the allowed values'],
    ['documents.read', { documentId: 'doc-4001', version: '02' }, '/version must match pattern'],
    ['documents.read', { documentId: 'doc-4001' }, "must have required property 'version'"],
  ])('%s refuses %j', (tool, args, message) => {
    const reason = catalog.checkArguments(tool, args);
    expect(reason?.code).toBe('arguments_invalid');
    expect(reason?.message).toContain(message);
  });
});
