import { CHECKPOINT_LEDGER, CHECKPOINT_VERSION, type SignedCheckpoint } from './checkpoint';
import { GENESIS_HASH, type StoredAuditRecord } from './chain';
import type { LedgerSource } from './ledger-verifier';

/** The schema telemetry keeps the ledger in (Postgres or PGlite): read by telemetry and by `govmesh audit verify`. */
export const DEFAULT_LEDGER_SCHEMA = '"telemetry"';

export interface CheckpointRow {
  seq: string;
  from_seq: string;
  head: string;
  root: string;
  prev: string;
  signed_time: string;
  key_id: string;
  signature: string;
}

export function toSignedCheckpoint(r: CheckpointRow): SignedCheckpoint {
  return {
    statement: { v: CHECKPOINT_VERSION, ledger: CHECKPOINT_LEDGER, seq: Number(r.seq), fromSeq: Number(r.from_seq), head: r.head.trim(), root: r.root.trim(), prev: r.prev.trim(), time: r.signed_time },
    keyId: r.key_id.trim(),
    signature: r.signature,
  };
}

/** A ledger row as stored, read back for verification: the digest is recomputed from the payload, never trusted. */
export function toStoredRecord(r: Record<string, unknown>): StoredAuditRecord {
  return {
    seq: Number(r['seq']),
    eventId: r['event_id'] as string,
    type: r['type'] as string,
    runId: r['run_id'] as string | null,
    topic: r['topic'] as string,
    occurredAt: new Date(r['occurred_at'] as string).toISOString(),
    payload: r['payload'],
    payloadDigest: String(r['payload_digest']).trim(),
    prevHash: String(r['prev_hash']).trim(),
    hash: String(r['hash']).trim(),
  };
}

export const RECORD_COLUMNS = 'seq, event_id, type, run_id, topic, occurred_at, payload, payload_digest, prev_hash, hash';
export const CHECKPOINT_COLUMNS = 'seq, from_seq, head, root, prev, signed_time, key_id, signature';

/** The ledger as `verifyLedger` reads it, from the telemetry schema through any query function. */
export function sqlLedgerSource(q: (sql: string, params?: unknown[]) => Promise<Array<Record<string, unknown>>>, schema = DEFAULT_LEDGER_SCHEMA): LedgerSource {
  return {
    head: async () => {
      const [head] = await q(`SELECT seq, hash FROM ${schema}."audit_chain_head" WHERE id = 1`);
      return { seq: Number(head?.['seq'] ?? 0), hash: String(head?.['hash'] ?? GENESIS_HASH).trim() };
    },
    records: async (afterSeq, limit) => (await q(`SELECT ${RECORD_COLUMNS} FROM ${schema}."audit_records" WHERE seq > $1 ORDER BY seq LIMIT $2`, [afterSeq, limit])).map(toStoredRecord),
    checkpoints: async (afterSeq, limit) =>
      ((await q(`SELECT ${CHECKPOINT_COLUMNS} FROM ${schema}."audit_checkpoints" WHERE seq > $1 ORDER BY seq LIMIT $2`, [afterSeq, limit])) as unknown as CheckpointRow[]).map(toSignedCheckpoint),
  };
}

