import { createHash } from 'node:crypto';
import { cedar } from './cedar';
import { GOVMESH_CEDAR_SCHEMA } from './schema';
import { SEED_POLICIES } from './seed-policies';

/** One thing wrong with a policy set; `message` (and `help`) are Cedar's own words where Cedar found it. */
export interface PolicyDiagnostic {
  policyId?: string;
  message: string;
  help?: string;
}

export type PolicyValidation = { ok: true } | { ok: false; diagnostics: PolicyDiagnostic[] };

export type CheckpointEffect = 'require_approval' | 'escalate';
export type ExplicitSideEffect = 'destructive' | 'external_send';

/**
 * A validated policy set, ready to decide with. Annotations a policy may carry:
 * - `@description("…")`: the sentence reasons quote (default: the policy id);
 * - `@effect("require_approval" | "escalate")`: a permit that sends the action to a human;
 * - `@approvers("finance-ops,legal")`: reviewer groups of such a checkpoint permit;
 * - `@allowSideEffect("destructive" | "external_send")`: only a permit carrying the tool's class
 *   may allow a destructive or external-send tool;
 * - `@reason("some_code")`: the machine code of a forbid's deny reason (default `forbidden_by_policy`).
 */
export interface PolicyBundle {
  /** First 16 hex digits of the SHA-256 of the policies sorted by id: same text, same version. */
  version: string;
  policies: Record<string, string>;
  effects: Record<string, CheckpointEffect>;
  approvers: Record<string, string[]>;
  descriptions: Record<string, string>;
  sideEffectPermits: Record<string, ExplicitSideEffect>;
  reasonCodes: Record<string, string>;
}

export const POLICY_SET_LIMITS = {
  maxPolicies: 1000,
  maxPolicyChars: 20_000,
  policyId: /^[A-Za-z0-9][A-Za-z0-9._:-]{0,127}$/,
} as const;

const GROUP_NAME = /^[A-Za-z0-9][A-Za-z0-9._:-]{0,127}$/;
const REASON_CODE = /^[a-z][a-z0-9_]{0,63}$/;
const CHECKPOINTS: readonly string[] = ['require_approval', 'escalate'];
const EXPLICIT_SIDE_EFFECTS: readonly string[] = ['destructive', 'external_send'];

export class PolicyError extends Error {
  constructor(
    message: string,
    readonly diagnostics: PolicyDiagnostic[] = [],
  ) {
    super(message);
    this.name = 'PolicyError';
  }
}

function diagnostic(policyId: string | undefined, error: { message: string; help?: string | null }): PolicyDiagnostic {
  return { ...(policyId === undefined ? {} : { policyId }), message: error.message, ...(error.help ? { help: error.help } : {}) };
}

interface Analysis {
  diagnostics: PolicyDiagnostic[];
  parsed: Map<string, cedar.PolicyJson>;
}

function checkShape(policies: unknown): PolicyDiagnostic[] {
  if (typeof policies !== 'object' || policies === null || Array.isArray(policies)) return [{ message: 'a policy set is an object of policy id to Cedar policy text' }];
  const count = Object.keys(policies).length;
  if (count > POLICY_SET_LIMITS.maxPolicies) return [{ message: `a policy set holds at most ${POLICY_SET_LIMITS.maxPolicies} policies; this one has ${count}` }];
  return [];
}

