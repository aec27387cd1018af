import { GENESIS_HASH, appendToChain, chainHash, payloadDigest, verifyChain, type AuditEntry, type ChainedAuditEntry } from './index';

function entry(seq: number, overrides: Partial<AuditEntry> = {}): AuditEntry {
  return {
    seq,
    eventId: `evt-${seq}`,
    type: seq % 2 ? 'govmesh.intent.submitted.v1' : 'govmesh.intent.decided.v1',
    runId: `run-${Math.ceil(seq / 2)}`,
    topic: seq % 2 ? 'govmesh.intents' : 'govmesh.decisions',
    occurredAt: new Date(Date.UTC(2026, 10, 5, 9, 0, seq)).toISOString(),
    payloadDigest: payloadDigest({ seq, amount: seq * 100 }),
    ...overrides,
  };
}

function buildChain(length: number, start = GENESIS_HASH): ChainedAuditEntry[] {
  const chain: ChainedAuditEntry[] = [];
  let prev = start;
  for (let seq = 1; seq <= length; seq++) {
    const record = appendToChain(prev, entry(seq));
    chain.push(record);
    prev = record.hash;
  }
  return chain;
}

describe('payloadDigest', () => {
  it('is the same for the same payload whatever its key order, and differs when a value changes', () => {
    expect(payloadDigest({ a: 1, b: { c: [1, 2] } })).toBe(payloadDigest({ b: { c: [1, 2] }, a: 1 }));
    expect(payloadDigest({ a: 1 })).not.toBe(payloadDigest({ a: 2 }));
    expect(payloadDigest({ a: 1 })).toMatch(/^[0-9a-f]{64}$/);
  });
});

describe('verifyChain', () => {
  it('accepts an intact chain and reports its length and head', () => {
    const chain = buildChain(6);
    expect(chain[0].prevHash).toBe(GENESIS_HASH);
    expect(verifyChain(chain)).toEqual({ intact: true, length: 6, head: chain[5].hash });
  });

  it('accepts an empty chain, whose head is the start hash', () => {
    expect(verifyChain([])).toEqual({ intact: true, length: 0, head: GENESIS_HASH });
  });

  it('verifies a segment that continues from a known earlier head', () => {
    const chain = buildChain(6);
    expect(verifyChain(chain.slice(3), chain[2].hash)).toEqual({ intact: true, length: 3, head: chain[5].hash });
    expect(verifyChain(chain.slice(3))).toMatchObject({ intact: false, brokenAtSeq: 4 });
  });

  it('detects a record whose content was changed, at that record', () => {
    const chain = buildChain(6);
    chain[2] = { ...chain[2], payloadDigest: payloadDigest({ seq: 3, amount: 82000 }) };
    expect(verifyChain(chain)).toEqual({ intact: false, brokenAtSeq: 3, reason: 'record content does not match its hash' });
  });

  it.each([
    ['event id', { eventId: 'evt-x' }],
    ['type', { type: 'govmesh.run.completed.v1' }],
    ['run id', { runId: null }],
    ['topic', { topic: 'govmesh.results' }],
    ['time', { occurredAt: '2020-01-01T00:00:00.000Z' }],
    ['sequence number', { seq: 99 }],
  ])('detects a changed %s', (_what, change) => {
    const chain = buildChain(4);
    chain[1] = { ...chain[1], ...change };
    expect(verifyChain(chain)).toMatchObject({ intact: false, reason: 'record content does not match its hash' });
  });

  it('breaks verification from a changed record on, even when the forger recomputes that record\'s hash', () => {
    const chain = buildChain(6);
    chain[2] = appendToChain(chain[2].prevHash, { ...entry(3), payloadDigest: payloadDigest({ forged: true }) });
    expect(verifyChain(chain)).toEqual({ intact: false, brokenAtSeq: 4, reason: 'previous hash does not match the record before it' });
  });

  it('gives a forger who rewrites every later record an intact chain, but with a different head', () => {
    const original = buildChain(5);
    const rewritten: ChainedAuditEntry[] = original.slice(0, 2);
    let prev = rewritten[1].hash;
    for (let seq = 3; seq <= 5; seq++) {
      const record = appendToChain(prev, seq === 3 ? { ...entry(3), eventId: 'evt-forged' } : entry(seq));
      rewritten.push(record);
      prev = record.hash;
    }
    const verdict = verifyChain(rewritten);
    expect(verdict.intact).toBe(true);
    if (verdict.intact) expect(verdict.head).not.toBe(original[4].hash);
  });

  it('detects a removed record at the record after the gap', () => {
    const chain = buildChain(6);
    chain.splice(3, 1);
    expect(verifyChain(chain)).toEqual({ intact: false, brokenAtSeq: 5, reason: 'previous hash does not match the record before it' });
  });

  it('detects a removed first record', () => {
    const chain = buildChain(3).slice(1);
    expect(verifyChain(chain)).toMatchObject({ intact: false, brokenAtSeq: 2 });
  });

  it('reports a chain truncated at the tail as intact but with a head that no longer matches', () => {
    const chain = buildChain(6);
    const verdict = verifyChain(chain.slice(0, 5));
    expect(verdict).toEqual({ intact: true, length: 5, head: chain[4].hash });
    expect(verdict.intact && verdict.head).not.toBe(chain[5].hash);
  });

  it('detects two records swapped', () => {
    const chain = buildChain(6);
    [chain[2], chain[3]] = [chain[3], chain[2]];
    expect(verifyChain(chain)).toEqual({ intact: false, brokenAtSeq: 4, reason: 'previous hash does not match the record before it' });
  });

  it('detects a record inserted from another chain', () => {
    const chain = buildChain(4);
    const other = buildChain(4, chainHash(GENESIS_HASH, entry(0)));
    chain.splice(2, 0, other[2]);
    expect(verifyChain(chain)).toMatchObject({ intact: false, brokenAtSeq: 3 });
  });

  it('chains hashes: each hash depends on the previous one', () => {
    const e = entry(1);
    expect(chainHash(GENESIS_HASH, e)).not.toBe(chainHash('f'.repeat(64), e));
    expect(chainHash(GENESIS_HASH, e)).toBe(chainHash(GENESIS_HASH, { ...e }));
  });
});
