import { projectAmount, projectArguments } from './arguments';

describe('projectAmount', () => {
  it.each<[string, unknown, number | undefined]>([
    ['a whole number', 5000, 5000],
    ['cents, rounded up', 5000.01, 5001],
    ['a tiny fraction, rounded up', 4999.0001, 5000],
    ['a negative fraction, rounded up (towards zero)', -5.5, -5],
    ['minus zero', -0, 0],
    ['a numeric string', '5001', 5001],
    ['a decimal string, rounded up', '5000.01', 5001],
    ['a decimal string with zero cents', '5000.00', 5000],
    ['a decimal string beyond float precision', '5000.0000000000000001', 5001],
    ['a negative decimal string', '-12.75', -12],
    ['padded', ' 42 ', 42],
    ['an explicit plus', '+7', 7],
    ['the largest exact integer', Number.MAX_SAFE_INTEGER, Number.MAX_SAFE_INTEGER],
    ['NaN', Number.NaN, undefined],
    ['Infinity', Number.POSITIVE_INFINITY, undefined],
    ['beyond 2^53', 2 ** 60, undefined],
    ['a string beyond 2^53', '90071992547409930', undefined],
    ['exponent notation', '1e3', undefined],
    ['thousands separators', '5,001', undefined],
    ['words', 'five thousand', undefined],
    ['empty', '', undefined],
    ['a boolean', true, undefined],
    ['an object', { value: 5001 }, undefined],
    ['null', null, undefined],
  ])('%s: %p → %p', (_what, value, expected) => {
    expect(projectAmount(value)).toBe(expected);
  });
});

describe('projectArguments', () => {
  it.each<[string, Record<string, unknown>, Record<string, unknown>]>([
    ['nothing it knows', { invoiceId: 'INV-1', note: 'x' }, {}],
    ['an amount and a currency', { amount: '1250.5', currency: 'eur' }, { amount: 1251, currency: 'EUR' }],
    ['a currency that is not three letters', { currency: 'EURO' }, {}],
    ['a currency with digits', { currency: 'E1R' }, {}],
    ['an account id', { accountId: ' acc-001 ' }, { accountId: 'acc-001' }],
    ['an account under `account`', { account: 'acc-002' }, { accountId: 'acc-002' }],
    ['a numeric account', { account: 12345 }, { accountId: '12345' }],
    ['`accountId` before `account`', { accountId: 'a', account: 'b' }, { accountId: 'a' }],
    ['an empty account', { accountId: '   ' }, {}],
    ['a recipient address', { recipient: 'Ops@Example.COM' }, { recipient: 'Ops@Example.COM', recipientDomain: 'example.com' }],
    ['`to` with a display name', { to: 'Buyer <buyer@Customer.Example>' }, { recipient: 'buyer@Customer.Example', recipientDomain: 'customer.example' }],
    ['`email`', { email: 'a@b.example.' }, { recipient: 'a@b.example.', recipientDomain: 'b.example' }],
    ['`recipient` before `to`', { recipient: 'a@one.example', to: 'b@two.example' }, { recipient: 'a@one.example', recipientDomain: 'one.example' }],
    ['a one-address list', { to: ['x@y.example'] }, { recipient: 'x@y.example', recipientDomain: 'y.example' }],
    ['a list of several addresses', { to: ['x@y.example', 'z@w.example'] }, {}],
    ['a recipient that is not an address', { recipient: 'the finance team' }, { recipient: 'the finance team' }],
    ['an address with two @', { recipient: 'a@b@c.example' }, { recipient: 'a@b@c.example' }],
    ['a recipient too long to be one', { recipient: `${'a'.repeat(320)}@x.example` }, {}],
    ['a recipient that is an object', { recipient: { email: 'a@b.example' } }, {}],
  ])('%s', (_what, args, expected) => {
    expect(projectArguments(args)).toEqual(expected);
  });

  it('refuses arguments that are not an object', () => {
    expect(projectArguments(null as unknown as Record<string, unknown>)).toEqual({});
  });
});