function checkAnnotations(id: string, json: cedar.PolicyJson): PolicyDiagnostic[] {
  const annotations = (json.annotations ?? {}) as Record<string, string | null>;
  const found: PolicyDiagnostic[] = [];
  const problem = (message: string) => found.push({ policyId: id, message });
  const permit = json.effect === 'permit';
  const has = (name: string) => Object.prototype.hasOwnProperty.call(annotations, name);
  if (has('effect')) {
    const effect = annotations['effect'] ?? '';
    if (!CHECKPOINTS.includes(effect)) problem(`unknown @effect("${effect}"): use "require_approval" or "escalate"`);
    else if (!permit) problem(`@effect("${effect}") is for permit policies; a forbid always denies`);
  }
  if (has('approvers')) {
    const names = (annotations['approvers'] ?? '').split(',').map((n) => n.trim());
    if (!has('effect')) problem('@approvers is for checkpoint permits: add @effect("require_approval") or @effect("escalate")');
    const bad = names.filter((n) => !GROUP_NAME.test(n));
    if (bad.length > 0) problem(`@approvers must list group names separated by commas; not a group name: ${bad.map((n) => `"${n}"`).join(', ')}`);
  }
  if (has('allowSideEffect')) {
    const sideEffect = annotations['allowSideEffect'] ?? '';
    if (!EXPLICIT_SIDE_EFFECTS.includes(sideEffect)) problem(`unknown @allowSideEffect("${sideEffect}"): use "destructive" or "external_send"`);
    else if (!permit) problem(`@allowSideEffect is for permit policies`);
  }
  if (has('reason')) {
    const code = annotations['reason'] ?? '';
    if (!REASON_CODE.test(code)) problem(`@reason("${code}") must be a snake_case code of at most 64 characters`);
    else if (permit) problem('@reason names the deny reason of a forbid policy');
  }
  return found;
}

/** Parses every policy on its own (so each error names its policy), checks limits and annotations, then validates the set. */
function analyse(policies: Record<string, string>): Analysis {
  const parsed = new Map<string, cedar.PolicyJson>();
  const shape = checkShape(policies);
  if (shape.length > 0) return { diagnostics: shape, parsed };
  const diagnostics: PolicyDiagnostic[] = [];
  for (const [id, text] of Object.entries(policies)) {
    if (!POLICY_SET_LIMITS.policyId.test(id)) {
      diagnostics.push({ policyId: id, message: `policy id must match ${POLICY_SET_LIMITS.policyId.source}` });
      continue;
    }
    if (typeof text !== 'string') {
      diagnostics.push({ policyId: id, message: 'policy text must be a string' });
      continue;
    }
    if (text.length > POLICY_SET_LIMITS.maxPolicyChars) {
      diagnostics.push({ policyId: id, message: `policy text is ${text.length} characters; at most ${POLICY_SET_LIMITS.maxPolicyChars} are allowed` });
      continue;
    }
    const json = cedar.policyToJson(text);
    if (json.type === 'failure') {
      diagnostics.push(...json.errors.map((e) => diagnostic(id, e)));
      continue;
    }
    parsed.set(id, json.json);
    diagnostics.push(...checkAnnotations(id, json.json));
  }
  // The policies that parse are validated even when others do not, so one pass reports everything.
  const parsedTexts = Object.fromEntries([...parsed.keys()].map((id) => [id, policies[id]]));
  const validation = cedar.validate({ schema: GOVMESH_CEDAR_SCHEMA, policies: { staticPolicies: parsedTexts }, validationSettings: { mode: 'strict' } });
  // "success" means Cedar could run the validator, not that the policies passed it.
  if (validation.type === 'failure') diagnostics.push(...validation.errors.map((e) => diagnostic(undefined, e)));
  else diagnostics.push(...validation.validationErrors.map((e) => diagnostic(e.policyId, e.error)));
  diagnostics.sort((a, b) => (a.policyId ?? '').localeCompare(b.policyId ?? ''));
  return { diagnostics, parsed };
}

/** Parses the policies and validates them against `GOVMESH_CEDAR_SCHEMA` in strict mode, with limits and annotations. */
export function validatePolicySet(policies: Record<string, string>): PolicyValidation {
  const { diagnostics } = analyse(policies);
  return diagnostics.length === 0 ? { ok: true } : { ok: false, diagnostics };
}

export function policySetVersion(policies: Record<string, string>): string {
  return createHash('sha256')
    .update(JSON.stringify(Object.entries(policies).sort(([a], [b]) => a.localeCompare(b))))
    .digest('hex')
    .slice(0, 16);
}

