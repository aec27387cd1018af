import { decodeEvent, findUnstorableText } from './codec';
import { EventTypes } from './catalog';
import { fromStorable, fromStorableString, isStorableText, STORABLE_TEXT_MARKER, toStorable, toStorableString } from './storable-text';

describe('storable text: what Postgres cannot hold is escaped, losslessly', () => {
  const hostile = [
    'status of acc-001\u0000',
    '\u0000',
    '\u0000\u0000a\\u0000b\\',
    'lone \ud800 high',
    'lone \udc00 low',
    'reversed \udc00\ud800 pair',
    `${STORABLE_TEXT_MARKER}looks escaped`,
    `${STORABLE_TEXT_MARKER}\\u0000`,
    'a\\\\u0000\u0000',
  ];
  const ordinary = ['', 'plain', 'C:\\path\\to', 'emoji 😀 pair', 'json-ish \\u0000 as six characters', '\uffff'];

  it('leaves ordinary text alone, backslashes and surrogate pairs included', () => {
    for (const s of ordinary) expect(toStorableString(s)).toBe(s);
  });

  it('escapes NUL, unpaired surrogates and marker-prefixed text, and gives back exactly the original', () => {
    for (const s of hostile) {
      const stored = toStorableString(s);
      expect(stored.startsWith(STORABLE_TEXT_MARKER)).toBe(true);
      expect(isStorableText(stored)).toBe(true);
      expect(fromStorableString(stored)).toBe(s);
    }
  });

  it('never maps two different strings to one stored form', () => {
    const all = [...hostile, ...ordinary, ...hostile.map(toStorableString)];
    const stored = all.map(toStorableString);
    expect(new Set(stored).size).toBe(new Set(all).size);
  });

  it('escapes values and object keys anywhere in a JSON value, and JSON round-trips the result', () => {
    const value = { task: 'a\u0000b', input: { 'k\u0000ey': ['x', '\ud800', { deep: '\u0000' }], n: 1, ok: true, none: null }, [`${STORABLE_TEXT_MARKER}k`]: 'v' };
    const stored = toStorable(value);
    expect(findUnstorableText(stored)).toBeNull();
    expect(fromStorable(JSON.parse(JSON.stringify(stored)))).toEqual(value);
  });

  it('names where the unstorable text is, showing a bad key escaped', () => {
    expect(findUnstorableText({ data: { task: 'x\u0000' } })).toBe('/data/task');
    expect(findUnstorableText({ data: { 'k\u0000': 1 } })).toBe('/data/k\\u0000');
    expect(findUnstorableText({ data: ['ok', 'x\udfff'] })).toBe('/data/1');
  });

  it('decodes an event with a lone surrogate as unstorable_text, or accepts it on request and says where', () => {
    const envelope = { specversion: '1.0', id: 'e-1', source: 'urn:test', type: EventTypes.IntentSubmitted, time: '2026-11-21T09:30:00Z', data: { intentId: 'run-1', agentId: 'a', task: 'x\ud800' } };
    const bytes = Buffer.from(JSON.stringify(envelope), 'utf8');
    const strict = decodeEvent(bytes);
    expect(strict.ok ? 'accepted' : strict.rejection.code).toBe('unstorable_text');
    const lenient = decodeEvent(bytes, { allowUnstorableText: true });
    expect(lenient).toMatchObject({ ok: true, unstorableAt: '/data/task' });
  });
});
