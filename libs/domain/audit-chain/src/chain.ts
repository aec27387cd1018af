import { createHash } from 'node:crypto';
import canonicalize from 'canonicalize';

/**
 * The audit ledger is a hash chain: each record's hash covers the previous hash and the
 * record's canonical content, so changing, removing or reordering any record breaks every
 * hash after it.
 */
export const GENESIS_HASH = '0'.repeat(64);

export interface AuditEntry {
  seq: number;
  eventId: string;
  type: string;
  runId: string | null;
  topic: string;
  occurredAt: string;
  payloadDigest: string;
}

export interface ChainedAuditEntry extends AuditEntry {
  prevHash: string;
  hash: string;
}

export function payloadDigest(payload: unknown): string {
  return createHash('sha256').update(canonicalize(payload) ?? 'null').digest('hex');
}

export function chainHash(prevHash: string, entry: AuditEntry): string {
  return createHash('sha256').update(prevHash).update(canonicalize(entry) ?? '').digest('hex');
}

export function appendToChain(prevHash: string, entry: AuditEntry): ChainedAuditEntry {
  return { ...entry, prevHash, hash: chainHash(prevHash, entry) };
}

export type ChainProblemKind = 'modified' | 'deleted' | 'inserted' | 'reordered' | 'truncated' | 'checkpoint';

export interface ChainProblem {
  /** The first sequence number where the ledger stops matching its chain. */
  seq: number;
  kind: ChainProblemKind;
  reason: string;
}

export type ChainVerdict = { intact: true; length: number; head: string } | { intact: false; length: number; brokenAtSeq: number; problem: ChainProblem; reason: string };

/** A record as stored, with its payload: the digest is recomputed from it, never trusted. */
export interface StoredAuditRecord extends ChainedAuditEntry {
  payload: unknown;
}

/** How many recent hashes the verifier remembers to tell a reordered record from an inserted one. */
const RECENT_HASHES = 1024;
/** How far a record moved to another position is looked for, once its hash does not match. */
const MOVED_WINDOW = 64;

/**
 * Verifies a ledger streamed in sequence order, in constant memory: each record's payload digest
 * is recomputed from its payload, its hash from its content and the previous record's hash, and
 * its sequence number must follow the previous one. At the end the last record must be the chain
 * head, which detects records removed from the tail. Names the first problem:
 * `modified` (content or digest no longer matches), `deleted` (a gap in the sequence), `inserted`
 * (a record chained from no record of the ledger), `reordered` (chained from an earlier record),
 * `truncated` (the tail is gone).
 */
export class ChainVerifier {
  private lastSeq: number;
  private lastHash: string;
  private count = 0;
  private problem?: ChainProblem;
  private readonly recent: string[] = [];

  constructor(start: { seq: number; hash: string } = { seq: 0, hash: GENESIS_HASH }) {
    this.lastSeq = start.seq;
    this.lastHash = start.hash;
  }

  /** Checks the next record; false once a problem was found (stop feeding it). */
  push(record: StoredAuditRecord): boolean {
    if (this.problem) return false;
    const expected = this.lastSeq + 1;
    if (record.seq !== expected) {
      return this.fail(expected, record.seq > expected ? 'deleted' : 'inserted', record.seq > expected ? `records ${expected}..${record.seq - 1} are missing` : `record ${record.seq} repeats or precedes ${expected}`);
    }
    const digest = payloadDigest(record.payload);
    const { prevHash, hash, payload: _payload, ...entry } = record;
    if (digest !== record.payloadDigest) return this.fail(record.seq, 'modified', 'the payload does not match the digest it was recorded with');
    if (chainHash(prevHash, { ...entry, payloadDigest: digest }) !== hash) {
      const writtenAt = this.positionWritten(prevHash, { ...entry, payloadDigest: digest }, hash);
      return writtenAt === null
        ? this.fail(record.seq, 'modified', 'the record does not match its hash')
        : this.fail(record.seq, 'reordered', `the record at ${record.seq} was written as record ${writtenAt}: records were moved`);
    }
    if (prevHash !== this.lastHash) {
      return this.recent.includes(prevHash)
        ? this.fail(record.seq, 'reordered', 'the record is chained from an earlier record, not from the one before it')
        : this.fail(record.seq, 'inserted', 'the record is chained from no record of this ledger');
    }
    this.recent.push(this.lastHash);
    if (this.recent.length > RECENT_HASHES) this.recent.shift();
    this.lastSeq = record.seq;
    this.lastHash = hash;
    this.count++;
    return true;
  }

  /** The verdict, given the chain head the ledger keeps beside its records. */
  finish(head: { seq: number; hash: string }): ChainVerdict {
    if (!this.problem) {
      if (this.lastSeq < head.seq) this.fail(this.lastSeq + 1, 'truncated', `the ledger ends at ${this.lastSeq} but its head is at ${head.seq}: the last records are gone`);
      else if (this.lastSeq > head.seq) this.fail(head.seq + 1, 'inserted', `records after the head (${head.seq}) were added outside the chain`);
      else if (this.lastHash !== head.hash) this.fail(this.lastSeq, 'modified', 'the last record does not match the chain head');
    }
    if (this.problem) return { intact: false, length: this.count, brokenAtSeq: this.problem.seq, problem: this.problem, reason: this.problem.reason };
    return { intact: true, length: this.count, head: this.lastHash };
  }

  /** The sequence number a record was written with, when it is intact but sits elsewhere. */
  private positionWritten(prevHash: string, entry: AuditEntry, hash: string): number | null {
    for (let d = 1; d <= MOVED_WINDOW; d++) {
      for (const seq of [entry.seq - d, entry.seq + d]) if (seq > 0 && chainHash(prevHash, { ...entry, seq }) === hash) return seq;
    }
    return null;
  }

  /** Where the records verified so far end. */
  get position(): { seq: number; hash: string } {
    return { seq: this.lastSeq, hash: this.lastHash };
  }

  /** Whether a problem was found. */
  get failed(): boolean {
    return this.problem !== undefined;
  }

  /** Records a problem found outside the chain itself (a checkpoint); the first one found stands. */
  report(seq: number, kind: ChainProblemKind, reason: string): false {
    return this.problem ? false : this.fail(seq, kind, reason);
  }

  private fail(seq: number, kind: ChainProblemKind, reason: string): false {
    this.problem = { seq, kind, reason };
    return false;
  }
}

/** Verifies records held in memory (tests, small ledgers): the same checks as the streamed verifier. */
export function verifyChain(records: StoredAuditRecord[], head?: { seq: number; hash: string }, start?: { seq: number; hash: string }): ChainVerdict {
  const verifier = new ChainVerifier(start);
  for (const r of records) if (!verifier.push(r)) break;
  const last = records[records.length - 1];
  return verifier.finish(head ?? { seq: last?.seq ?? start?.seq ?? 0, hash: last?.hash ?? start?.hash ?? GENESIS_HASH });
}
