import {
  INTENT_SIGNATURE_ATTRIBUTE,
  INTENT_SIGNER_ATTRIBUTE,
  canonicalIntent,
  checkIntentFreshness,
  generateKeyPair,
  parseRfc3339,
  signIntent,
  verifyIntentSignature,
  type SignableIntent,
} from './index';

const intent: SignableIntent = {
  intentId: '279503b9-5464-4fa8-862b-b19cb016ea4e',
  agentId: 'payments-bot',
  agentVersion: '2.1.0',
  task: 'Refund 1 EUR to acc-003',
  input: { to: 'acc-003', amount: 1, currency: 'EUR', memo: { z: true, a: null, lines: [2, 1] } },
  submittedAt: '2026-11-21T09:30:00.412Z',
};

describe('canonicalIntent', () => {
  it('is RFC 8785 JSON: keys sorted at every depth, no whitespace, arrays kept in order', () => {
    expect(canonicalIntent(intent)).toBe(
      '{"agentId":"payments-bot","agentVersion":"2.1.0","input":{"amount":1,"currency":"EUR","memo":{"a":null,"lines":[2,1],"z":true},"to":"acc-003"},' +
        '"intentId":"279503b9-5464-4fa8-862b-b19cb016ea4e","submittedAt":"2026-11-21T09:30:00.412Z","task":"Refund 1 EUR to acc-003"}',
    );
  });

  it('does not depend on the order in which the keys were written', () => {
    const reordered = JSON.parse(
      '{"submittedAt":"2026-11-21T09:30:00.412Z","task":"Refund 1 EUR to acc-003","input":{"memo":{"lines":[2,1],"a":null,"z":true},"currency":"EUR","amount":1,"to":"acc-003"},"agentVersion":"2.1.0","agentId":"payments-bot","intentId":"279503b9-5464-4fa8-862b-b19cb016ea4e"}',
    );
    expect(canonicalIntent(reordered)).toBe(canonicalIntent(intent));
  });

  it('leaves out an absent input and writes numbers the ECMAScript way', () => {
    const { input: _omit, ...withoutInput } = intent;
    expect(canonicalIntent({ ...intent, input: undefined })).toBe(canonicalIntent(withoutInput));
    expect(canonicalIntent(withoutInput)).not.toContain('input');
    expect(canonicalIntent({ ...intent, input: { a: 1.5, b: 1e21, c: 100, d: -0, e: 0.000001 } })).toContain('"input":{"a":1.5,"b":1e+21,"c":100,"d":0,"e":0.000001}');
  });

  it('refuses what is not a JSON object', () => {
    expect(() => canonicalIntent(null as unknown as SignableIntent)).toThrow(/JSON object/);
    expect(() => canonicalIntent([] as unknown as SignableIntent)).toThrow(/JSON object/);
    expect(() => canonicalIntent({ ...intent, input: { x: Number.NaN } })).toThrow();
  });
});

describe('signed intents', () => {
  const agent = generateKeyPair();
  const stranger = generateKeyPair();
  const signature = signIntent(intent, agent.privateKeyPem);

  it('names the CloudEvents extension attributes in lowercase letters and digits', () => {
    expect(INTENT_SIGNATURE_ATTRIBUTE).toBe('govmeshsig');
    expect(INTENT_SIGNER_ATTRIBUTE).toBe('govmeshsigner');
    for (const name of [INTENT_SIGNATURE_ATTRIBUTE, INTENT_SIGNER_ATTRIBUTE]) expect(name).toMatch(/^[a-z0-9]{1,20}$/);
  });

  it('verifies with the agent public key, whatever the key order of the received JSON', () => {
    expect(verifyIntentSignature(intent, signature, agent.publicKey)).toBe(true);
    expect(verifyIntentSignature(JSON.parse(JSON.stringify(Object.fromEntries(Object.entries(intent).reverse()))), signature, agent.publicKey)).toBe(true);
    expect(signIntent(intent, agent.privateKeySeed)).toBe(signature); // Ed25519 is deterministic
  });

  it.each([
    ['another task', { ...intent, task: 'Refund 82000 EUR to acc-003' }],
    ['another amount', { ...intent, input: { ...intent.input, amount: 82000 } }],
    ['an amount as a string', { ...intent, input: { ...intent.input, amount: '1' } }],
    ['another agent', { ...intent, agentId: 'rogue-bot' }],
    ['another agent version', { ...intent, agentVersion: '2.1.1' }],
    ['another intent id (a replay under a new id)', { ...intent, intentId: 'ffffffff-5464-4fa8-862b-b19cb016ea4e' }],
    ['a later submittedAt (a refreshed replay)', { ...intent, submittedAt: '2026-11-21T09:45:00.000Z' }],
    ['an added field', { ...intent, extra: 1 }],
    ['no input', { ...intent, input: undefined }],
  ])('does not verify for %s', (_what, changed) => {
    expect(verifyIntentSignature(changed, signature, agent.publicKey)).toBe(false);
  });

  it('does not verify with another key, and never throws on garbage', () => {
    expect(verifyIntentSignature(intent, signature, stranger.publicKey)).toBe(false);
    expect(verifyIntentSignature(intent, signIntent(intent, stranger.privateKeySeed), agent.publicKey)).toBe(false);
    expect(verifyIntentSignature(intent, 'garbage', agent.publicKey)).toBe(false);
    expect(verifyIntentSignature(intent, signature, 'garbage')).toBe(false);
    expect(verifyIntentSignature(null as unknown as SignableIntent, signature, agent.publicKey)).toBe(false);
    expect(verifyIntentSignature({ ...intent, input: { x: Number.POSITIVE_INFINITY } }, signature, agent.publicKey)).toBe(false);
  });
});

