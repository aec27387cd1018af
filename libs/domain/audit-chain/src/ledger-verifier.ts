import type { PublicKeyInput } from '@govmesh/signing';
import { checkpointDigest, checkpointProblem, NO_CHECKPOINT, type SignedCheckpoint } from './checkpoint';
import { ChainVerifier, GENESIS_HASH, type ChainProblem, type StoredAuditRecord } from './chain';
import { MerkleRootBuilder } from './merkle';

export type LedgerVerdict =
  | { intact: true; length: number; verifiedFrom: number; head: string; checkpoint: { seq: number; head: string; time: string } | null }
  | { intact: false; length: number; verifiedFrom: number; brokenAtSeq: number; problem: ChainProblem; reason: string };

/**
 * Verifies the ledger against its signed checkpoints, streamed in constant memory: records and
 * checkpoints are fed in sequence order (each checkpoint before the record it ends on). Every
 * record is checked as `ChainVerifier` does; every checkpoint must carry a valid signature by the
 * ledger's key, follow the one before it, and match the records it covers — their last hash is its
 * signed head and their Merkle root its signed root. A ledger rewritten and re-hashed end to end
 * passes the chain but not the checkpoints; one cut short of a checkpoint is truncated even when
 * its head row was moved back too.
 *
 * Starting from a checkpoint verified before makes verification incremental: only the records
 * after it are read.
 */
export class LedgerVerifier {
  private readonly chain: ChainVerifier;
  private readonly from: number;
  private last: SignedCheckpoint | null;
  private pending: SignedCheckpoint | null = null;
  private merkle = new MerkleRootBuilder();
  private lastPassed: SignedCheckpoint | null;

  constructor(
    private readonly publicKey: PublicKeyInput,
    start: SignedCheckpoint | null = null,
  ) {
    this.last = start;
    this.lastPassed = start;
    this.from = start?.statement.seq ?? 0;
    this.chain = new ChainVerifier(start ? { seq: start.statement.seq, hash: start.statement.head } : { seq: 0, hash: GENESIS_HASH });
  }

  /** The next checkpoint, in order; false once a problem was found. */
  checkpoint(cp: SignedCheckpoint): boolean {
    if (this.chain.failed) return false;
    if (this.pending) return this.chain.report(this.pending.statement.seq + 1, 'truncated', `checkpoint ${this.pending.statement.seq} has no record ${this.pending.statement.seq}: the records it signed are gone`);
    const seq = cp?.statement?.seq;
    const problem = checkpointProblem(cp, this.publicKey);
    if (problem) return this.chain.report(Number.isSafeInteger(seq) ? seq : this.chain.position.seq + 1, 'checkpoint', `checkpoint ${seq}: ${problem}`);
    const expectedFrom = (this.last?.statement.seq ?? 0) + 1;
    const expectedPrev = this.last ? checkpointDigest(this.last.statement) : NO_CHECKPOINT;
    if (cp.statement.fromSeq !== expectedFrom || cp.statement.prev !== expectedPrev) {
      return this.chain.report(cp.statement.fromSeq, 'checkpoint', `checkpoint ${seq} does not follow checkpoint ${this.last?.statement.seq ?? 'none'}: a checkpoint was removed, replaced or inserted`);
    }
    if (cp.statement.seq <= this.chain.position.seq) return this.chain.report(cp.statement.seq, 'checkpoint', `checkpoint ${seq} arrived after its records`);
    this.pending = cp;
    this.last = cp;
    return true;
  }

  /** The next record, in order; false once a problem was found. */
  push(record: StoredAuditRecord): boolean {
    if (!this.chain.push(record)) return false;
    this.merkle.push(record.hash);
    const cp = this.pending;
    if (cp && record.seq === cp.statement.seq) {
      const range = `records ${cp.statement.fromSeq}..${cp.statement.seq}`;
      if (record.hash !== cp.statement.head) return this.chain.report(cp.statement.fromSeq, 'modified', `${range} were rewritten: their chain does not end at the head checkpoint ${cp.statement.seq} signed`);
      if (this.merkle.root() !== cp.statement.root) return this.chain.report(cp.statement.fromSeq, 'modified', `${range} were rewritten: their Merkle root is not the one checkpoint ${cp.statement.seq} signed`);
      this.pending = null;
      this.lastPassed = cp;
      this.merkle = new MerkleRootBuilder();
    }
    return true;
  }

