import { createHash } from 'node:crypto';
import canonicalize from 'canonicalize';
import { keyIdOf, sign, verify, type PrivateKeyInput, type PublicKeyInput } from '@govmesh/signing';

/**
 * A checkpoint is the ledger's signed statement about its chain head: after `seq` records the
 * chain's last hash is `head`, the records `fromSeq..seq` have the Merkle root `root`, and the
 * checkpoint before it has the digest `prev`. Checkpoints chain too, so none can be dropped or
 * replaced without breaking the next; copied to a sink outside the database, they let anyone
 * with the public key notice a ledger rewritten and re-hashed end to end.
 */
export const CHECKPOINT_VERSION = 1;
export const CHECKPOINT_LEDGER = 'govmesh-audit';
/** What `prev` says for the first checkpoint. */
export const NO_CHECKPOINT = '0'.repeat(64);

export interface CheckpointStatement {
  v: typeof CHECKPOINT_VERSION;
  ledger: typeof CHECKPOINT_LEDGER;
  /** The number of records in the ledger at this checkpoint (the last one's sequence number). */
  seq: number;
  /** The first record this checkpoint's Merkle root covers (the previous checkpoint's seq + 1). */
  fromSeq: number;
  head: string;
  root: string;
  prev: string;
  /** When it was signed (RFC 3339, UTC). */
  time: string;
}

export interface SignedCheckpoint {
  statement: CheckpointStatement;
  keyId: string;
  signature: string;
}

/** The bytes a checkpoint's signature covers: its canonical JSON (RFC 8785). */
export function checkpointBytes(statement: CheckpointStatement): string {
  return canonicalize(statement) ?? '';
}

/** The digest the next checkpoint names as `prev`. */
export function checkpointDigest(statement: CheckpointStatement): string {
  return createHash('sha256').update(checkpointBytes(statement)).digest('hex');
}

export function signCheckpoint(statement: CheckpointStatement, privateKey: PrivateKeyInput, publicKey: PublicKeyInput): SignedCheckpoint {
  return { statement, keyId: keyIdOf(publicKey), signature: sign(privateKey, checkpointBytes(statement)) };
}

const HEX64 = /^[0-9a-f]{64}$/;

/** Why a checkpoint is not one this key signed, or null when it is. Never throws. */
export function checkpointProblem(signed: unknown, publicKey: PublicKeyInput): string | null {
  if (!signed || typeof signed !== 'object') return 'the checkpoint is not an object';
  const { statement: s, signature } = signed as Partial<SignedCheckpoint>;
  if (!s || typeof s !== 'object') return 'the checkpoint has no statement';
  if (s.v !== CHECKPOINT_VERSION || s.ledger !== CHECKPOINT_LEDGER) return 'the checkpoint is not a govmesh audit checkpoint of a known version';
  if (!Number.isSafeInteger(s.seq) || !Number.isSafeInteger(s.fromSeq) || s.seq < 1 || s.fromSeq < 1 || s.fromSeq > s.seq) return 'the checkpoint names an impossible range';
  if (![s.head, s.root, s.prev].every((h) => typeof h === 'string' && HEX64.test(h))) return 'the checkpoint hashes are not SHA-256 hex';
  if (typeof s.time !== 'string' || Number.isNaN(Date.parse(s.time))) return 'the checkpoint time is not a time';
  const keys = Object.keys(s).sort().join(',');
  if (keys !== 'fromSeq,head,ledger,prev,root,seq,time,v') return 'the checkpoint statement has fields it should not';
  if (typeof signature !== 'string' || !verify(publicKey, checkpointBytes(s as CheckpointStatement), signature)) return 'the checkpoint signature does not verify with this key';
  return null;
}
