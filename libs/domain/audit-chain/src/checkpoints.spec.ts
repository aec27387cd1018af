import { createHash } from 'node:crypto';
import { generateKeyPair } from '@govmesh/signing';
import {
  appendToChain,
  checkpointDigest,
  checkpointProblem,
  GENESIS_HASH,
  inclusionProof,
  LedgerVerifier,
  verifyLedger,
  type LedgerSource,
  merkleLeaf,
  merkleRoot,
  NO_CHECKPOINT,
  payloadDigest,
  signCheckpoint,
  verifyInclusion,
  type SignedCheckpoint,
  type StoredAuditRecord,
} from './index';

const h = (s: string) => createHash('sha256').update(s).digest('hex');

/** RFC 6962's definition of the tree hash, written out recursively: the reference the streamed builder must match. */
function reference(leaves: string[]): string {
  const rec = (d: string[]): Buffer => {
    if (d.length === 1) return merkleLeaf(d[0]);
    let k = 1;
    while (k * 2 < d.length) k *= 2;
    return createHash('sha256').update(Buffer.from([1])).update(rec(d.slice(0, k))).update(rec(d.slice(k))).digest();
  };
  return d0(leaves) ?? rec(leaves).toString('hex');
}
const d0 = (leaves: string[]) => (leaves.length === 0 ? createHash('sha256').digest('hex') : undefined);

describe('Merkle trees over record hashes (RFC 6962)', () => {
  it('builds the same root streamed as the recursive definition, for every size up to 70', () => {
    for (let n = 0; n <= 70; n++) {
      const leaves = Array.from({ length: n }, (_, i) => h(`r${i}`));
      expect(merkleRoot(leaves)).toBe(reference(leaves));
    }
  });

  it('proves every leaf of every tree up to 40, and nothing else', () => {
    for (let n = 1; n <= 40; n++) {
      const leaves = Array.from({ length: n }, (_, i) => h(`r${i}`));
      const root = merkleRoot(leaves);
      for (let i = 0; i < n; i++) {
        const path = inclusionProof(leaves, i);
        expect(path.length).toBeLessThanOrEqual(Math.ceil(Math.log2(n)));
        expect(verifyInclusion(leaves[i], i, n, path, root)).toBe(true);
        expect(verifyInclusion(h('other'), i, n, path, root)).toBe(false);
        if (n > 1) expect(verifyInclusion(leaves[i], (i + 1) % n, n, path, root)).toBe(false);
        if (path.length > 0) expect(verifyInclusion(leaves[i], i, n, [...path.slice(1), path[0].replace(/^./, (c) => (c === '0' ? '1' : '0'))], root)).toBe(false);
      }
    }
  });

  it('refuses malformed proofs without throwing', () => {
    const leaves = [h('a'), h('b'), h('c')];
    const root = merkleRoot(leaves);
    for (const [leaf, i, n, path] of [
      ['nothex', 0, 3, inclusionProof(leaves, 0)],
      [leaves[0], -1, 3, inclusionProof(leaves, 0)],
      [leaves[0], 0, 0, []],
      [leaves[0], 0, 3, 'x'],
      [leaves[0], 0, 3, [1, 2]],
      [leaves[0], 0.5, 3, inclusionProof(leaves, 0)],
    ] as const) {
      expect(verifyInclusion(leaf as string, i as number, n as number, path as unknown as string[], root)).toBe(false);
    }
  });
});

function ledger(n: number): StoredAuditRecord[] {
  let prev = GENESIS_HASH;
  return Array.from({ length: n }, (_, i) => {
    const payload = { type: 'govmesh.policy.decided.v1', data: { effect: i % 3 ? 'deny' : 'allow', i } };
    const chained = appendToChain(prev, { seq: i + 1, eventId: `e-${i + 1}`, type: payload.type, runId: `run-${i % 4}`, topic: 'govmesh.decisions', occurredAt: new Date(Date.UTC(2026, 10, 21, 9, 0, i)).toISOString(), payloadDigest: payloadDigest(payload) });
    prev = chained.hash;
    return { ...chained, payload };
  });
}

