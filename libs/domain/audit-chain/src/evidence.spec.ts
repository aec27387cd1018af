import { generateKeyPair, keyIdOf } from '@govmesh/signing';
import { appendToChain, EVIDENCE_FORMAT, GENESIS_HASH, inclusionProof, merkleRoot, NO_CHECKPOINT, payloadDigest, sealEvidenceBundle, signCheckpoint, summarizeEvidence, verifyEvidenceBundle } from './index';

const NOW = '2026-11-21T09:30:00.000Z';

/** A run's two records among three, under one signed checkpoint, sealed as telemetry exports them. */
function bundle(key: ReturnType<typeof generateKeyPair>): string {
  let prev = GENESIS_HASH;
  const records = [1, 2, 3].map((seq) => {
    const payload = { type: 'govmesh.intent.decided.v1', data: { runId: seq === 2 ? 'other' : 'run-1', effect: 'allow', policyVersion: 'v1', policies: ['p1'] } };
    const chained = appendToChain(prev, { seq, eventId: `e-${seq}`, type: payload.type, runId: payload.data.runId, topic: 'govmesh.decisions', occurredAt: NOW, payloadDigest: payloadDigest(payload) });
    prev = chained.hash;
    return { ...chained, payload };
  });
  const hashes = records.map((r) => r.hash);
  const cp = signCheckpoint({ v: 1, ledger: 'govmesh-audit', seq: 3, fromSeq: 1, head: prev, root: merkleRoot(hashes), prev: NO_CHECKPOINT, time: NOW }, key.privateKeySeed, key.publicKey);
  const mine = records.filter((r) => r.runId === 'run-1');
  return sealEvidenceBundle(
    {
      format: EVIDENCE_FORMAT,
      runId: 'run-1',
      exportedAt: NOW,
      key: { keyId: keyIdOf(key.publicKey), publicKey: key.publicKey },
      summary: summarizeEvidence(mine),
      records: mine.map((r) => ({ ...r, proof: { checkpoint: 3, index: r.seq - 1, path: inclusionProof(hashes, r.seq - 1) } })),
      checkpoints: [cp],
    },
    key.privateKeySeed,
  );
}

describe('evidence bundles, verified offline', () => {
  const key = generateKeyPair();
  const text = bundle(key);

  it('verifies as exported, with the summary derived from its records', () => {
    expect(verifyEvidenceBundle(text, key.publicKey)).toMatchObject({ valid: true, runId: 'run-1', records: 2, checkpoints: 1, summary: { decisions: [expect.objectContaining({ seq: 1, policies: ['p1'] }), expect.objectContaining({ seq: 3 })] } });
  });

  it('fails after a change of any one byte of the file, whatever the new value', () => {
    const bytes = Buffer.from(text, 'utf8');
    const passed: number[] = [];
    for (let i = 0; i < bytes.length; i++) {
      for (const delta of [1, 0x20, 0x80]) {
        const changed = Buffer.from(bytes);
        changed[i] = (changed[i] + delta) % 256;
        if (verifyEvidenceBundle(changed.toString('utf8'), key.publicKey).valid) passed.push(i);
      }
    }
    expect(passed).toEqual([]);
  });

  it('fails with another key, and never throws on what is not a bundle', () => {
    expect(verifyEvidenceBundle(text, generateKeyPair().publicKey).valid).toBe(false);
    for (const junk of ['', 'null', '[]', '{}', '{"records":[null]}', '{"records":[{"seq":1}]}', text.slice(0, 100)]) expect(verifyEvidenceBundle(junk, key.publicKey).valid).toBe(false);
  });
});
