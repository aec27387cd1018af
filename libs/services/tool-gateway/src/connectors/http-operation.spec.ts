import { EgressAllowList } from './egress-policy';
import { buildHttpRequest, type HttpOperation } from './http-operation';

const getInvoice: HttpOperation = { method: 'GET', path: '/v1/invoices/{invoiceId}', query: ['expand'], headers: { accept: 'application/json' } };
const createNote: HttpOperation = { method: 'POST', path: '/v1/invoices/{invoiceId}/notes', body: ['text', 'internal'] };

describe('buildHttpRequest', () => {
  it('fills the path, the query and the body from the arguments', () => {
    expect(buildHttpRequest('https://erp.example.com/api/', getInvoice, { invoiceId: 'inv 1', expand: 'lines' })).toEqual({
      request: { method: 'GET', url: 'https://erp.example.com/api/v1/invoices/inv%201?expand=lines', headers: { accept: 'application/json' } },
    });
    expect(buildHttpRequest('https://erp.example.com', createNote, { invoiceId: 42, text: 'hi', internal: false, other: 1 })).toEqual({
      request: { method: 'POST', url: 'https://erp.example.com/v1/invoices/42/notes', json: { text: 'hi', internal: false } },
    });
  });

  it('leaves out a query argument that is absent', () => {
    const built = buildHttpRequest('https://erp.example.com', getInvoice, { invoiceId: 'inv-1' });
    expect('request' in built && built.request.url).toBe('https://erp.example.com/v1/invoices/inv-1');
  });

  it.each([
    ['missing', {}],
    ['empty', { invoiceId: '' }],
    ['a dot segment', { invoiceId: '..' }],
    ['an object', { invoiceId: { a: 1 } }],
  ])('refuses a path argument that is %s', (_what, args) => {
    const built = buildHttpRequest('https://erp.example.com', getInvoice, args);
    expect('reason' in built && built.reason.code).toBe('arguments_invalid');
  });

  it('encodes a slash in a path argument, which the egress allow-list then refuses', () => {
    const built = buildHttpRequest('https://erp.example.com', getInvoice, { invoiceId: '../../admin' });
    if (!('request' in built)) throw new Error('expected a request');
    expect(built.request.url).toBe('https://erp.example.com/v1/invoices/..%2F..%2Fadmin');
    const list = new EgressAllowList({ allow: [{ host: 'erp.example.com', paths: ['/v1/invoices/*'] }] });
    const decision = list.check('GET', built.request.url);
    expect(!decision.allowed && decision.reason.code).toBe('egress_path_not_allowed');
  });
});
