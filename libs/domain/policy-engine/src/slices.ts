/**
 * Why slices: cedar-wasm costs about 1-3 µs per policy in the set on every call (whether or not it
 * matches) and about 3 µs per attribute it is handed, so the whole of a 500-policy set would cost
 * ~1 ms a decision. Each request is therefore decided against the slice of the bundle that can
 * match it, with only the attributes that slice reads. Neither changes any outcome:
 *
 * - Scope. A policy whose scope cannot match the request is never satisfied and never evaluates
 *   its conditions, so it can neither determine the decision nor error. Checked: `principal ==` /
 *   `resource ==` an entity, `is` a type, `in` an entity (the request's own entities give the
 *   ancestors), `action ==` / `in [...]` (no action groups exist).
 * - Conditions. For a policy with one clause, the part of the clause that only tests the request
 *   (`&&`, `||`, `!`, `X has a`, `X.a` compared with a literal or another such attribute, `like`;
 *   X = principal, resource or context) is evaluated here on the untrimmed request, with Cedar's
 *   left-to-right short-circuits; a policy whose `when` is certainly false (or `unless` certainly
 *   true) before anything could error is left out. Anything less certain (another operator, a
 *   missing attribute, a type Cedar would refuse, several clauses) keeps the policy in, and Cedar
 *   evaluates every policy that is kept.
 * - Attributes. Cedar reads an attribute only by naming it (`.a`, `has a`), so attributes no
 *   policy of the slice names cannot change a condition. Context goes whole if a policy uses
 *   `context` as a value. Entities' parents matter only to `in`: without one in the slice, they
 *   are left out too.
 *
 * Slices are preparsed on first use under `<version>/<digest of their ids>`, shared by every request
 * with the same scope key and screen outcomes, and capped per bundle; past the cap, requests use
 * the whole set (still correct, slower).
 */
import { createHash } from 'node:crypto';
import { cedar } from './cedar';
import { preparedPolicySet, type PolicyBundle } from './bundle';
import type { CedarJson, EntityRef, RecordedRequest } from './model';

type ScopeFilter = { kind: 'any' } | { kind: 'eq'; key: string } | { kind: 'in'; key: string } | { kind: 'type'; type: string; in?: string };

interface CompiledPolicy {
  id: string;
  principal: ScopeFilter;
  /** null = any action. */
  actions: Set<string> | null;
  resource: ScopeFilter;
  /** Whether its condition may hold for a request; undefined when it always may (see compileCondition). */
  screen?: (view: RequestView) => boolean;
  attributes: Set<string>;
  wholeContext: boolean;
  /** Its scope or conditions use `in`, so entities' parents matter to it. */
  usesHierarchy: boolean;
}

export interface Slice {
  /** The id Cedar cached the slice's policies under. */
  id: string;
  policyIds: string[];
  /** Attribute names any policy of the slice reads. */
  attributes: Set<string>;
  /** Some policy uses `context` as a value: pass it untrimmed. */
  wholeContext: boolean;
  /** Some policy uses `in`: pass the entities' parents. */
  usesHierarchy: boolean;
}

interface ScopeEntry {
  /** Candidates without a screen: always in. */
  always: CompiledPolicy[];
  /** Candidates with a screen: in unless it says the condition cannot hold. */
  screened: Array<CompiledPolicy & { screen: NonNullable<CompiledPolicy['screen']> }>;
  byOutcome: Map<string, Slice>;
}

interface CompiledBundle {
  texts: Readonly<Record<string, string>>;
  policies: CompiledPolicy[];
  /** Entity keys some policy's scope names with `==` / `in`: the rest share a scope key. */
  principalKeys: Set<string>;
  resourceKeys: Set<string>;
  inKeys: Set<string>;
  byScope: Map<string, ScopeEntry>;
  byContent: Map<string, Slice>;
  sliceCount: number;
  full: Slice;
}

/** Slices remembered per bundle; past it, requests with new keys use the whole set. */
export const SLICE_LIMITS = { perBundle: 4096 };

const compiledByVersion = new Map<string, CompiledBundle>();

export function entityKey(uid: EntityRef): string {
  return `${uid.type}::${JSON.stringify(uid.id)}`;
}

function uidOf(value: unknown): EntityRef | undefined {
  const candidate = (value && typeof value === 'object' && '__entity' in value ? (value as { __entity: unknown }).__entity : value) as Partial<EntityRef> | undefined;
  return candidate && typeof candidate.type === 'string' && typeof candidate.id === 'string' ? { type: candidate.type, id: candidate.id } : undefined;
}

function entityKeyOf(reference: unknown): string | undefined {
  const uid = uidOf(reference && typeof reference === 'object' && 'entity' in reference ? (reference as { entity: unknown }).entity : undefined);
  return uid && entityKey(uid);
}

