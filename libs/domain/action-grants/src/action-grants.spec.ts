import { generateKeyPair, keyIdOf, loadPrivateKey, sign } from '@govmesh/signing';
import canonicalize from 'canonicalize';
import { actionDigest, checkGrant, checkVerificationAnswer, issueGrant, signVerificationAnswer, signVerificationRead, type ExactAction, type GrantedRequest, type SignedGrant } from './index';

const policyKey = generateKeyPair();
const otherKey = generateKeyPair();
const issuedAt = new Date('2026-11-05T09:00:00.000Z');
const TTL_SECONDS = 300;

const transfer: ExactAction = {
  agentId: 'payments-bot',
  agentVersion: '2.1.0',
  tool: 'sandbox.transfer_funds',
  arguments: { from: 'acc-001', to: 'acc-003', amount: 1, memo: { note: 'refund', lines: [1, 2] } },
  policyVersion: 'a1b2c3d4e5f60718',
};
const binding = { runId: 'run-42', stepId: 'execute' };

function requestFor(action: ExactAction, where = binding): GrantedRequest {
  const { policyVersion: _omit, ...rest } = action;
  return { ...rest, ...where };
}

function issue(action: ExactAction = transfer, key: string = policyKey.privateKeyPem): SignedGrant {
  return issueGrant(key, action, binding, 'grant-7', issuedAt, TTL_SECONDS);
}

/** Re-signs changed fields with a key, as a forger holding that key would. */
function resign(grant: SignedGrant, key: string): SignedGrant {
  const { signature: _old, ...fields } = grant;
  return { ...fields, signature: sign(key, canonicalize(fields) as string) };
}

const oneMinuteLater = new Date(issuedAt.getTime() + 60_000);
const request = requestFor(transfer);

describe('actionDigest', () => {
  it('is a sha256 hex digest that does not depend on the order of keys, at any depth', () => {
    const reordered: ExactAction = {
      policyVersion: transfer.policyVersion,
      tool: transfer.tool,
      arguments: { memo: { lines: [1, 2], note: 'refund' }, amount: 1, to: 'acc-003', from: 'acc-001' },
      agentVersion: transfer.agentVersion,
      agentId: transfer.agentId,
    };
    expect(actionDigest(transfer)).toMatch(/^[0-9a-f]{64}$/);
    expect(actionDigest(reordered)).toBe(actionDigest(transfer));
  });

  it('changes with every part of the action: agent, version, tool, arguments, policy version', () => {
    const variants: ExactAction[] = [
      transfer,
      { ...transfer, agentId: 'other-bot' },
      { ...transfer, agentVersion: '2.1.1' },
      { ...transfer, tool: 'sandbox.lookup_account' },
      { ...transfer, arguments: { ...transfer.arguments, amount: 82000 } },
      { ...transfer, arguments: { ...transfer.arguments, amount: '1' } },
      { ...transfer, arguments: { ...transfer.arguments, memo: { note: 'refund', lines: [2, 1] } } },
      { ...transfer, policyVersion: 'ffffffffffffffff' },
    ];
    expect(new Set(variants.map(actionDigest)).size).toBe(variants.length);
  });

  it('is the digest of the canonical JSON, unchanged from the HMAC era', () => {
    // sha256 of {"agentId":"payments-bot","agentVersion":"2.1.0","arguments":{...},"policyVersion":...,"tool":...}
    const canonical =
      '{"agentId":"payments-bot","agentVersion":"2.1.0","arguments":{"amount":1,"from":"acc-001","memo":{"lines":[1,2],"note":"refund"},"to":"acc-003"},"policyVersion":"a1b2c3d4e5f60718","tool":"sandbox.transfer_funds"}';
    expect(actionDigest(transfer)).toBe(require('node:crypto').createHash('sha256').update(canonical).digest('hex'));
  });
});

