import { isDeepStrictEqual } from 'node:util';
import type { Reason, RecordClaim, VerificationCheck } from '@govmesh/contracts';
import { evaluate, toJson, type CelContext } from './cel';
import { compareClaim, type Verdict } from './compare';

/** The gateway's ledger as a read tool: what an execution ran under (the grant check reads it). */
export const EXECUTION_LOOKUP_TOOL = 'gateway.execution_lookup';

export type CheckKind = VerificationCheck['check'];
export type CheckResult = 'pass' | 'mismatch' | 'not_found' | 'error';

/** One check of a verification: the manifest's check, the read asked for it, and once answered its result. */
export interface CheckState {
  check: CheckKind;
  /** The check as the manifest said when the verification began. */
  spec: VerificationCheck;
  status: 'awaiting_read' | CheckResult;
  /** The read asked of the gateway for this check, when it needs one. */
  read?: { tool: string; arguments: Record<string, unknown> };
  reasons: Reason[];
  /** What the read tool answered (a read-back record, or the execution for a grant check). */
  observed?: Record<string, unknown>;
  /** The gateway's execution of the read. */
  readExecutionId?: string;
}

/** The call whose claim is verified, as the verification request described it. */
export interface VerifiedCall {
  runId: string;
  claim: RecordClaim;
  tool: string;
  executionId?: string;
  arguments: Record<string, unknown>;
  output: Record<string, unknown>;
}

/** The gateway's answer to one read. */
export interface ReadAnswer {
  tool: string;
  executionId: string;
  status: 'succeeded' | 'failed' | 'rejected';
  output?: Record<string, unknown>;
  reasons: Reason[];
}

const MAX_MESSAGE = 2000;

const reason = (code: string, message: string): Reason => ({ code, message: message.length > MAX_MESSAGE ? `${message.slice(0, MAX_MESSAGE - 1)}…` : message });

function label(index: number, spec: VerificationCheck): string {
  const via = spec.check === 'read_back' || spec.check === 'state' ? ` via ${spec.tool}` : spec.check === 'grant' ? ` via ${EXECUTION_LOOKUP_TOOL}` : '';
  return `check ${index} (${spec.check}${via})`;
}

const settled = (spec: VerificationCheck, status: CheckResult, reasons: Reason[], extra: Partial<CheckState> = {}): CheckState => ({ ...extra, check: spec.check, spec, status, reasons });

function contextOf(call: VerifiedCall, record?: Record<string, unknown>): CelContext {
  return { arguments: call.arguments, output: call.output, claim: { ...call.claim }, ...(record ? { record } : {}) };
}

/**
 * The first state of a check: the read it needs (its arguments evaluated over the call), or a
 * result at once when it cannot be run (an expression that fails, a check not available).
 */
export function planCheck(spec: VerificationCheck, index: number, call: VerifiedCall): CheckState {
  const what = label(index, spec);
  switch (spec.check) {
    case 'read_back':
    case 'state': {
      const args: Record<string, unknown> = {};
      for (const [name, expression] of Object.entries(spec.arguments)) {
        const result = evaluate(expression, contextOf(call));
        const json = 'error' in result ? result : toJson(result.value);
        if ('error' in json) {
          return settled(spec, 'error', [reason('verification_expression_failed', `${what}: argument ${name} = \`${expression}\` cannot be evaluated over the call: ${json.error}`)]);
        }
        args[name] = json.value;
      }
      return { check: spec.check, spec, status: 'awaiting_read', read: { tool: spec.tool, arguments: args }, reasons: [] };
    }
    case 'grant':
      if (!call.executionId) return settled(spec, 'error', [reason('execution_unknown', `${what}: the request names no execution, so the grant it ran under cannot be read`)]);
      return { check: spec.check, spec, status: 'awaiting_read', read: { tool: EXECUTION_LOOKUP_TOOL, arguments: { executionId: call.executionId } }, reasons: [] };
    case 'citation':
      return settled(spec, 'error', [reason('citation_check_unavailable', `${what}: citation checks are not available yet; nothing is confirmed without a check`)]);
  }
}