describe('checkIntentFreshness', () => {
  const now = new Date('2026-11-21T09:30:00.000Z');

  it('accepts an intent submitted within the maximum age, or slightly ahead within the skew', () => {
    expect(checkIntentFreshness('2026-11-21T09:30:00.000Z', now, 300)).toBeNull();
    expect(checkIntentFreshness('2026-11-21T09:25:00.000Z', now, 300)).toBeNull();
    expect(checkIntentFreshness('2026-11-21T09:30:30.000Z', now, 300)).toBeNull();
    expect(checkIntentFreshness('2026-11-21T09:30:05Z', now, 300, 5)).toBeNull();
  });

  it('refuses an intent older than the maximum age, saying how old it is', () => {
    expect(checkIntentFreshness('2026-11-21T09:24:59.999Z', now, 300)).toEqual({
      code: 'intent_stale',
      message: 'the intent was submitted at 2026-11-21T09:24:59.999Z, 300 seconds ago; intents older than 300 seconds are refused',
    });
    expect(checkIntentFreshness('2026-11-21T09:29:00Z', now, 30)?.code).toBe('intent_stale');
  });

  it('refuses an intent from further in the future than the allowed skew', () => {
    expect(checkIntentFreshness('2026-11-21T09:30:30.001Z', now, 300)).toEqual({
      code: 'intent_from_future',
      message: 'the intent claims to be submitted at 2026-11-21T09:30:30.001Z, 31 seconds in the future; more than 30 seconds of clock skew is refused',
    });
    expect(checkIntentFreshness('2026-11-21T09:30:06Z', now, 300, 5)?.code).toBe('intent_from_future');
  });

  it('reads offsets and the microseconds of Python isoformat()', () => {
    expect(checkIntentFreshness('2026-11-21T10:29:59.123456+01:00', now, 300)).toBeNull();
    expect(checkIntentFreshness('2026-11-21T04:29:00-05:00', now, 300)).toBeNull();
    expect(checkIntentFreshness('2026-11-21T09:29:00+01:00', now, 300)?.code).toBe('intent_stale');
    expect(parseRfc3339('2026-11-21T09:30:00.412123+00:00')).toBe(Date.parse('2026-11-21T09:30:00.412Z'));
    expect(parseRfc3339('2026-11-21t09:30:00z')).toBe(now.getTime());
  });

  it.each([
    ['no zone', '2026-11-21T09:30:00'],
    ['a space for T', '2026-11-21 09:30:00Z'],
    ['a date only', '2026-11-21'],
    ['words', 'yesterday'],
    ['a day that does not exist', '2026-02-30T09:30:00Z'],
    ['hour 24', '2026-11-21T24:00:00Z'],
    ['an epoch number', '1795253400'],
    ['empty', ''],
    ['not a string', 1795253400 as unknown as string],
    ['nothing', undefined as unknown as string],
  ])('refuses %s as a timestamp', (_what, submittedAt) => {
    const problem = checkIntentFreshness(submittedAt, now, 300);
    expect(problem?.code).toBe('intent_timestamp_invalid');
    expect(problem?.message).toMatch(/is not an RFC 3339 date-time with a zone offset/);
  });
});
