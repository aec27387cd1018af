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