describe('issueGrant', () => {
  it('binds the digest, run, step, agent and policy version, with issue and expiry times and the key id', () => {
    const grant = issue();
    expect(grant).toEqual({
      grantId: 'grant-7',
      digest: actionDigest(transfer),
      runId: 'run-42',
      stepId: 'execute',
      agentId: 'payments-bot',
      agentVersion: '2.1.0',
      policyVersion: 'a1b2c3d4e5f60718',
      issuedAt: '2026-11-05T09:00:00.000Z',
      expiresAt: '2026-11-05T09:05:00.000Z',
      keyId: keyIdOf(policyKey.publicKey),
      signature: expect.stringMatching(/^[A-Za-z0-9_-]{86}$/),
    });
  });

  it('signs the same with the PEM, the seed or a loaded key', () => {
    const fromPem = issue();
    expect(issue(transfer, policyKey.privateKeySeed)).toEqual(fromPem);
    expect(issueGrant(loadPrivateKey(policyKey.privateKeySeed), transfer, binding, 'grant-7', issuedAt, TTL_SECONDS)).toEqual(fromPem);
  });

  it('refuses a lifetime that is not a positive number of seconds', () => {
    expect(() => issueGrant(policyKey.privateKeyPem, transfer, binding, 'g', issuedAt, 0)).toThrow(/positive number of seconds/);
    expect(() => issueGrant(policyKey.privateKeyPem, transfer, binding, 'g', issuedAt, Number.NaN)).toThrow(/positive number of seconds/);
  });
});

