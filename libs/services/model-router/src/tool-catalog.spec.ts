import { createEvent, EventTypes, newestPerTool, supersedes, type ToolRegisteredV1 } from '@govmesh/contracts';
import { refusedAnswer, toolChangeOf, ToolOffer, ToolSchemas, TOOL_MANIFEST_SOURCE, type CatalogTool, type RouterToolChange } from './tool-catalog';

const PAY: CatalogTool = {
  name: 'invoices.approve_payment',
  version: '1.0.0',
  description: 'Approve an invoice for payment',
  inputSchema: {
    type: 'object',
    required: ['invoiceId', 'amount', 'currency'],
    additionalProperties: false,
    properties: { invoiceId: { type: 'string', pattern: '^inv-[0-9]{3,12}$' }, amount: { type: 'number', exclusiveMinimum: 0 }, currency: { type: 'string', pattern: '^[A-Z]{3}$' } },
  },
};
const LOOKUP: CatalogTool = { name: 'sandbox.lookup_account', version: '2.1.0', description: 'Read an account', inputSchema: { type: 'object', required: ['accountId'], properties: { accountId: { type: 'string' } } } };

const call = (tool: string, args: Record<string, unknown>) => ({ kind: 'tool_call' as const, tool, arguments: args, rationale: 'because' });
const never = () => false;

describe('toolChangeOf', () => {
  const data = (over: Partial<ToolRegisteredV1> = {}): ToolRegisteredV1 => ({
    name: PAY.name,
    change: 'registered',
    status: 'active',
    manifest: { name: PAY.name, version: '1.0.0', description: PAY.description, inputSchema: PAY.inputSchema, sideEffect: 'write', classification: 'confidential', idempotent: true, operation: { connector: 'sandbox', operation: PAY.name } },
    actor: { kind: 'system', id: 'system' },
    ...over,
  });
  const event = (d: ToolRegisteredV1, source = TOOL_MANIFEST_SOURCE) => createEvent(EventTypes.ToolRegistered, d, { source, time: new Date('2026-11-21T10:00:00.000Z') });

  it('keeps name, version, description, input schema, side effect, status and the event time', () => {
    expect(toolChangeOf(event(data()))).toEqual({
      change: { name: PAY.name, version: '1.0.0', description: PAY.description, inputSchema: PAY.inputSchema, sideEffect: 'write', status: 'active', changedAt: '2026-11-21T10:00:00.000Z' },
    });
  });

  it('reads a retirement from either the change or the status', () => {
    expect(toolChangeOf(event(data({ change: 'retired', status: 'retired' })))).toMatchObject({ change: { status: 'retired' } });
    expect(toolChangeOf(event(data({ change: 'retired' })))).toMatchObject({ change: { status: 'retired' } });
    expect(toolChangeOf(event(data({ status: 'retired' })))).toMatchObject({ change: { status: 'retired' } });
  });

  it('learns nothing from an event the tool gateway did not produce, or whose manifest is of another tool', () => {
    expect(toolChangeOf(event(data(), 'govmesh/policy'))).toEqual({ refused: 'untrusted_source' });
    expect(toolChangeOf(event(data(), 'urn:somebody'))).toEqual({ refused: 'untrusted_source' });
    expect(toolChangeOf(event(data({ name: 'invoices.lookup' })))).toEqual({ refused: 'manifest_name_mismatch' });
  });
});

describe('the order of tool changes', () => {
  const change = (version: string, changedAt: string, status: 'active' | 'retired' = 'active'): RouterToolChange => ({ name: 't.x', version, description: 'd', inputSchema: {}, sideEffect: 'read', status, changedAt });

  it('orders versions by number, then the later event of one version', () => {
    expect(supersedes(change('10.0.0', '2026-01-01T00:00:00Z'), change('9.5.0', '2026-02-01T00:00:00Z'))).toBe(true);
    expect(supersedes(change('9.5.0', '2026-02-01T00:00:00Z'), change('10.0.0', '2026-01-01T00:00:00Z'))).toBe(false);
    expect(supersedes(change('1.0.0', '2026-01-01T00:00:01Z'), change('1.0.0', '2026-01-01T00:00:00Z'))).toBe(true);
    expect(supersedes(change('1.0.0', '2026-01-01T00:00:00Z'), change('1.0.0', '2026-01-01T00:00:01Z'))).toBe(false);
  });

  it('keeps the newest change of each tool in a batch, whatever the order of arrival', () => {
    const retired = change('1.0.0', '2026-01-01T00:00:02Z', 'retired');
    expect(newestPerTool([retired, change('1.0.0', '2026-01-01T00:00:01Z')])).toEqual([retired]);
  });
});

