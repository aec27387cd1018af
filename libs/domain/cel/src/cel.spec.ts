import { runInNewContext } from 'node:vm';
import { CelEnvironment, CelError, celLoaded, celToJson, celTypeOf, loadCel, ownRealm } from './cel';

describe('CelEnvironment', () => {
  const env = new CelEnvironment({ arguments: 'map', output: 'map' });

  describe('before the engine is loaded', () => {
    it('compiling says so instead of loading behind the caller\'s back', () => {
      // A fresh jest module registry: this file's first test runs before anything loaded cel-js.
      expect(celLoaded()).toBe(false);
      expect(() => env.compile('1 == 1')).toThrow(new CelError('unloaded', 'the CEL engine is not loaded'));
    });
  });

  describe('loaded', () => {
    beforeAll(async () => {
      await env.load();
    });

    it('parses and type-checks against the declared variables only', () => {
      expect(env.compile('arguments.amount <= 5000').type).toBe('bool');
      expect(env.compile('output.name').type).toBe('dyn');
      expect(env.problemNow('arguments.amount <= 5000')).toBeNull();
      const undeclared = env.problemNow('record.status == "paid"');
      expect(undeclared).toMatchObject({ kind: 'type', message: 'does not type-check: Unknown variable: record' });
      // the same name is fine in an environment that declares it
      expect(new CelEnvironment({ record: 'map' }).problemNow('record.status == "paid"')).toBeNull();
    });

    it('clear errors: what kind, and the engine\'s first line', () => {
      expect(env.problemNow('arguments.amount +')).toMatchObject({ kind: 'parse', message: expect.stringMatching(/^does not parse: Unexpected token/) });
      expect(env.problemNow('1 + "a"')).toMatchObject({ kind: 'type', message: 'does not type-check: no such overload: int + string' });
      const error = env.tryEvaluate('output.missing', { arguments: {}, output: {} });
      expect(error).toEqual({ error: expect.objectContaining({ kind: 'evaluation', message: 'No such key: missing' }) });
      expect(env.problemNow(`[${Array.from({ length: 600 }, (_, i) => i).join(',')}]`)?.kind).toMatch(/^(parse|type)$/);
    });

    it('problem() loads the engine itself', async () => {
      await expect(new CelEnvironment({ input: 'map' }).problem('input.a == 1')).resolves.toBeNull();
      await expect(new CelEnvironment({ input: 'map' }).problem('steps.a == 1')).resolves.toMatchObject({ kind: 'type' });
    });

    it('caches compiled programs, bounded: past the bound the cache starts over', () => {
      const small = new CelEnvironment({ x: 'int' }, { maxPrograms: 3 });
      const first = small.compile('x + 1');
      expect(small.compile('x + 1')).toBe(first);
      small.compile('x + 2');
      small.compile('x + 3');
      expect(small.cached).toBe(3);
      small.compile('x + 4');
      expect(small.cached).toBe(1);
      expect(small.compile('x + 1')).not.toBe(first);
      // an expression that does not compile is not cached
      expect(small.problemNow('x +')).not.toBeNull();
      expect(small.cached).toBe(2);
    });

    it('evaluates over plain data, integers of the expression as bigint', () => {
      expect(env.evaluate('arguments.amount * 2.0', { arguments: { amount: 21 }, output: {} })).toBe(42);
      expect(env.evaluate('size(output.items) + 1', { arguments: {}, output: { items: [1, 2] } })).toBe(3n);
      expect(env.evaluate('[output.a, arguments.b]', { arguments: { b: 'y' }, output: { a: 'x' } })).toEqual(['x', 'y']);
    });

    it('data from another realm is rebuilt as this one\'s (maps and lists are told by constructor)', () => {
      const foreign = runInNewContext('({ items: [1, 2, 3], nested: { ok: true } })') as Record<string, unknown>;
      expect(env.evaluate('size(output.items) == 3 && output.nested.ok', { arguments: {}, output: foreign })).toBe(true);
    });

    it('checks the type of the result when asked: statically at compile, and on the value', () => {
      expect(env.compile('arguments.a == 1', { type: 'bool' }).type).toBe('bool');
      expect(() => env.compile('1 + 2', { type: 'bool' })).toThrow('does not type-check: the expression is an int, not a bool');
      expect(() => env.compile('"a"', { type: ['int', 'null'] })).toThrow('the expression is a string, not an int or null');
      // `dyn` (data-dependent) passes statically; the value is checked when evaluated
      expect(env.compile('output.flag', { type: 'bool' }).type).toBe('dyn');
      expect(env.tryEvaluate('output.flag', { arguments: {}, output: { flag: 'yes' } }, { type: 'bool' })).toEqual({ error: expect.objectContaining({ kind: 'result_type', message: 'is a string, not a bool' }) });
      expect(env.tryEvaluate('output.flag', { arguments: {}, output: { flag: true } }, { type: 'bool' })).toEqual({ value: true });
      expect(env.tryEvaluate('has(output.at) ? output.at : null', { arguments: {}, output: {} }, { type: ['int', 'double', 'null'] })).toEqual({ value: null });
      expect(env.compile('null', { type: ['string', 'null'] }).type).toBe('null');
    });
  });
});

describe('celTypeOf', () => {
  beforeAll(loadCel);

  it('names the CEL type of a value', async () => {
    const env = await new CelEnvironment({}).load();
    const cases: Array<[string, string]> = [
      ['true', 'bool'],
      ['"a"', 'string'],
      ['1', 'int'],
      ['1u', 'uint'],
      ['1.5', 'double'],
      ['b"x"', 'bytes'],
      ['[1]', 'list'],
      ['{"a": 1}', 'map'],
      ['null', 'null'],
      ['timestamp("2026-01-01T00:00:00Z")', 'timestamp'],
      ['duration("1s")', 'duration'],
    ];
    for (const [expression, type] of cases) expect({ expression, type: celTypeOf(env.evaluate(expression, {})) }).toEqual({ expression, type });
  });
});

describe('celToJson', () => {
  it('turns exact integers into numbers and refuses what JSON cannot hold', () => {
    expect(celToJson({ a: 1n, b: [2n, 'x', null, true], c: new Map([['k', 3n]]) })).toEqual({ value: { a: 1, b: [2, 'x', null, true], c: { k: 3 } } });
    expect(celToJson(new Date('2026-01-01T00:00:00Z'))).toEqual({ value: '2026-01-01T00:00:00.000Z' });
    expect(celToJson(2n ** 60n)).toEqual({ error: `${2n ** 60n} is too large for a JSON number` });
    expect(celToJson(Number.NaN)).toEqual({ error: 'NaN is not a JSON number' });
    expect(celToJson(new Uint8Array([1]))).toEqual({ error: 'a Uint8Array value has no JSON form' });
  });
});

describe('ownRealm', () => {
  it('rebuilds plain objects and arrays, leaves the rest', () => {
    const date = new Date();
    const rebuilt = ownRealm(runInNewContext('({ a: [1, { b: 2 }] })')) as { a: [number, object] };
    expect(rebuilt.constructor).toBe(Object);
    expect(rebuilt.a.constructor).toBe(Array);
    expect(rebuilt.a[1].constructor).toBe(Object);
    expect(ownRealm(date)).toBe(date);
  });
});
