import { isDeepStrictEqual } from 'node:util';
import { CelEnvironment, celToJson, type CelError, type CelResultType } from '@govmesh/cel';
import type { Reason, RecordClaim, VerificationCheck } from '@govmesh/contracts';
import { citationProblem, compareCitation, type Citation } from './citation';
import { compareClaim, type Verdict } from './compare';

/** The gateway's ledger as a read tool: what an execution ran under (the grant check reads it). */
export const EXECUTION_LOOKUP_TOOL = 'gateway.execution_lookup';

/**
 * CEL for verification checks: a check's read arguments (and a citation's document, version,
 * quote and offset) are expressions over the verified call (`arguments`, `output`, `claim`), and a
 * state check's `expect` also sees `record`, what the read tool answered. Expressions come from
 * the tool manifest; each is parsed and type-checked once. Load the engine (`loadCel` of
 * `@govmesh/cel`) before planning or settling checks: evaluation is synchronous.
 */
export const VERIFICATION_CEL = new CelEnvironment({ arguments: 'map', output: 'map', claim: 'map', record: 'map' });

/** The variables an expression may name. */
export interface CelContext {
  arguments: Record<string, unknown>;
  output: Record<string, unknown>;
  claim: Record<string, unknown>;
  record?: Record<string, unknown>;
}

type CitationCheck = Extract<VerificationCheck, { check: 'citation' }>;

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
  /**
   * What the read tool answered (a read-back record, or the execution for a grant check); for a
   * citation check only the bounded evidence (cited and observed version, excerpts), never the document.
   */
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
  const via = spec.check === 'read_back' || spec.check === 'state' || (spec.check === 'citation' && spec.tool) ? ` via ${spec.tool}` : spec.check === 'grant' ? ` via ${EXECUTION_LOOKUP_TOOL}` : '';
  return `check ${index} (${spec.check}${via})`;
}

const settled = (spec: VerificationCheck, status: CheckResult, reasons: Reason[], extra: Partial<CheckState> = {}): CheckState => ({ ...extra, check: spec.check, spec, status, reasons });

function contextOf(call: VerifiedCall, record?: Record<string, unknown>): CelContext {
  return { arguments: call.arguments, output: call.output, claim: { ...call.claim }, ...(record ? { record } : {}) };
}

/** The value of an expression, or why it has none (a parse, type, evaluation or result type error). */
function evaluate(expression: string, context: CelContext, type?: CelResultType | readonly CelResultType[]): { value: unknown } | { error: string; kind?: CelError['kind'] } {
  const result = VERIFICATION_CEL.tryEvaluate(expression, context as unknown as Record<string, unknown>, type ? { type } : {});
  return 'error' in result ? { error: result.error.message, kind: result.error.kind } : result;
}

/**
 * What the call cites: the check's expressions evaluated over it (document, version and quote
 * strings; offset an integer, or null for none), or the reason it cites nothing checkable.
 */
function citationOf(spec: CitationCheck, call: VerifiedCall, what: string): { citation: Citation } | { reason: Reason } {
  const values: Record<string, unknown> = {};
  const fields: Array<[name: 'document' | 'version' | 'quote' | 'offset', expression: string | undefined, type: CelResultType | CelResultType[]]> = [
    ['document', spec.document, 'string'],
    ['version', spec.version, 'string'],
    ['quote', spec.quote, 'string'],
    ['offset', spec.offset, ['int', 'double', 'null']],
  ];
  for (const [name, expression, type] of fields) {
    if (expression === undefined) continue;
    const result = evaluate(expression, contextOf(call), type);
    const json = 'error' in result ? result : celToJson(result.value);
    if ('error' in json) {
      const why = 'kind' in json && json.kind === 'result_type' ? json.error : `cannot be evaluated over the call: ${json.error}`;
      return { reason: reason('verification_expression_failed', `${what}: ${name} = \`${expression}\` ${why}`) };
    }
    values[name] = json.value;
  }
  const citation: Citation = { document: values['document'] as string, version: values['version'] as string, quote: values['quote'] as string, ...(values['offset'] !== undefined && values['offset'] !== null ? { offset: values['offset'] as number } : {}) };
  const problem = citationProblem({ quote: citation.quote, offset: values['offset'] === null ? undefined : values['offset'] });
  if (problem) return { reason: reason(problem.code, `${what}: ${problem.message}`) };
  return { citation };
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
        const json = 'error' in result ? result : celToJson(result.value);
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
    case 'citation': {
      // A citation check registered before citation checks named their read tool cannot be run.
      if (typeof spec.tool !== 'string') return settled(spec, 'error', [reason('citation_check_unavailable', `${what}: the check names no read tool to read the cited document with; register a new version of the tool whose citation check names one`)]);
      const cited = citationOf(spec, call, what);
      if ('reason' in cited) return settled(spec, 'error', [cited.reason]);
      return { check: spec.check, spec, status: 'awaiting_read', read: { tool: spec.tool, arguments: { documentId: cited.citation.document, version: cited.citation.version } }, reasons: [] };
    }
  }
}

/** A check settled by the gateway's answer to its read. */
export function settleCheck(state: CheckState, index: number, call: VerifiedCall, answer: ReadAnswer): CheckState {
  const spec = state.spec;
  const what = label(index, spec);
  const base = { read: state.read, readExecutionId: answer.executionId };
  if (spec.check === 'citation') return settleCitation(spec, what, call, answer, base);
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
  }
}

/**
 * A citation check settled by the document version the read answered: passed only when the read
 * succeeded, the version is the cited one and the quote is where the call says. The evidence kept
 * is bounded (cited and observed version, excerpts, where the quote occurs), never the document.
 */
function settleCitation(spec: CitationCheck, what: string, call: VerifiedCall, answer: ReadAnswer, base: Partial<CheckState>): CheckState {
  const cited = citationOf(spec, call, what);
  if ('reason' in cited) return settled(spec, 'error', [cited.reason], base);
  const { citation } = cited;
  if (answer.status !== 'succeeded') {
    const said = answer.reasons.map((r) => `${r.code}: ${r.message}`).join('; ') || 'no reason given';
    // The system of record has no such document or version: the citation names nothing that exists.
    const missing = answer.status === 'failed' && answer.reasons.some((r) => r.code.endsWith('not_found'));
    return settled(spec, missing ? 'not_found' : 'error', [reason('citation_read_failed', `${what}: ${citation.document} version ${citation.version} could not be read: the read was ${answer.status} (${said})`)], base);
  }
  const outcome = compareCitation(citation, answer.output);
  return settled(spec, outcome.result, [reason(outcome.code, `${what}: ${outcome.message}`)], { ...base, observed: outcome.evidence as unknown as Record<string, unknown> });
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
  // The records read back from the system of record (a grant check reads the gateway's ledger, not
  // the record; a citation check keeps its bounded evidence, not the document it read).
  const records: Array<{ check: number; tool: string; record: Record<string, unknown> }> = [];
  checks.forEach((c, i) => {
    if ((c.check === 'read_back' || c.check === 'state' || c.check === 'citation') && c.observed && c.read) records.push({ check: i, tool: c.read.tool, record: c.observed });
  });
  const distinct = records.filter((r, i) => records.findIndex((o) => isDeepStrictEqual(o.record, r.record)) === i);
  const observed = distinct.length === 0 ? undefined : distinct.length === 1 ? distinct[0].record : { records };
  return { verdict, reasons, ...(observed ? { observed } : {}) };
}