/** A loaded policy set as the decision path slices and trims it: Cedar's JSON form and the text, by id. */
export interface PreparedPolicySet {
  parsed: Map<string, cedar.PolicyJson>;
  texts: Readonly<Record<string, string>>;
}

const preparedByVersion = new Map<string, PreparedPolicySet>();

/**
 * The prepared form of a bundle, keyed by its version (the digest of its text), so a bundle whose
 * `policies` were changed after loading cannot smuggle other text into a decision. A bundle that
 * did not come from `loadPolicyBundle` in this process is validated and prepared first.
 */
export function preparedPolicySet(bundle: PolicyBundle): PreparedPolicySet {
  return preparedByVersion.get(bundle.version) ?? prepare(bundle.policies, bundle.version);
}

/** Validates, then has Cedar parse the set once and cache it under its version; the decision path uses slices of it. */
function prepare(policies: Record<string, string>, expectedVersion?: string): PreparedPolicySet & { version: string } {
  // The same text was validated and preparsed before: its digest names it.
  const digest = checkShape(policies).length === 0 ? policySetVersion(policies) : undefined;
  const known = digest === undefined ? undefined : preparedByVersion.get(digest);
  if (known && (expectedVersion === undefined || expectedVersion === digest)) return { ...known, version: digest as string };
  const analysis = analyse(policies);
  if (analysis.diagnostics.length > 0) {
    const summary = analysis.diagnostics.map((d) => (d.policyId ? `${d.policyId}: ${d.message}` : d.message)).join('; ');
    throw new PolicyError(`policy set is invalid: ${summary}`, analysis.diagnostics);
  }
  const version = policySetVersion(policies);
  if (expectedVersion !== undefined && expectedVersion !== version) throw new PolicyError(`policy bundle ${expectedVersion} does not match its policies (${version})`);
  const preparsed = cedar.preparsePolicySet(version, { staticPolicies: policies });
  if (preparsed.type === 'failure') {
    const diagnostics = preparsed.errors.map((e) => diagnostic(undefined, e));
    throw new PolicyError(`policy set does not parse: ${diagnostics.map((d) => d.message).join('; ')}`, diagnostics);
  }
  const prepared = { parsed: analysis.parsed, texts: Object.freeze({ ...policies }) };
  preparedByVersion.set(version, prepared);
  return { ...prepared, version };
}

/** Validates a policy set and prepares it for decisions; throws `PolicyError` with Cedar's diagnostics when it is invalid. */
export function loadPolicyBundle(policies: Record<string, string> = SEED_POLICIES): PolicyBundle {
  const { parsed, version } = prepare(policies);
  const bundle: PolicyBundle = { version, policies: { ...policies }, effects: {}, approvers: {}, descriptions: {}, sideEffectPermits: {}, reasonCodes: {} };
  for (const [id, json] of parsed) {
    const annotations = (json.annotations ?? {}) as Record<string, string | null>;
    bundle.descriptions[id] = annotations['description'] || id;
    const effect = annotations['effect'];
    if (effect === 'require_approval' || effect === 'escalate') bundle.effects[id] = effect;
    if (annotations['approvers']) bundle.approvers[id] = [...new Set(annotations['approvers'].split(',').map((n) => n.trim()))].sort();
    const sideEffect = annotations['allowSideEffect'];
    if (sideEffect === 'destructive' || sideEffect === 'external_send') bundle.sideEffectPermits[id] = sideEffect;
    if (annotations['reason']) bundle.reasonCodes[id] = annotations['reason'];
  }
  // Decisions read these records; a bundle is a value, so nobody changes them under a decision.
  for (const list of Object.values(bundle.approvers)) Object.freeze(list);
  for (const record of [bundle.policies, bundle.effects, bundle.approvers, bundle.descriptions, bundle.sideEffectPermits, bundle.reasonCodes]) Object.freeze(record);
  return Object.freeze(bundle);
}
