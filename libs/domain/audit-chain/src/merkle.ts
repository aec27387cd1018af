import { createHash } from 'node:crypto';

/**
 * Merkle trees as RFC 6962 (Certificate Transparency, §2.1) defines them, over the ledger's record
 * hashes: a leaf is SHA-256(0x00 ‖ record hash), an inner node SHA-256(0x01 ‖ left ‖ right), and a
 * tree of n leaves splits at the largest power of two below n. Each signed checkpoint carries the
 * root of the records it covers, so one record is tied to the checkpoint by a path of log2(n)
 * hashes instead of every record after it.
 */
const LEAF = Buffer.from([0]);
const NODE = Buffer.from([1]);

export type HashHex = string;

export function merkleLeaf(recordHash: HashHex): Buffer {
  return createHash('sha256').update(LEAF).update(Buffer.from(recordHash, 'hex')).digest();
}

function node(left: Buffer, right: Buffer): Buffer {
  return createHash('sha256').update(NODE).update(left).update(right).digest();
}

/** The root of an empty tree: SHA-256 of nothing. */
export const EMPTY_MERKLE_ROOT = createHash('sha256').digest('hex');

/**
 * Builds the root of a stream of leaves in O(log n) memory: a stack of complete subtrees, merged
 * as soon as two of the same size meet; the final root folds the remaining ones right to left,
 * which is RFC 6962's split at the largest power of two.
 */
export class MerkleRootBuilder {
  private readonly stack: Array<{ size: number; hash: Buffer }> = [];
  private count = 0;

  push(recordHash: HashHex): void {
    let entry = { size: 1, hash: merkleLeaf(recordHash) };
    while (this.stack.length > 0 && this.stack[this.stack.length - 1].size === entry.size) {
      const left = this.stack.pop()!;
      entry = { size: left.size * 2, hash: node(left.hash, entry.hash) };
    }
    this.stack.push(entry);
    this.count++;
  }

  get size(): number {
    return this.count;
  }

  root(): HashHex {
    if (this.stack.length === 0) return EMPTY_MERKLE_ROOT;
    let hash = this.stack[this.stack.length - 1].hash;
    for (let i = this.stack.length - 2; i >= 0; i--) hash = node(this.stack[i].hash, hash);
    return hash.toString('hex');
  }
}

export function merkleRoot(recordHashes: readonly HashHex[]): HashHex {
  const builder = new MerkleRootBuilder();
  for (const h of recordHashes) builder.push(h);
  return builder.root();
}

function largestPowerOfTwoBelow(n: number): number {
  let k = 1;
  while (k * 2 < n) k *= 2;
  return k;
}

function subtreeRoot(leaves: readonly HashHex[], from: number, to: number): Buffer {
  if (to - from === 1) return merkleLeaf(leaves[from]);
  const k = largestPowerOfTwoBelow(to - from);
  return node(subtreeRoot(leaves, from, from + k), subtreeRoot(leaves, from + k, to));
}

/** The audit path (RFC 6962 §2.1.1) of leaf `index` among `leaves`, bottom up, as hex. */
export function inclusionProof(leaves: readonly HashHex[], index: number): HashHex[] {
  if (!Number.isInteger(index) || index < 0 || index >= leaves.length) throw new RangeError(`leaf ${index} is outside a tree of ${leaves.length}`);
  const path: HashHex[] = [];
  const walk = (from: number, to: number): void => {
    if (to - from <= 1) return;
    const k = largestPowerOfTwoBelow(to - from);
    if (index < from + k) {
      walk(from, from + k);
      path.push(subtreeRoot(leaves, from + k, to).toString('hex'));
    } else {
      walk(from + k, to);
      path.push(subtreeRoot(leaves, from, from + k).toString('hex'));
    }
  };
  walk(0, leaves.length);
  return path;
}

const HEX64 = /^[0-9a-f]{64}$/;

/**
 * True when `recordHash` is leaf `index` of a tree of `size` leaves with this root, by the audit
 * path (RFC 9162 §2.1.3.2's verification algorithm). Never throws on malformed input.
 */
export function verifyInclusion(recordHash: HashHex, index: number, size: number, path: readonly HashHex[], root: HashHex): boolean {
  if (typeof recordHash !== 'string' || !HEX64.test(recordHash) || typeof root !== 'string' || !HEX64.test(root)) return false;
  if (!Number.isSafeInteger(index) || !Number.isSafeInteger(size) || index < 0 || index >= size || !Array.isArray(path)) return false;
  if (!path.every((p) => typeof p === 'string' && HEX64.test(p))) return false;
  let fn = index;
  let sn = size - 1;
  let r = merkleLeaf(recordHash);
  for (const p of path) {
    if (sn === 0) return false;
    const sibling = Buffer.from(p, 'hex');
    if (fn % 2 === 1 || fn === sn) {
      r = node(sibling, r);
      if (fn % 2 === 0) {
        while (fn % 2 === 0 && fn !== 0) {
          fn = Math.floor(fn / 2);
          sn = Math.floor(sn / 2);
        }
      }
    } else {
      r = node(r, sibling);
    }
    fn = Math.floor(fn / 2);
    sn = Math.floor(sn / 2);
  }
  return sn === 0 && r.toString('hex') === root;
}