  /** The verdict, given the chain head the ledger keeps beside its records. */
  finish(head: { seq: number; hash: string }): LedgerVerdict {
    if (this.pending && !this.chain.failed) {
      const at = this.chain.position.seq + 1;
      this.chain.report(at, 'truncated', `the ledger ends at ${at - 1} but checkpoint ${this.pending.statement.seq} signed ${this.pending.statement.seq} records: the last records are gone`);
    }
    const verdict = this.chain.finish(head);
    if (!verdict.intact) return { ...verdict, verifiedFrom: this.from };
    const cp = this.lastPassed;
    return { intact: true, length: verdict.length, verifiedFrom: this.from, head: verdict.head, checkpoint: cp ? { seq: cp.statement.seq, head: cp.statement.head, time: cp.statement.time } : null };
  }

  /** The newest checkpoint whose records all verified: where the next incremental run may start. */
  get verifiedCheckpoint(): SignedCheckpoint | null {
    return this.chain.failed ? null : this.lastPassed;
  }
}

/** Where a streamed verification reads the ledger from: pages in sequence order, and the head. */
export interface LedgerSource {
  head(): Promise<{ seq: number; hash: string }>;
  /** Up to `limit` records after `afterSeq`, in order. */
  records(afterSeq: number, limit: number): Promise<StoredAuditRecord[]>;
  /** Up to `limit` checkpoints after `afterSeq`, in order. */
  checkpoints(afterSeq: number, limit: number): Promise<SignedCheckpoint[]>;
}

/**
 * Verifies a ledger read page by page (constant memory): records and checkpoints each a page at a
 * time, the next checkpoint fed as soon as the one before it has passed (so before the record it
 * ends on), and those left when the records run out at the end, so a cut-off tail is named.
 */
export async function verifyLedger(source: LedgerSource, publicKey: PublicKeyInput, start: SignedCheckpoint | null = null, page = 2000): Promise<{ verdict: LedgerVerdict; verifiedCheckpoint: SignedCheckpoint | null }> {
  const verifier = new LedgerVerifier(publicKey, start);
  const head = await source.head();
  let checkpoints: SignedCheckpoint[] = [];
  let fetchedThrough = start?.statement.seq ?? 0;
  let exhausted = false;
  /** The seq of the checkpoint fed and not yet reached by the records; null when none is. */
  let awaited: number | null = null;
  const nextCheckpoint = async (): Promise<SignedCheckpoint | undefined> => {
    if (checkpoints.length === 0 && !exhausted) {
      checkpoints = await source.checkpoints(fetchedThrough, page);
      if (checkpoints.length < page) exhausted = true;
      if (checkpoints.length > 0) fetchedThrough = checkpoints[checkpoints.length - 1].statement.seq;
    }
    return checkpoints.shift();
  };
  const feed = async (): Promise<boolean> => {
    const cp = await nextCheckpoint();
    if (!cp) return true;
    awaited = cp.statement.seq;
    return verifier.checkpoint(cp);
  };
  let after = start?.statement.seq ?? 0;
  let going = true;
  while (going) {
    const records = await source.records(after, page);
    for (const record of records) {
      if ((awaited === null && !(await feed())) || !verifier.push(record)) {
        going = false;
        break;
      }
      if (record.seq === awaited) awaited = null;
    }
    if (records.length < page) break;
    after = records[records.length - 1].seq;
  }
  // Checkpoints beyond the last record: the first names the records that are gone.
  while (going) {
    const cp = await nextCheckpoint();
    if (!cp || !verifier.checkpoint(cp)) break;
  }
  return { verdict: verifier.finish(head), verifiedCheckpoint: verifier.verifiedCheckpoint };
}