/** A check settled by the gateway's answer to its read. */
export function settleCheck(state: CheckState, index: number, call: VerifiedCall, answer: ReadAnswer): CheckState {
  const spec = state.spec;
  const what = label(index, spec);
  const base = { read: state.read, readExecutionId: answer.executionId };
  if (answer.status !== 'succeeded') {
    const said = answer.reasons.map((r) => `${r.code}: ${r.message}`).join('; ') || 'no reason given';
    if (answer.status === 'failed' && answer.reasons.some((r) => r.code.endsWith('not_found'))) {
      return settled(spec, 'not_found', [reason('record_not_found', `${what}: the system of record has no such record (${said})`)], base);
    }
    return settled(spec, 'error', [reason('verification_read_failed', `${what}: the read was ${answer.status} (${said})`)], base);
  }
  const record = answer.output;
  const observed = { ...base, ...(record ? { observed: record } : {}) };
  switch (spec.check) {
    case 'read_back': {
      const claimed = call.claim.fields;
      const names = spec.fields ?? Object.keys(claimed);
      const unclaimed = names.filter((n) => !Object.hasOwn(claimed, n));
      const compared = compareClaim(Object.fromEntries(names.filter((n) => Object.hasOwn(claimed, n)).map((n) => [n, claimed[n]])), record, `${call.claim.system} ${call.claim.entity} ${call.claim.id}`);
      const reasons = compared.reasons.map((r) => reason(r.code, `${what}: ${r.message}`));
      if (compared.verdict === 'not_found') return settled(spec, 'not_found', reasons, observed);
      if (unclaimed.length > 0) {
        const missing = unclaimed.map((n) => reason('field_not_claimed', `${what}: the check compares ${n}, which the claim does not state`));
        return settled(spec, 'mismatch', [...reasons.filter((r) => r.code !== 'read_back_matches'), ...missing], observed);
      }
      return settled(spec, compared.verdict === 'confirmed' ? 'pass' : 'mismatch', reasons, observed);
    }
    case 'state': {
      if (!record) return settled(spec, 'not_found', [reason('record_not_found', `${what}: the read answered no record`)], base);
      const about = spec.description ? ` (${spec.description})` : '';
      const result = evaluate(spec.expect, contextOf(call, record));
      if ('error' in result) return settled(spec, 'error', [reason('verification_expression_failed', `${what}: \`${spec.expect}\` cannot be evaluated over the record: ${result.error}`)], observed);
      if (result.value === true) return settled(spec, 'pass', [reason('state_check_passed', `${what}: the record satisfies \`${spec.expect}\`${about}`)], observed);
      const got = typeof result.value === 'boolean' ? 'false' : `not true but ${describe(result.value)}`;
      return settled(spec, 'mismatch', [reason('state_check_failed', `${what}: \`${spec.expect}\`${about} is ${got} for the record read`)], observed);
    }
    case 'grant': {
      if (!record) return settled(spec, 'error', [reason('verification_read_failed', `${what}: the read answered no execution`)], base);
      const problems = [
        ...(record['executionId'] !== undefined && record['executionId'] !== call.executionId ? [`it is execution ${describe(record['executionId'])}, not ${call.executionId}`] : []),
        ...(record['runId'] !== call.runId ? [`it ran for run ${describe(record['runId'])}, not ${call.runId}`] : []),
        ...(record['tool'] !== call.tool ? [`it ran tool ${describe(record['tool'])}, not ${call.tool}`] : []),
        ...(record['status'] !== 'succeeded' ? [`its status is ${describe(record['status'])}, not succeeded`] : []),
        ...(typeof record['grantId'] !== 'string' || record['grantId'] === '' ? ['it ran under no grant'] : []),
      ];
      if (problems.length === 0) {
        return settled(spec, 'pass', [reason('grant_check_passed', `${what}: execution ${call.executionId} of ${call.tool} on run ${call.runId} succeeded under grant ${String(record['grantId'])}`)], observed);
      }
      return settled(spec, 'mismatch', [reason('grant_check_failed', `${what}: execution ${call.executionId} does not show the call ran as claimed under a grant: ${problems.join('; ')}`)], observed);
    }
    case 'citation':
      return settled(spec, 'error', [reason('citation_check_unavailable', `${what}: citation checks are not available yet`)], base);
  }
}

function describe(value: unknown): string {
  const text = JSON.stringify(value) ?? String(value);
  return text.length > 200 ? `${text.slice(0, 199)}…` : text;
}

/**
 * The verdict of settled checks: confirmed only when every check passed; otherwise mismatch if
 * any check found a difference, not_found if any record is missing, unsupported when checks
 * could not be run. The reasons list each check's outcome; observed is what was read back.
 */
export function verdictOf(checks: readonly CheckState[]): { verdict: Verdict; reasons: Reason[]; observed?: Record<string, unknown> } {
  const results = checks.map((c) => c.status);
  const verdict: Verdict =
    results.length > 0 && results.every((r) => r === 'pass') ? 'confirmed' : results.includes('mismatch') ? 'mismatch' : results.includes('not_found') ? 'not_found' : 'unsupported';
  const reasons = checks.flatMap((c) => c.reasons);
  // The records read back from the system of record (a grant check reads the gateway's ledger, not the record).
  const records: Array<{ check: number; tool: string; record: Record<string, unknown> }> = [];
  checks.forEach((c, i) => {
    if ((c.check === 'read_back' || c.check === 'state') && c.observed && c.read) records.push({ check: i, tool: c.read.tool, record: c.observed });
  });
  const distinct = records.filter((r, i) => records.findIndex((o) => isDeepStrictEqual(o.record, r.record)) === i);
  const observed = distinct.length === 0 ? undefined : distinct.length === 1 ? distinct[0].record : { records };
  return { verdict, reasons, ...(observed ? { observed } : {}) };
}
