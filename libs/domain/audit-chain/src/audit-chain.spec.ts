import { ChainVerifier, GENESIS_HASH, appendToChain, payloadDigest, verifyChain, type StoredAuditRecord } from './index';

/** A ledger of `n` records as telemetry stores them: payload, its digest, chained hashes. */
function ledger(n: number): StoredAuditRecord[] {
  let prev = GENESIS_HASH;
  return Array.from({ length: n }, (_, i) => {
    const payload = { type: 'govmesh.policy.decided.v1', data: { runId: `run-${i}`, effect: i % 2 ? 'deny' : 'allow', amount: i * 1000 } };
    const chained = appendToChain(prev, { seq: i + 1, eventId: `e-${i + 1}`, type: payload.type, runId: `run-${i}`, topic: 'govmesh.decisions', occurredAt: new Date(Date.UTC(2026, 10, 21, 9, 0, i)).toISOString(), payloadDigest: payloadDigest(payload) });
    prev = chained.hash;
    return { ...chained, payload };
  });
}

const headOf = (records: StoredAuditRecord[]) => ({ seq: records[records.length - 1].seq, hash: records[records.length - 1].hash });

describe('verifying the audit ledger', () => {
  it('accepts an untouched ledger and reports its length and head', () => {
    const records = ledger(6);
    expect(verifyChain(records, headOf(records))).toEqual({ intact: true, length: 6, head: records[5].hash });
    expect(verifyChain([], { seq: 0, hash: GENESIS_HASH })).toEqual({ intact: true, length: 0, head: GENESIS_HASH });
  });

  it('verifies from a verified point on, not only from genesis', () => {
    const records = ledger(6);
    expect(verifyChain(records.slice(3), headOf(records), { seq: 3, hash: records[2].hash })).toEqual({ intact: true, length: 3, head: records[5].hash });
  });

  const cases: Array<{ name: string; edit: (r: StoredAuditRecord[]) => StoredAuditRecord[]; seq: number; kind: string }> = [
    {
      name: 'a payload changed from deny to allow, its stored digest left as it was',
      edit: (r) => r.map((x) => (x.seq === 4 ? { ...x, payload: { ...(x.payload as object), data: { runId: 'run-3', effect: 'allow', amount: 3000 } } } : x)),
      seq: 4,
      kind: 'modified',
    },
    {
      name: 'a payload and its digest changed together',
      edit: (r) =>
        r.map((x) => {
          if (x.seq !== 2) return x;
          const payload = { ...(x.payload as object), data: { runId: 'run-1', effect: 'allow', amount: 1 } };
          return { ...x, payload, payloadDigest: payloadDigest(payload) };
        }),
      seq: 2,
      kind: 'modified',
    },
    { name: 'a record deleted from the middle', edit: (r) => r.filter((x) => x.seq !== 3), seq: 3, kind: 'deleted' },
    { name: 'the last records deleted (the head still says 6)', edit: (r) => r.slice(0, 4), seq: 5, kind: 'truncated' },
    {
      name: 'two records swapped, their sequence numbers swapped too',
      edit: (r) => [r[0], r[1], { ...r[3], seq: 3 }, { ...r[2], seq: 4 }, r[4], r[5]],
      seq: 3,
      kind: 'reordered',
    },
    {
      name: 'a record re-chained from an earlier one (a reorder that re-hashed itself)',
      edit: (r) => {
        const x = r[3];
        const { prevHash: _p, hash: _h, payload, ...entry } = x;
        const rechained = appendToChain(r[1].hash, entry);
        return [r[0], r[1], r[2], { ...rechained, payload }, r[4], r[5]];
      },
      seq: 4,
      kind: 'reordered',
    },
    {
      name: 'a forged record inserted with a consistent hash of its own',
      edit: (r) => {
        const payload = { forged: true };
        const forged = appendToChain('f'.repeat(64), { seq: 3, eventId: 'forged', type: 'x', runId: null, topic: 't', occurredAt: new Date(0).toISOString(), payloadDigest: payloadDigest(payload) });
        return [r[0], r[1], { ...forged, payload }, ...r.slice(3)];
      },
      seq: 3,
      kind: 'inserted',
    },
  ];

  it.each(cases)('names $kind at $seq: $name', ({ edit, seq, kind }) => {
    const records = ledger(6);
    const verdict = verifyChain(edit(records), headOf(records));
    expect(verdict).toMatchObject({ intact: false, brokenAtSeq: seq, problem: { seq, kind } });
  });

  it('reports records appended outside the chain, after its head', () => {
    const records = ledger(6);
    expect(verifyChain(records, { seq: 5, hash: records[4].hash })).toMatchObject({ intact: false, problem: { seq: 6, kind: 'inserted' } });
  });

  it('stops at the first problem and counts only the records verified before it', () => {
    const records = ledger(6);
    const verifier = new ChainVerifier();
    const accepted = records.map((r) => verifier.push(r.seq === 3 ? { ...r, payload: { tampered: true } } : r));
    expect(accepted).toEqual([true, true, false, false, false, false]);
    expect(verifier.finish(headOf(records))).toMatchObject({ intact: false, length: 2, problem: { seq: 3, kind: 'modified' } });
  });
});