describe('checkGrant', () => {
  it('authorizes exactly the action it was issued for, even with arguments in another key order', () => {
    const grant = issue();
    expect(checkGrant(policyKey.publicKey, grant, request, oneMinuteLater)).toBeNull();
    const reordered = { ...request, arguments: { amount: 1, memo: { lines: [1, 2], note: 'refund' }, to: 'acc-003', from: 'acc-001' } };
    expect(checkGrant(policyKey.publicKey, grant, reordered, oneMinuteLater)).toBeNull();
    // The grant itself survives a JSON round trip with its keys in another order.
    const shuffled = JSON.parse(JSON.stringify(Object.fromEntries(Object.entries(grant).reverse())));
    expect(checkGrant(policyKey.publicKey, shuffled, request, oneMinuteLater)).toBeNull();
  });

  it('does not let a grant for amount 1 execute amount 82000', () => {
    const bigger = { ...request, arguments: { ...transfer.arguments, amount: 82000 } };
    expect(checkGrant(policyKey.publicKey, issue(), bigger, oneMinuteLater)).toEqual({
      code: 'grant_digest_mismatch',
      message: 'the grant was issued for a different action: the agent, its version, the tool or the arguments differ',
    });
  });

  it.each([
    ['an extra argument', { ...request, arguments: { ...transfer.arguments, fee: 0 } }],
    ['a missing argument', { ...request, arguments: { from: 'acc-001', to: 'acc-003', amount: 1 } }],
    ['another destination', { ...request, arguments: { ...transfer.arguments, to: 'acc-666' } }],
    ['an amount as a string', { ...request, arguments: { ...transfer.arguments, amount: '1' } }],
    ['another agent', { ...request, agentId: 'rogue-bot' }],
    ['another agent version', { ...request, agentVersion: '3.0.0' }],
    ['another tool', { ...request, tool: 'sandbox.close_account' }],
  ])('refuses the grant for %s', (_what, other) => {
    expect(checkGrant(policyKey.publicKey, issue(), other, oneMinuteLater)?.code).toBe('grant_digest_mismatch');
  });

  it('refuses the grant in another run, naming both', () => {
    expect(checkGrant(policyKey.publicKey, issue(), { ...request, runId: 'run-43' }, oneMinuteLater)).toEqual({
      code: 'grant_wrong_run',
      message: 'the grant was issued for step execute of run run-42, not for step execute of run run-43',
    });
  });

  it('refuses the grant in another step of the same run', () => {
    expect(checkGrant(policyKey.publicKey, issue(), { ...request, stepId: 'execute-again' }, oneMinuteLater)?.code).toBe('grant_wrong_run');
  });

  it('refuses a grant at and after its expiry, naming when it expired', () => {
    const grant = issue();
    const atExpiry = new Date(issuedAt.getTime() + TTL_SECONDS * 1000);
    expect(checkGrant(policyKey.publicKey, grant, request, new Date(atExpiry.getTime() - 1))).toBeNull();
    expect(checkGrant(policyKey.publicKey, grant, request, atExpiry)).toEqual({ code: 'grant_expired', message: 'the grant expired at 2026-11-05T09:05:00.000Z' });
    expect(checkGrant(policyKey.publicKey, grant, request, new Date('2026-12-01T00:00:00Z'))?.code).toBe('grant_expired');
  });

  it('refuses a grant issued more than 30 seconds ahead of the gateway clock, and tolerates less', () => {
    const grant = issue();
    expect(checkGrant(policyKey.publicKey, grant, request, new Date(issuedAt.getTime() - 30_000))).toBeNull();
    const problem = checkGrant(policyKey.publicKey, grant, request, new Date(issuedAt.getTime() - 30_001));
    expect(problem?.code).toBe('grant_not_yet_valid');
    expect(problem?.message).toMatch(/^the grant was issued at 2026-11-05T09:00:00.000Z, more than 30 seconds ahead of this gateway's clock/);
  });

  it('refuses a grant whose expiry was pushed out after signing', () => {
    const extended = { ...issue(), expiresAt: '2099-01-01T00:00:00.000Z' };
    expect(checkGrant(policyKey.publicKey, extended, request, new Date('2026-12-01T00:00:00Z'))?.code).toBe('grant_signature_invalid');
  });

  it.each([
    ['digest (swapped for that of a bigger action)', { digest: actionDigest({ ...transfer, arguments: { ...transfer.arguments, amount: 82000 } }) }],
    ['run id', { runId: 'run-43' }],
    ['step id', { stepId: 'other' }],
    ['agent', { agentId: 'rogue-bot' }],
    ['grant id', { grantId: 'grant-8' }],
    ['policy version', { policyVersion: 'ffffffffffffffff' }],
    ['issue time', { issuedAt: '2026-11-05T08:59:00.000Z' }],
    ['signature', { signature: 'A'.repeat(86) }],
    ['signature that is not base64url', { signature: 'not a signature' }],
  ])('refuses a grant with a tampered %s: the signature fails', (_what, change) => {
    expect(checkGrant(policyKey.publicKey, { ...issue(), ...change }, request, oneMinuteLater)?.code).toBe('grant_signature_invalid');
  });

  it('refuses a grant signed by another key, whether or not it claims the policy key id', () => {
    const foreign = issue(transfer, otherKey.privateKeyPem);
    expect(checkGrant(policyKey.publicKey, foreign, request, oneMinuteLater)).toEqual({
      code: 'grant_key_unknown',
      message: `the grant was signed with key ${keyIdOf(otherKey.publicKey)}, not with the policy signing key this gateway trusts (${keyIdOf(policyKey.publicKey)})`,
    });
    const impostor = resign({ ...foreign, keyId: keyIdOf(policyKey.publicKey) }, otherKey.privateKeySeed);
    expect(checkGrant(policyKey.publicKey, impostor, request, oneMinuteLater)?.code).toBe('grant_signature_invalid');
  });

  it('accepts the gateway public key as base64url, as an SPKI PEM or as a KeyObject', () => {
    const { createPublicKey } = require('node:crypto');
    const publicKeyObject = createPublicKey(policyKey.privateKeyPem);
    const spki = publicKeyObject.export({ format: 'pem', type: 'spki' });
    expect(checkGrant(spki, issue(), request, oneMinuteLater)).toBeNull();
    expect(checkGrant(publicKeyObject, issue(), request, oneMinuteLater)).toBeNull();
  });

  it('refuses an HMAC-era grant as malformed', () => {
    const hmacEra = { grantId: 'grant-7', digest: actionDigest(transfer), policyVersion: transfer.policyVersion, expiresAt: '2026-11-05T09:05:00.000Z', signature: 'c2lnbmF0dXJl' };
    expect(checkGrant(policyKey.publicKey, hmacEra as unknown as SignedGrant, request, oneMinuteLater)).toEqual({
      code: 'grant_malformed',
      message: 'the grant lacks runId, stepId, agentId, agentVersion, issuedAt, keyId; it is not a grant issued by this policy service',
    });
  });

  it.each([
    ['null', null],
    ['a string', 'grant-7'],
    ['an array', [1]],
    ['an empty field', { ...issue(), stepId: '' }],
    ['a number field', { ...issue(), runId: 42 }],
    ['an unknown field', { ...issue(), scope: 'all' }],
    ['a digest that is not sha256 hex', { ...issue(), digest: 'abc' }],
    ['a key id that is not 16 hex', { ...issue(), keyId: 'policy-key' }],
    ['an expiry that is not a date', { ...issue(), expiresAt: 'never' }],
    ['an issue time that is not a date', { ...issue(), issuedAt: 'today' }],
  ])('refuses %s as malformed, before anything else', (_what, grant) => {
    const problem = checkGrant(policyKey.publicKey, grant as unknown as SignedGrant, { ...request, runId: 'other' }, new Date('2030-01-01T00:00:00Z'));
    expect(problem?.code).toBe('grant_malformed');
    expect(problem?.message).toMatch(/^the grant /);
  });

  it('checks the key and signature before the run, the action and the time, so a forged grant learns nothing', () => {
    const forged = resign({ ...issue(), keyId: keyIdOf(policyKey.publicKey) }, otherKey.privateKeySeed);
    const wrongEverything = { ...request, runId: 'other-run', tool: 'other' };
    const muchLater = new Date('2030-01-01T00:00:00Z');
    expect(checkGrant(policyKey.publicKey, forged, wrongEverything, muchLater)?.code).toBe('grant_signature_invalid');
    expect(checkGrant(policyKey.publicKey, issue(transfer, otherKey.privateKeyPem), wrongEverything, muchLater)?.code).toBe('grant_key_unknown');
  });

  it('checks the run before the action, and the action before the time', () => {
    const muchLater = new Date('2030-01-01T00:00:00Z');
    expect(checkGrant(policyKey.publicKey, issue(), { ...request, runId: 'other', tool: 'other' }, muchLater)?.code).toBe('grant_wrong_run');
    expect(checkGrant(policyKey.publicKey, issue(), { ...request, tool: 'other' }, muchLater)?.code).toBe('grant_digest_mismatch');
  });
});

describe('verification answers', () => {
  const gatewayKey = generateKeyPair();
  const answer = {
    runId: 'run-42',
    verificationId: '7d0c4a4e-3f7b-4b8e-9d8e-0a1b2c3d4e5f',
    check: 1,
    tool: 'invoices.lookup',
    executionId: 'b7a0e1d2-0000-4000-8000-000000000001',
    status: 'succeeded',
    output: { invoiceId: 'inv-1', status: 'approved', paymentCount: 1 },
    reasons: [{ code: 'read_completed', message: 'read inv-1' }],
  };

  it('verifies an answer signed with the gateway key', () => {
    const signed = signVerificationAnswer(gatewayKey.privateKeyPem, answer);
    expect(signed.keyId).toBe(keyIdOf(loadPrivateKey(gatewayKey.privateKeyPem)));
    expect(checkVerificationAnswer(gatewayKey.publicKey, signed)).toBeNull();
  });

  it.each([
    ['the record it read', { output: { invoiceId: 'inv-1', status: 'approved', paymentCount: 2 } }],
    ['its status', { status: 'failed' }],
    ['the check it answers', { check: 0 }],
    ['the verification', { verificationId: '00000000-0000-4000-8000-000000000000' }],
    ['the run', { runId: 'run-43' }],
    ['the tool', { tool: 'tickets.lookup' }],
    ['its reasons', { reasons: [] }],
  ])('refuses an answer whose %s was changed after signing', (_what, change) => {
    const signed = signVerificationAnswer(gatewayKey.privateKeyPem, answer);
    expect(checkVerificationAnswer(gatewayKey.publicKey, { ...signed, ...change })).toMatchObject({ code: 'gateway_signature_invalid' });
  });

  it('refuses an answer signed with another key, even one that claims the gateway key id', () => {
    const forged = signVerificationAnswer(otherKey.privateKeyPem, answer);
    expect(checkVerificationAnswer(gatewayKey.publicKey, forged)).toMatchObject({ code: 'gateway_key_unknown' });
    const trusted = signVerificationAnswer(gatewayKey.privateKeyPem, answer);
    expect(checkVerificationAnswer(gatewayKey.publicKey, { ...forged, keyId: trusted.keyId })).toMatchObject({ code: 'gateway_signature_invalid' });
  });

  it('is not a verification read signature: a read request signed with the same key does not pass as an answer', () => {
    const read = signVerificationRead(gatewayKey.privateKeyPem, { runId: answer.runId, verificationId: answer.verificationId, check: 1, tool: answer.tool, arguments: {}, requestedAt: '2026-11-05T09:00:00.000Z' });
    expect(checkVerificationAnswer(gatewayKey.publicKey, { ...answer, keyId: read.keyId, signature: read.signature })).toMatchObject({ code: 'gateway_signature_invalid' });
  });
});