function scopeFilter(constraint: cedar.PrincipalConstraint | cedar.ResourceConstraint): ScopeFilter {
  if (constraint.op === '==' || constraint.op === 'in') {
    const key = entityKeyOf(constraint);
    if (key) return { kind: constraint.op === '==' ? 'eq' : 'in', key };
  }
  if (constraint.op === 'is') {
    const key = constraint.in && entityKeyOf(constraint.in);
    return key ? { kind: 'type', type: constraint.entity_type, in: key } : { kind: 'type', type: constraint.entity_type };
  }
  return { kind: 'any' };
}

function actionFilter(constraint: cedar.ActionConstraint): Set<string> | null {
  // No action groups exist (the schema declares none and requests carry no action entities), so
  // `action in [A, B]` matches exactly A and B.
  const uids = constraint.op === '==' ? ('entity' in constraint ? [constraint.entity] : null) : constraint.op === 'in' ? ('entities' in constraint ? constraint.entities : [constraint.entity]) : null;
  if (uids === null) return null;
  const ids = new Set<string>();
  for (const uid of uids.map(uidOf)) {
    if (uid === undefined) return null;
    ids.add(uid.id);
  }
  return ids;
}

interface Reads {
  attributes: Set<string>;
  wholeContext: boolean;
  usesHierarchy: boolean;
}

/** Collects every attribute name a policy's conditions read, whether they use `context` other than to read an attribute of it, and whether they use `in`. */
function collectAttributes(node: unknown, into: Reads): void {
  if (Array.isArray(node)) {
    for (const item of node) collectAttributes(item, into);
    return;
  }
  if (!node || typeof node !== 'object') return;
  for (const [key, value] of Object.entries(node)) {
    if ((key === '.' || key === 'has') && value && typeof value === 'object' && 'left' in value && 'attr' in value) {
      const access = value as { left: unknown; attr: string | string[] };
      for (const name of Array.isArray(access.attr) ? access.attr : [access.attr]) into.attributes.add(name);
      const left = access.left as { Var?: unknown };
      if (!(left && typeof left === 'object' && left.Var === 'context')) collectAttributes(access.left, into);
    } else if (key === 'Var' && value === 'context') {
      into.wholeContext = true;
    } else {
      if (key === 'in') into.usesHierarchy = true; // `a in b`, and `a is T in b`
      collectAttributes(value, into);
    }
  }
}

// ------------------------------------------------------------------ conditions

type Json = { [key: string]: unknown };
const isObject = (v: unknown): v is Json => typeof v === 'object' && v !== null && !Array.isArray(v);

interface RequestView {
  principal?: Record<string, CedarJson>;
  resource?: Record<string, CedarJson>;
  context: Record<string, CedarJson>;
}

const UNKNOWN = Symbol('unknown');
type Outcome = boolean | typeof UNKNOWN;
/** A condition compiled to a function of the request: Cedar's value when it is sure to be that without error, else UNKNOWN. */
type Condition = (view: RequestView) => Outcome;
type Primitive = string | number | boolean;
type Operand = (view: RequestView) => Primitive | typeof UNKNOWN;

const unknown: Condition = () => UNKNOWN;
const own = (record: Record<string, CedarJson>, attr: string) => Object.prototype.hasOwnProperty.call(record, attr);

function subjectOf(node: unknown): 'principal' | 'resource' | 'context' | undefined {
  const v = isObject(node) ? node['Var'] : undefined;
  return v === 'principal' || v === 'resource' || v === 'context' ? v : undefined;
}

function primitive(value: unknown): Primitive | typeof UNKNOWN {
  // Numbers beyond 2^53 lose precision in JavaScript: left to Cedar.
  return typeof value === 'string' || typeof value === 'boolean' || (typeof value === 'number' && Number.isSafeInteger(value)) ? value : UNKNOWN;
}

function operandOf(node: unknown): Operand | undefined {
  if (!isObject(node)) return undefined;
  if ('Value' in node) {
    const value = primitive(node['Value']);
    return value === UNKNOWN ? undefined : () => value;
  }
  const access = node['.'];
  if (isObject(access) && typeof access['attr'] === 'string') {
    const of = subjectOf(access['left']);
    const attr = access['attr'];
    // A missing attribute (or entity) is an error in Cedar: UNKNOWN.
    return of && ((view) => (view[of] && own(view[of], attr) ? primitive(view[of][attr]) : UNKNOWN));
  }
  return undefined;
}