/** Checkpoints every `every` records, signed, chained, as telemetry writes them. */
function checkpoints(records: StoredAuditRecord[], every: number, key = generateKeyPair()): { cps: SignedCheckpoint[]; key: ReturnType<typeof generateKeyPair> } {
  const cps: SignedCheckpoint[] = [];
  for (let end = every; end <= records.length; end += every) {
    const from = cps.length ? cps[cps.length - 1].statement.seq + 1 : 1;
    const range = records.slice(from - 1, end);
    cps.push(
      signCheckpoint(
        { v: 1, ledger: 'govmesh-audit', seq: end, fromSeq: from, head: records[end - 1].hash, root: merkleRoot(range.map((r) => r.hash)), prev: cps.length ? checkpointDigest(cps[cps.length - 1].statement) : NO_CHECKPOINT, time: new Date(Date.UTC(2026, 10, 21, 10, 0, end)).toISOString() },
        key.privateKeySeed,
        key.publicKey,
      ),
    );
  }
  return { cps, key };
}

function run(records: StoredAuditRecord[], cps: SignedCheckpoint[], publicKey: string, head: { seq: number; hash: string }, start: SignedCheckpoint | null = null) {
  const v = new LedgerVerifier(publicKey, start);
  let c = 0;
  const queue = cps.filter((cp) => cp.statement.seq > (start?.statement.seq ?? 0));
  for (const r of records) {
    while (c < queue.length && queue[c].statement.seq <= r.seq) if (!v.checkpoint(queue[c++])) break;
    if (!v.push(r)) break;
  }
  while (c < queue.length) if (!v.checkpoint(queue[c++])) break;
  return { verdict: v.finish(head), next: v.verifiedCheckpoint };
}

describe('verifying the ledger against signed checkpoints', () => {
  const records = ledger(25);
  const { cps, key } = checkpoints(records, 10);
  const head = { seq: 25, hash: records[24].hash };

  it('accepts the untouched ledger and names the newest checkpoint it passed', () => {
    const { verdict, next } = run(records, cps, key.publicKey, head);
    expect(verdict).toMatchObject({ intact: true, length: 25, verifiedFrom: 0, checkpoint: { seq: 20, head: records[19].hash } });
    expect(next?.statement.seq).toBe(20);
  });

  it('verifies incrementally from a checkpoint verified before: only the records after it', () => {
    const { verdict } = run(records.slice(10), cps, key.publicKey, head, cps[0]);
    expect(verdict).toMatchObject({ intact: true, length: 15, verifiedFrom: 10 });
  });

  it('catches a ledger rewritten and re-hashed end to end, at the checkpoint range it changed', () => {
    const rewritten: StoredAuditRecord[] = [];
    let prev = GENESIS_HASH;
    for (const r of records) {
      const payload = r.seq === 14 ? { ...(r.payload as object), data: { effect: 'allow', i: 13 } } : r.payload;
      const { prevHash: _p, hash: _h, payload: _x, ...entry } = r;
      const chained = appendToChain(prev, { ...entry, payloadDigest: payloadDigest(payload) });
      prev = chained.hash;
      rewritten.push({ ...chained, payload });
    }
    const { verdict } = run(rewritten, cps, key.publicKey, { seq: 25, hash: prev });
    expect(verdict).toMatchObject({ intact: false, problem: { seq: 11, kind: 'modified' } });
    expect(verdict.intact === false && verdict.reason).toMatch(/records 11\.\.20 were rewritten/);
  });

  it('names the tail cut back past a checkpoint as truncated, even with the head row moved back too', () => {
    const { verdict } = run(records.slice(0, 15), cps, key.publicKey, { seq: 15, hash: records[14].hash });
    expect(verdict).toMatchObject({ intact: false, problem: { seq: 16, kind: 'truncated' } });
  });

  it('refuses a checkpoint signed by another key, altered, or missing from the sequence', () => {
    const other = generateKeyPair();
    expect(run(records, cps, other.publicKey, head).verdict).toMatchObject({ intact: false, problem: { seq: 10, kind: 'checkpoint' } });
    const altered = [cps[0], { ...cps[1], statement: { ...cps[1].statement, time: '2030-01-01T00:00:00.000Z' } }];
    expect(run(records, altered, key.publicKey, head).verdict).toMatchObject({ intact: false, problem: { seq: 20, kind: 'checkpoint' } });
    expect(run(records, [cps[1]], key.publicKey, head).verdict).toMatchObject({ intact: false, problem: { seq: 11, kind: 'checkpoint' } });
    expect(checkpointProblem({ ...cps[0], statement: { ...cps[0].statement, extra: 1 } }, key.publicKey)).toMatch(/fields/);
    expect(checkpointProblem(null, key.publicKey)).toMatch(/not an object/);
  });

  it('still names single-record edits exactly where they are', () => {
    const moved = [...records.slice(0, 4), { ...records[5], seq: 5 }, { ...records[4], seq: 6 }, ...records.slice(6)];
    expect(run(moved, cps, key.publicKey, head).verdict).toMatchObject({ intact: false, problem: { seq: 5, kind: 'reordered' } });
    const deleted = records.filter((r) => r.seq !== 12);
    expect(run(deleted, cps, key.publicKey, head).verdict).toMatchObject({ intact: false, problem: { seq: 12, kind: 'deleted' } });
  });
});

