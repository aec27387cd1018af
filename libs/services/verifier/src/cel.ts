/**
 * CEL for verification checks: a check's read arguments are expressions over the verified call
 * (`arguments`, `output`, `claim`), and a state check's `expect` also sees `record`, what the read
 * tool answered. Expressions come from the tool manifest; each is parsed and type-checked once.
 */

type CelProgram = ((context: Record<string, unknown>) => unknown) & { check(): { valid: boolean; error?: Error } };
interface CelEnvironment {
  parse(expression: string): CelProgram;
}

/** The variables an expression may name. */
export interface CelContext {
  arguments: Record<string, unknown>;
  output: Record<string, unknown>;
  claim: Record<string, unknown>;
  record?: Record<string, unknown>;
}

/** cel-js is published as an ES module only: loaded once, on first use. */
let celModule: Promise<typeof import('@marcbachmann/cel-js')> | undefined;
let environment: CelEnvironment | undefined;
const programs = new Map<string, CelProgram>();
/** Manifests hold a bounded number of expressions; past this the cache starts over. */
const MAX_PROGRAMS = 2000;

async function env(): Promise<CelEnvironment> {
  if (environment) return environment;
  celModule ??= import('@marcbachmann/cel-js');
  const { Environment } = await celModule;
  environment = new Environment({ unlistedVariablesAreDyn: false, limits: { maxAstNodes: 500, maxDepth: 32, maxListElements: 200, maxMapEntries: 100, maxCallArguments: 16 } })
    .registerVariable('arguments', 'map')
    .registerVariable('output', 'map')
    .registerVariable('claim', 'map')
    .registerVariable('record', 'map') as unknown as CelEnvironment;
  return environment;
}

/** Loads the CEL engine ahead of a batch, so that evaluation itself is synchronous. */
export async function loadCel(): Promise<void> {
  await env();
}

function program(expression: string): CelProgram {
  if (!environment) throw new Error('the CEL engine is not loaded');
  let compiled = programs.get(expression);
  if (!compiled) {
    compiled = environment.parse(expression);
    const checked = compiled.check();
    if (!checked.valid) throw new Error(`does not type-check: ${firstLine(checked.error)}`);
    if (programs.size >= MAX_PROGRAMS) programs.clear();
    programs.set(expression, compiled);
  }
  return compiled;
}

/** The value of an expression, or why it has none (a parse, type or evaluation error). */
export function evaluate(expression: string, context: CelContext): { value: unknown } | { error: string } {
  try {
    return { value: program(expression)(ownRealm(context) as Record<string, unknown>) };
  } catch (err) {
    return { error: firstLine(err) };
  }
}

/**
 * A CEL value as JSON, for a read tool's arguments: integers come back as bigint and are turned
 * into numbers when exact; what JSON cannot hold (bytes, non-finite numbers, oversized integers)
 * is an error.
 */
export function toJson(value: unknown): { value: unknown } | { error: string } {
  try {
    return { value: jsonOf(value) };
  } catch (err) {
    return { error: (err as Error).message };
  }
}

function jsonOf(value: unknown): unknown {
  if (value === null || typeof value === 'string' || typeof value === 'boolean') return value;
  if (typeof value === 'number') {
    if (!Number.isFinite(value)) throw new Error(`${value} is not a JSON number`);
    return value;
  }
  if (typeof value === 'bigint') {
    if (value > BigInt(Number.MAX_SAFE_INTEGER) || value < BigInt(Number.MIN_SAFE_INTEGER)) throw new Error(`${value} is too large for a JSON number`);
    return Number(value);
  }
  if (value instanceof Date) return value.toISOString();
  if (Array.isArray(value)) return value.map(jsonOf);
  if (value instanceof Map) return Object.fromEntries([...value.entries()].map(([k, v]) => [String(k), jsonOf(v)]));
  if (typeof value === 'object' && (value.constructor === undefined || value.constructor.name === 'Object')) {
    return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, jsonOf(v)]));
  }
  throw new Error(`a ${typeof value === 'object' ? (value.constructor?.name ?? 'object') : typeof value} value has no JSON form`);
}

/**
 * Plain data rebuilt as this realm's objects and arrays: cel-js tells maps and lists by their
 * constructor, and data parsed in another realm has that realm's.
 */
function ownRealm(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(ownRealm);
  if (value !== null && typeof value === 'object' && (value.constructor === undefined || value.constructor.name === 'Object')) {
    return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, ownRealm(v)]));
  }
  return value;
}

function firstLine(err: unknown): string {
  const text = err instanceof Error ? err.message : String(err);
  return text.split('\n')[0].slice(0, 300);
}