function likeOf(pattern: unknown): RegExp | undefined {
  if (!Array.isArray(pattern)) return undefined;
  let source = '';
  for (const part of pattern) {
    if (part === 'Wildcard') source += '[\\s\\S]*';
    else if (isObject(part) && typeof part['Literal'] === 'string') source += part['Literal'].replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
    else return undefined;
  }
  return new RegExp(`^${source}$`, 'u');
}

/**
 * Compiles the part of Cedar this engine can evaluate with certainty: `&&`, `||` and `!` (with
 * Cedar's left-to-right short-circuits), `X has a`, `X.a` compared with a literal or another such
 * attribute (X = principal, resource or context), and `like`. Anything else is UNKNOWN, and so is
 * anything Cedar would refuse at run time (a missing attribute, `<` on a String).
 */
export function compileCondition(node: unknown): Condition {
  if (!isObject(node)) return unknown;
  const [op] = Object.keys(node);
  const args = node[op];
  if (op === 'Value') return typeof args === 'boolean' ? () => args : unknown;
  if (!isObject(args)) return unknown;
  switch (op) {
    case '&&': {
      const left = compileCondition(args['left']);
      const right = compileCondition(args['right']);
      return (view) => {
        const l = left(view);
        return l === true ? right(view) : l;
      };
    }
    case '||': {
      const left = compileCondition(args['left']);
      const right = compileCondition(args['right']);
      return (view) => {
        const l = left(view);
        return l === false ? right(view) : l;
      };
    }
    case '!': {
      const arg = compileCondition(args['arg']);
      return (view) => {
        const a = arg(view);
        return a === UNKNOWN ? UNKNOWN : !a;
      };
    }
    case 'has': {
      const of = subjectOf(args['left']);
      const attr = args['attr'];
      if (!of || typeof attr !== 'string') return unknown;
      return (view) => (view[of] ? own(view[of], attr) : UNKNOWN);
    }
    case 'like': {
      const left = operandOf(args['left']);
      const pattern = likeOf(args['pattern']);
      if (!left || !pattern) return unknown;
      return (view) => {
        const value = left(view);
        return typeof value === 'string' ? pattern.test(value) : UNKNOWN;
      };
    }
    case '==':
    case '!=':
    case '<':
    case '<=':
    case '>':
    case '>=': {
      const left = operandOf(args['left']);
      const right = operandOf(args['right']);
      if (!left || !right) return unknown;
      return (view) => {
        const l = left(view);
        const r = right(view);
        if (l === UNKNOWN || r === UNKNOWN) return UNKNOWN;
        if (op === '==') return l === r; // values of different types are unequal in Cedar too
        if (op === '!=') return l !== r;
        if (typeof l !== 'number' || typeof r !== 'number') return UNKNOWN; // a type error in Cedar
        return op === '<' ? l < r : op === '<=' ? l <= r : op === '>' ? l > r : l >= r;
      };
    }
    default:
      return unknown;
  }
}

/** For a policy with one condition clause: a function telling whether it may be satisfied; undefined when it always may. */
function screenOf(conditions: cedar.Clause[]): ((view: RequestView) => boolean) | undefined {
  if (conditions.length !== 1) return undefined;
  const [clause] = conditions;
  const condition = compileCondition(clause.body);
  if (condition === unknown) return undefined;
  // A policy is out only when its clause is certainly unsatisfied: `when` false, `unless` true.
  const excludedBy = clause.kind === 'when' ? false : true;
  return (view) => condition(view) !== excludedBy;
}

// ------------------------------------------------------------------ compiling and slicing

function compile(bundle: PolicyBundle): CompiledBundle {
  const { parsed, texts } = preparedPolicySet(bundle);
  const policies: CompiledPolicy[] = [];
  for (const [id, json] of parsed) {
    const principal = scopeFilter(json.principal);
    const resource = scopeFilter(json.resource);
    const found: Reads = { attributes: new Set<string>(), wholeContext: false, usesHierarchy: [principal, resource].some((f) => f.kind === 'in' || (f.kind === 'type' && f.in !== undefined)) };
    collectAttributes(json.conditions, found);
    policies.push({ id, principal, actions: actionFilter(json.action), resource, screen: screenOf(json.conditions), ...found });
  }
  const keys = (kind: 'eq' | 'in', pick: (p: CompiledPolicy) => ScopeFilter) =>
    new Set(policies.map(pick).flatMap((f) => (f.kind === kind ? [f.key] : f.kind === 'type' && kind === 'in' && f.in ? [f.in] : [])));
  const inKeys = new Set([...keys('in', (p) => p.principal), ...keys('in', (p) => p.resource)]);
  const full: Slice = { id: bundle.version, policyIds: policies.map((p) => p.id), ...unionOf(policies) };
  return { texts, policies, principalKeys: keys('eq', (p) => p.principal), resourceKeys: keys('eq', (p) => p.resource), inKeys, byScope: new Map(), byContent: new Map(), sliceCount: 0, full };
}