describe('verifying a ledger streamed page by page', () => {
  const records = ledger(25);
  const { cps, key } = checkpoints(records, 10);

  /** The ledger in memory as a source, counting the pages each kind of read takes. */
  function source(rs: StoredAuditRecord[], head: { seq: number; hash: string }) {
    const reads = { records: 0, checkpoints: 0 };
    const src: LedgerSource = {
      head: async () => head,
      records: async (after, limit) => (reads.records++, rs.filter((r) => r.seq > after).slice(0, limit)),
      checkpoints: async (after, limit) => (reads.checkpoints++, cps.filter((c) => c.statement.seq > after).slice(0, limit)),
    };
    return { src, reads };
  }

  it('reads the checkpoints a page at a time, not once per record, and ends intact', async () => {
    const { src, reads } = source(records, { seq: 25, hash: records[24].hash });
    const { verdict, verifiedCheckpoint } = await verifyLedger(src, key.publicKey, null, 4);
    expect(verdict).toMatchObject({ intact: true, length: 25, checkpoint: { seq: 20 } });
    expect(verifiedCheckpoint?.statement.seq).toBe(20);
    expect(reads).toEqual({ records: 7, checkpoints: 1 });
  });

  it('starts after a checkpoint verified before', async () => {
    const { src } = source(records, { seq: 25, hash: records[24].hash });
    expect((await verifyLedger(src, key.publicKey, cps[0], 4)).verdict).toMatchObject({ intact: true, length: 15, verifiedFrom: 10 });
  });

  it('names the tail cut back past a checkpoint, and a record edited inside a checkpoint', async () => {
    const cut = source(records.slice(0, 15), { seq: 15, hash: records[14].hash });
    expect((await verifyLedger(cut.src, key.publicKey, null, 4)).verdict).toMatchObject({ intact: false, problem: { seq: 16, kind: 'truncated' } });
    const edited = records.map((r) => (r.seq === 13 ? { ...r, payload: { tampered: true } } : r));
    const e = source(edited, { seq: 25, hash: records[24].hash });
    expect((await verifyLedger(e.src, key.publicKey, null, 4)).verdict).toMatchObject({ intact: false, problem: { seq: 13, kind: 'modified' } });
  });
});