describe('ToolOffer', () => {
  it('offers the active tools by name, with a digest of names and versions', () => {
    const offer = new ToolOffer([PAY, LOOKUP], new ToolSchemas());
    expect(offer.offered.map((t) => t.name)).toEqual(['invoices.approve_payment', 'sandbox.lookup_account']);
    expect(offer.offered[0]).toEqual({ name: PAY.name, description: PAY.description, inputSchema: PAY.inputSchema });
    expect(offer.digest).toMatch(/^[0-9a-f]{16}$/);
    expect(new ToolOffer([LOOKUP, PAY], new ToolSchemas()).digest).toBe(offer.digest);
    expect(new ToolOffer([PAY, { ...LOOKUP, version: '2.2.0' }], new ToolSchemas()).digest).not.toBe(offer.digest);
  });

  it('passes no action and a call whose arguments match the schema', () => {
    const offer = new ToolOffer([PAY], new ToolSchemas());
    expect(offer.check({ kind: 'no_action', rationale: 'nothing' }, never)).toBeNull();
    expect(offer.check(call(PAY.name, { invoiceId: 'inv-1001', amount: 1200, currency: 'EUR' }), never)).toBeNull();
  });

  it('refuses a tool not in the catalog, or retired from it', () => {
    const offer = new ToolOffer([PAY], new ToolSchemas());
    expect(offer.check(call('erp.wire_money', {}), never)).toEqual({ code: 'tool_not_in_catalog', message: 'the model proposed tool "erp.wire_money", which is not in the tool catalog', paths: [] });
    expect(offer.check(call('erp.wire_money', {}), (n) => n === 'erp.wire_money')).toMatchObject({ code: 'tool_retired' });
  });

  it('refuses arguments that do not match, naming every path and what the schema expects, never the values', () => {
    const refusal = new ToolOffer([PAY], new ToolSchemas()).check(call(PAY.name, { invoiceId: 'INV-secret-1', amount: -5, vendor: 'Acme' }), never);
    expect(refusal).toMatchObject({ code: 'tool_arguments_invalid' });
    expect(refusal!.message).toContain('the model proposed invoices.approve_payment 1.0.0 with arguments that do not match its input schema: ');
    expect(refusal!.message).toContain("/ must have required property 'currency'");
    expect(refusal!.message).toContain('/invoiceId must match pattern "^inv-[0-9]{3,12}$"');
    expect(refusal!.message).toContain('/amount must be > 0');
    expect(refusal!.message).toContain('/ must NOT have additional properties (vendor)');
    expect(refusal!.message).not.toContain('INV-secret-1');
    expect(refusal!.message).not.toContain('-5');
    expect(refusal!.paths.sort()).toEqual(['/ additionalProperties', '/ required', '/amount exclusiveMinimum', '/invoiceId pattern']);
  });

  it('compiles each tool version once, and again when a version comes with another schema', () => {
    const schemas = new ToolSchemas();
    const fn = (tool: CatalogTool) => {
      const v = schemas.validator(tool);
      return 'validate' in v ? v.validate : undefined;
    };
    const first = fn(PAY);
    expect(first).toBeDefined();
    expect(fn({ ...PAY, inputSchema: JSON.parse(JSON.stringify(PAY.inputSchema)) })).toBe(first);
    expect(fn({ ...PAY, inputSchema: { type: 'object' } })).not.toBe(first);
  });

  it('does not offer a tool whose schema does not compile in strict mode, and refuses a proposal of it', () => {
    const broken: CatalogTool = { name: 'x.broken', version: '1.0.0', description: 'broken', inputSchema: { type: 'object', properties: { a: { type: 'string', frobnicate: true } } } };
    const offer = new ToolOffer([broken, PAY], new ToolSchemas());
    expect(offer.offered.map((t) => t.name)).toEqual([PAY.name]);
    expect(offer.unusable).toEqual([{ name: 'x.broken', version: '1.0.0', problem: expect.stringContaining('frobnicate') }]);
    expect(offer.check(call('x.broken', { a: 'b' }), never)).toMatchObject({ code: 'tool_schema_unusable' });
  });
});

describe('refusedAnswer', () => {
  it('answers no action with confidence 0 and the reason', () => {
    expect(refusedAnswer({ code: 'tool_not_in_catalog', message: 'the model proposed tool "a.b", which is not in the tool catalog', paths: [] })).toEqual({
      proposal: { kind: 'no_action', rationale: 'the router refused the model\'s proposal: the model proposed tool "a.b", which is not in the tool catalog' },
      confidence: 0,
      reasons: [{ code: 'tool_not_in_catalog', message: 'the model proposed tool "a.b", which is not in the tool catalog' }],
    });
  });
});
