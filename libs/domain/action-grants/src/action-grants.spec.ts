import { actionDigest, checkGrant, grantForAction, signGrant, type ExactAction, type SignedGrant } from './index';

const SECRET = 'policy-service-signing-secret-0123456789';
const OTHER_SECRET = 'someone-elses-secret-that-is-long-enough';
const issuedAt = new Date('2026-11-05T09:00:00.000Z');
const TTL_SECONDS = 300;

const transfer: ExactAction = {
  agentId: 'payments-bot',
  agentVersion: '2.1.0',
  tool: 'sandbox.transfer_funds',
  arguments: { from: 'acc-001', to: 'acc-003', amount: 1, memo: { note: 'refund', lines: [1, 2] } },
  policyVersion: 'a1b2c3d4e5f60718',
};

function requestFor(action: ExactAction): Omit<ExactAction, 'policyVersion'> {
  const { policyVersion: _omit, ...rest } = action;
  return rest;
}

function issue(action: ExactAction = transfer): SignedGrant {
  return grantForAction(SECRET, action, 'grant-7', issuedAt, TTL_SECONDS);
}

const oneMinuteLater = new Date(issuedAt.getTime() + 60_000);

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
      { ...transfer, agentVersion: undefined },
      { ...transfer, tool: 'sandbox.lookup_account' },
      { ...transfer, arguments: { ...transfer.arguments, amount: 82000 } },
      { ...transfer, arguments: { ...transfer.arguments, amount: '1' } },
      { ...transfer, arguments: { ...transfer.arguments, memo: { note: 'refund', lines: [2, 1] } } },
      { ...transfer, policyVersion: 'ffffffffffffffff' },
    ];
    expect(new Set(variants.map(actionDigest)).size).toBe(variants.length);
  });

  it('treats a missing agent version and an absent one alike', () => {
    const { agentVersion: _omit, ...withoutVersion } = transfer;
    expect(actionDigest(withoutVersion)).toBe(actionDigest({ ...transfer, agentVersion: undefined }));
  });
});

describe('checkGrant', () => {
  it('authorizes exactly the action it was issued for, even with arguments in another key order', () => {
    const grant = issue();
    expect(grant).toMatchObject({ grantId: 'grant-7', policyVersion: transfer.policyVersion, expiresAt: '2026-11-05T09:05:00.000Z', digest: actionDigest(transfer) });
    expect(checkGrant(SECRET, grant, requestFor(transfer), oneMinuteLater)).toBeNull();
    const reordered = { ...requestFor(transfer), arguments: { amount: 1, memo: { lines: [1, 2], note: 'refund' }, to: 'acc-003', from: 'acc-001' } };
    expect(checkGrant(SECRET, grant, reordered, oneMinuteLater)).toBeNull();
  });

  it('does not let a grant for amount 1 authorize amount 82000', () => {
    const grant = issue();
    const bigger = { ...requestFor(transfer), arguments: { ...transfer.arguments, amount: 82000 } };
    expect(checkGrant(SECRET, grant, bigger, oneMinuteLater)).toEqual({
      code: 'grant_digest_mismatch',
      message: 'the grant was issued for a different action (agent, tool or arguments differ)',
    });
  });

  it.each([
    ['an extra argument', { ...requestFor(transfer), arguments: { ...transfer.arguments, fee: 0 } }],
    ['a missing argument', { ...requestFor(transfer), arguments: { from: 'acc-001', to: 'acc-003', amount: 1 } }],
    ['another destination', { ...requestFor(transfer), arguments: { ...transfer.arguments, to: 'acc-666' } }],
    ['another agent', { ...requestFor(transfer), agentId: 'rogue-bot' }],
    ['another agent version', { ...requestFor(transfer), agentVersion: '3.0.0' }],
    ['another tool', { ...requestFor(transfer), tool: 'sandbox.close_account' }],
  ])('refuses the grant for %s', (_what, request) => {
    expect(checkGrant(SECRET, issue(), request, oneMinuteLater)?.code).toBe('grant_digest_mismatch');
  });

  it('refuses a grant signed with another secret: it was not issued by the policy service', () => {
    const forged = grantForAction(OTHER_SECRET, transfer, 'grant-7', issuedAt, TTL_SECONDS);
    expect(checkGrant(SECRET, forged, requestFor(transfer), oneMinuteLater)).toEqual({
      code: 'grant_signature_invalid',
      message: 'the grant signature does not verify; it was not issued by the policy service',
    });
  });

  it('refuses a grant whose expiry was pushed out after signing', () => {
    const grant = issue();
    const extended = { ...grant, expiresAt: '2099-01-01T00:00:00.000Z' };
    expect(checkGrant(SECRET, extended, requestFor(transfer), oneMinuteLater)?.code).toBe('grant_signature_invalid');
  });

  it('refuses a grant whose digest was swapped for that of a bigger action', () => {
    const bigger: ExactAction = { ...transfer, arguments: { ...transfer.arguments, amount: 82000 } };
    const tampered = { ...issue(), digest: actionDigest(bigger) };
    expect(checkGrant(SECRET, tampered, requestFor(bigger), oneMinuteLater)?.code).toBe('grant_signature_invalid');
  });

  it.each([
    ['grant id', { grantId: 'grant-8' }],
    ['policy version', { policyVersion: 'ffffffffffffffff' }],
    ['signature', { signature: 'AAAA' }],
    ['empty signature', { signature: '' }],
  ])('refuses a grant with a tampered %s', (_what, change) => {
    expect(checkGrant(SECRET, { ...issue(), ...change }, requestFor(transfer), oneMinuteLater)?.code).toBe('grant_signature_invalid');
  });

  it('refuses a grant at and after its expiry, naming when it expired', () => {
    const grant = issue();
    const atExpiry = new Date(issuedAt.getTime() + TTL_SECONDS * 1000);
    expect(checkGrant(SECRET, grant, requestFor(transfer), new Date(atExpiry.getTime() - 1))).toBeNull();
    expect(checkGrant(SECRET, grant, requestFor(transfer), atExpiry)).toEqual({ code: 'grant_expired', message: 'the grant expired at 2026-11-05T09:05:00.000Z' });
    expect(checkGrant(SECRET, grant, requestFor(transfer), new Date('2026-12-01T00:00:00Z'))?.code).toBe('grant_expired');
  });

  it('checks the signature before anything else, so a forged grant learns nothing about the action', () => {
    const forged = grantForAction(OTHER_SECRET, transfer, 'grant-7', issuedAt, TTL_SECONDS);
    const wrongAction = { ...requestFor(transfer), tool: 'other' };
    const muchLater = new Date('2030-01-01T00:00:00Z');
    expect(checkGrant(SECRET, forged, wrongAction, muchLater)?.code).toBe('grant_signature_invalid');
  });

  it('signs deterministically: the same grant fields with the same secret give the same signature', () => {
    const grant = issue();
    const { signature, ...fields } = grant;
    expect(signGrant(SECRET, fields).signature).toBe(signature);
    expect(signGrant(OTHER_SECRET, fields).signature).not.toBe(signature);
  });
});

describe('checkGrant with an unreadable expiry', () => {
  it('treats a grant whose expiresAt is not a date as expired, even when correctly signed', () => {
    const forged = signGrant(SECRET, { ...issue(), expiresAt: 'never' });
    expect(checkGrant(SECRET, forged, requestFor(transfer), oneMinuteLater)?.code).toBe('grant_expired');
  });
});
