import { ToolCatalog, type ToolDefinition } from '../tools';

describe('output validation', () => {
  const tool: ToolDefinition = {
    name: 'test.echo',
    description: 'echo',
    sideEffect: 'read',
    idempotent: true,
    inputSchema: { type: 'object' },
    outputSchema: { type: 'object', required: ['id'], additionalProperties: false, properties: { id: { type: 'string' } } },
    execute: () => Promise.resolve({ status: 'succeeded', reasons: [] }),
  };
  const catalog = new ToolCatalog([tool, { ...tool, name: 'test.free', outputSchema: undefined }]);

  it('accepts output that matches the schema', () => {
    expect(catalog.checkOutput('test.echo', { id: 'a' })).toBeNull();
  });

  it('refuses output that does not, naming what is wrong', () => {
    expect(catalog.checkOutput('test.echo', { id: 1, extra: true })).toEqual({ code: 'output_invalid', message: expect.stringContaining('/id must be string') });
    expect(catalog.checkOutput('test.echo', undefined)?.message).toContain("must have required property 'id'");
  });

  it('a tool without an output schema is not checked', () => {
    expect(catalog.checkOutput('test.free', { anything: 1 })).toBeNull();
  });

  it('the sandbox tools with output schemas accept their own answers', () => {
    const builtIn = new ToolCatalog();
    expect(builtIn.checkOutput('invoices.lookup', { invoiceId: 'inv-1001', vendor: 'Acme', amount: 1200, currency: 'EUR', status: 'open', paymentCount: 0, reason: 'x' })).toBeNull();
    expect(builtIn.checkOutput('invoices.approve_payment', { invoiceId: 'inv-1001', status: 'approved', amount: 1200, currency: 'EUR', paymentId: 'pay-1' })).toBeNull();
  });
});