function unionOf(policies: CompiledPolicy[]): Reads {
  const attributes = new Set<string>();
  for (const p of policies) for (const a of p.attributes) attributes.add(a);
  return { attributes, wholeContext: policies.some((p) => p.wholeContext), usesHierarchy: policies.some((p) => p.usesHierarchy) };
}

/** The keys of an entity's ancestors in the request's own entities that some policy's `in` names. */
function namedAncestors(uid: EntityRef, request: RecordedRequest, inKeys: Set<string>): string[] {
  if (inKeys.size === 0) return [];
  const seen = new Set<string>();
  const pending = [uid];
  for (let current = pending.pop(); current !== undefined; current = pending.pop()) {
    const entity = request.entities.find((e) => e.uid.type === current.type && e.uid.id === current.id);
    for (const parent of entity?.parents ?? []) {
      const key = entityKey(parent);
      if (!seen.has(key)) {
        seen.add(key);
        pending.push(parent);
      }
    }
  }
  return [...seen].filter((k) => inKeys.has(k)).sort();
}

function scopeMatches(filter: ScopeFilter, uid: EntityRef, key: string, ancestors: readonly string[]): boolean {
  switch (filter.kind) {
    case 'any':
      return true;
    case 'eq':
      return filter.key === key;
    case 'in':
      return filter.key === key || ancestors.includes(filter.key);
    default:
      return filter.type === uid.type && (filter.in === undefined || filter.in === key || ancestors.includes(filter.in));
  }
}

function attrsOf(request: RecordedRequest, uid: EntityRef): Record<string, CedarJson> | undefined {
  return request.entities.find((e) => e.uid.type === uid.type && e.uid.id === uid.id)?.attrs;
}

/** The slice of the bundle that can match this request (see the top of this file). */
export function sliceFor(bundle: PolicyBundle, request: RecordedRequest): Slice {
  let compiled = compiledByVersion.get(bundle.version);
  if (!compiled) {
    compiled = compile(bundle);
    compiledByVersion.set(bundle.version, compiled);
  }
  const { principal, resource } = request;
  const action = request.action.id;
  const principalKey = entityKey(principal);
  const resourceKey = entityKey(resource);
  const principalAncestors = namedAncestors(principal, request, compiled.inKeys);
  const resourceAncestors = namedAncestors(resource, request, compiled.inKeys);
  // Entities no policy names share one scope key per type and named ancestors.
  const scopeKey = [
    compiled.principalKeys.has(principalKey) || compiled.inKeys.has(principalKey) ? principalKey : `${principal.type}::*`,
    principalAncestors.join(','),
    action,
    compiled.resourceKeys.has(resourceKey) || compiled.inKeys.has(resourceKey) ? resourceKey : `${resource.type}::*`,
    resourceAncestors.join(','),
  ].join('\n');
  let scope = compiled.byScope.get(scopeKey);
  if (!scope) {
    const candidates = compiled.policies.filter(
      (p) =>
        scopeMatches(p.principal, principal, principalKey, principalAncestors) &&
        (p.actions === null || p.actions.has(action)) &&
        scopeMatches(p.resource, resource, resourceKey, resourceAncestors),
    );
    scope = { always: candidates.filter((p) => !p.screen), screened: candidates.filter((p): p is ScopeEntry['screened'][number] => p.screen !== undefined), byOutcome: new Map() };
    compiled.byScope.set(scopeKey, scope);
  }
  const view: RequestView = { principal: attrsOf(request, principal), resource: attrsOf(request, resource), context: request.context };
  let outcome = '';
  for (const policy of scope.screened) outcome += policy.screen(view) ? '1' : '0';
  const known = scope.byOutcome.get(outcome);
  if (known) return known;
  if (compiled.sliceCount >= SLICE_LIMITS.perBundle) return compiled.full;
  const members = [...scope.always, ...scope.screened.filter((_, i) => outcome[i] === '1')];
  const policyIds = members.map((p) => p.id).sort();
  const contentKey = policyIds.join('\n');
  let slice = compiled.byContent.get(contentKey);
  if (!slice) {
    const id = `${bundle.version}/${createHash('sha256').update(contentKey).digest('hex').slice(0, 16)}`;
    const texts = compiled.texts;
    const preparsed = cedar.preparsePolicySet(id, { staticPolicies: Object.fromEntries(policyIds.map((pid) => [pid, texts[pid]])) });
    slice = preparsed.type === 'success' ? { id, policyIds, ...unionOf(members) } : compiled.full;
    compiled.byContent.set(contentKey, slice);
  }
  scope.byOutcome.set(outcome, slice);
  compiled.sliceCount++;
  return slice;
}
