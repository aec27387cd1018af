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

export type ChainVerdict = { intact: true; length: number; head: string } | { intact: false; brokenAtSeq: number; reason: string };

/** Recomputes the chain in sequence order and reports the first record that does not fit. */
export function verifyChain(entries: ChainedAuditEntry[], startHash = GENESIS_HASH): ChainVerdict {
  let prev = startHash;
  for (const e of entries) {
    const { prevHash, hash, ...entry } = e;
    if (prevHash !== prev) return { intact: false, brokenAtSeq: e.seq, reason: 'previous hash does not match the record before it' };
    if (chainHash(prevHash, entry) !== hash) return { intact: false, brokenAtSeq: e.seq, reason: 'record content does not match its hash' };
    prev = hash;
  }
  return { intact: true, length: entries.length, head: prev };
}
