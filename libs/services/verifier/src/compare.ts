import { isDeepStrictEqual } from 'node:util';
import type { Reason } from '@govmesh/contracts';

export type Verdict = 'confirmed' | 'mismatch' | 'not_found' | 'unsupported';

/** Compares what a tool claimed with what the system of record says, field by field. */
export function compareClaim(claimed: Record<string, unknown>, observed: Record<string, unknown> | undefined, what: string): { verdict: Verdict; reasons: Reason[] } {
  if (Object.keys(claimed).length === 0) {
    return { verdict: 'mismatch', reasons: [{ code: 'empty_claim', message: `the claim about ${what} names no fields, so reading the record back can confirm nothing` }] };
  }
  if (!observed) return { verdict: 'not_found', reasons: [{ code: 'record_not_found', message: `${what} does not exist in the system of record` }] };
  const differing = Object.keys(claimed).filter((k) => !isDeepStrictEqual(claimed[k], observed[k]));
  if (differing.length === 0) {
    return { verdict: 'confirmed', reasons: [{ code: 'read_back_matches', message: `${what} read back from the system of record matches the claim (${Object.keys(claimed).join(', ')})` }] };
  }
  return {
    verdict: 'mismatch',
    reasons: differing.map((k) => ({ code: 'field_mismatch', message: `${what}: ${k} claimed ${JSON.stringify(claimed[k])} but the record says ${JSON.stringify(observed[k])}` })),
  };
}
