/**
 * Why slices: cedar-wasm spends about 1.3 µs per policy in a set on every call, whether or not the
 * policy's scope matches, and about 3 µs per attribute it is handed. A 500-policy set would cost
 * ~1 ms a decision. So each request is decided against the slice of the bundle whose scope can
 * match it, and with only the attributes that slice's policies name. Both are invisible to the
 * outcome:
 * - a policy whose scope (`principal == …`, `principal is …`, `action == …`/`in […]`,
 *   `resource == …`/`is …`) cannot match the request is never satisfied and never evaluates its
 *   conditions, so it can neither determine the decision nor error;
 * - Cedar reads an attribute only by naming it (`.name`, `has name`), so attributes no policy of the
 *   slice names cannot change any condition's value. Context is passed whole if a policy uses
 *   `context` as a value (e.g. compares records).
 * Slices are preparsed on first use under `<version>/<digest of their ids>`, shared by every
 * request with the same principal, action and resource key, and capped per bundle; past the cap,
 * requests use the whole set.
 */
import { createHash } from 'node:crypto';
import { cedar } from './cedar';
import { preparedPolicySet, type PolicyBundle } from './bundle';
import type { EntityRef } from './model';

type ScopeFilter = { kind: 'any' } | { kind: 'eq'; key: string } | { kind: 'type'; type: string };

interface CompiledPolicy {
  id: string;
  principal: ScopeFilter;
  /** null = any action. */
  actions: Set<string> | null;
  resource: ScopeFilter;
  attributes: Set<string>;
  wholeContext: boolean;
}

export interface Slice {
  /** The id Cedar cached the slice's policies under. */
  id: string;
  policyIds: string[];
  /** Attribute names any policy of the slice reads. */
  attributes: Set<string>;
  /** Some policy uses `context` as a value: pass it untrimmed. */
  wholeContext: boolean;
}

interface CompiledBundle {
  texts: Readonly<Record<string, string>>;
  policies: CompiledPolicy[];
  /** Entities some policy names in its principal or resource scope with `==`. */
  principalKeys: Set<string>;
  resourceKeys: Set<string>;
  byRequestKey: Map<string, Slice>;
  byContent: Map<string, Slice>;
  full: Slice;
}

/** Request keys remembered per bundle; past it, requests of new keys use the whole set. */
export const SLICE_LIMITS = { perBundle: 4096 };

const compiledByVersion = new Map<string, CompiledBundle>();

export function entityKey(uid: EntityRef): string {
  return `${uid.type}::${JSON.stringify(uid.id)}`;
}

function uidOf(value: unknown): EntityRef | undefined {
  const candidate = (value && typeof value === 'object' && '__entity' in value ? (value as { __entity: unknown }).__entity : value) as Partial<EntityRef> | undefined;
  return candidate && typeof candidate.type === 'string' && typeof candidate.id === 'string' ? { type: candidate.type, id: candidate.id } : undefined;
}

function scopeFilter(constraint: cedar.PrincipalConstraint | cedar.ResourceConstraint): ScopeFilter {
  if (constraint.op === '==' && 'entity' in constraint) {
    const uid = uidOf(constraint.entity);
    if (uid) return { kind: 'eq', key: entityKey(uid) };
  }
  if (constraint.op === 'is') return { kind: 'type', type: constraint.entity_type };
  return { kind: 'any' }; // `in` depends on the entity hierarchy: always kept.
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

/** Collects every attribute name a policy reads, and whether it uses `context` other than to read an attribute of it. */
function collectAttributes(node: unknown, into: { attributes: Set<string>; wholeContext: boolean }): void {
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
      collectAttributes(value, into);
    }
  }
}

function compile(bundle: PolicyBundle): CompiledBundle {
  const { parsed, texts } = preparedPolicySet(bundle);
  const policies: CompiledPolicy[] = [];
  for (const [id, json] of parsed) {
    const found = { attributes: new Set<string>(), wholeContext: false };
    collectAttributes(json.conditions, found);
    policies.push({ id, principal: scopeFilter(json.principal), actions: actionFilter(json.action), resource: scopeFilter(json.resource), ...found });
  }
  const keys = (pick: (p: CompiledPolicy) => ScopeFilter) => new Set(policies.map(pick).flatMap((f) => (f.kind === 'eq' ? [f.key] : [])));
  const full: Slice = { id: bundle.version, policyIds: policies.map((p) => p.id), ...unionOf(policies) };
  return { texts, policies, principalKeys: keys((p) => p.principal), resourceKeys: keys((p) => p.resource), byRequestKey: new Map(), byContent: new Map(), full };
}

function unionOf(policies: CompiledPolicy[]): { attributes: Set<string>; wholeContext: boolean } {
  const attributes = new Set<string>();
  for (const p of policies) for (const a of p.attributes) attributes.add(a);
  return { attributes, wholeContext: policies.some((p) => p.wholeContext) };
}

function matches(filter: ScopeFilter, uid: EntityRef, key: string): boolean {
  return filter.kind === 'any' || (filter.kind === 'eq' ? filter.key === key : filter.type === uid.type);
}

/** The slice of the bundle whose policies' scopes can match this request. */
export function sliceFor(bundle: PolicyBundle, principal: EntityRef, action: string, resource: EntityRef): Slice {
  let compiled = compiledByVersion.get(bundle.version);
  if (!compiled) {
    compiled = compile(bundle);
    compiledByVersion.set(bundle.version, compiled);
  }
  const principalKey = entityKey(principal);
  const resourceKey = entityKey(resource);
  // Entities no policy names with `==` share one slice per type.
  const requestKey = `${compiled.principalKeys.has(principalKey) ? principalKey : `${principal.type}::*`}\n${action}\n${compiled.resourceKeys.has(resourceKey) ? resourceKey : `${resource.type}::*`}`;
  const known = compiled.byRequestKey.get(requestKey);
  if (known) return known;
  if (compiled.byRequestKey.size >= SLICE_LIMITS.perBundle) return compiled.full;
  const members = compiled.policies.filter(
    (p) => matches(p.principal, principal, principalKey) && (p.actions === null || p.actions.has(action)) && matches(p.resource, resource, resourceKey),
  );
  const policyIds = members.map((p) => p.id);
  const contentKey = policyIds.join('\n');
  let slice = compiled.byContent.get(contentKey);
  if (!slice) {
    const id = `${bundle.version}/${createHash('sha256').update(contentKey).digest('hex').slice(0, 16)}`;
    const preparsed = cedar.preparsePolicySet(id, { staticPolicies: Object.fromEntries(policyIds.map((pid) => [pid, compiled.texts[pid]])) });
    slice = preparsed.type === 'success' ? { id, policyIds, ...unionOf(members) } : compiled.full;
    compiled.byContent.set(contentKey, slice);
  }
  compiled.byRequestKey.set(requestKey, slice);
  return slice;
}
