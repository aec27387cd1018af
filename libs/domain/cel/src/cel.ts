/**
 * CEL (Common Expression Language, `@marcbachmann/cel-js`) for every govmesh component that takes
 * expressions from data: workflow definitions, the tool manifest's verification checks, tool
 * grants' argument constraints. One place loads the engine, declares the variables an expression
 * may name, parses and type-checks it once (a bounded cache of compiled programs), evaluates it
 * over plain data and checks the type of its result, and says in one line what went wrong.
 */

type Engine = typeof import('@marcbachmann/cel-js');
type EngineProgram = ((context: Record<string, unknown>) => unknown) & { check(): { valid: boolean; type?: string; error?: Error } };
interface EngineEnvironment {
  parse(expression: string): EngineProgram;
}

/**
 * The variables an expression may name, each with its CEL type (`map`, `list`, `string`, `int`,
 * `bool`, `dyn`, `map<string, dyn>`...). A name not declared is a type-check error.
 */
export type CelVariables = Readonly<Record<string, string>>;

/**
 * A type a result may be required to have: a CEL type name, or `null` for the null value. An
 * integer the expression computes is an `int` (cel-js answers it as a bigint); a number taken from
 * the data is a `double`, even a whole one.
 */
export type CelResultType = 'bool' | 'string' | 'int' | 'uint' | 'double' | 'bytes' | 'list' | 'map' | 'null' | 'timestamp' | 'duration';

/** The structural limits every environment enforces: expressions come from outside. */
export const CEL_LIMITS = { maxAstNodes: 500, maxDepth: 32, maxListElements: 200, maxMapEntries: 100, maxCallArguments: 16 } as const;

/** How many compiled programs an environment keeps; past this its cache starts over. */
export const DEFAULT_MAX_PROGRAMS = 2000;

export type CelErrorKind = 'unloaded' | 'parse' | 'type' | 'evaluation' | 'result_type';

/**
 * What went wrong with an expression, in one line (at most 300 characters of the engine's
 * message): `does not parse: …`, `does not type-check: …`, the evaluation error as the engine says
 * it, or `is a string, not a bool` for a result of the wrong type.
 */
export class CelError extends Error {
  override readonly name = 'CelError';

  constructor(
    readonly kind: CelErrorKind,
    /** The engine's own message (its first line), or the types for `result_type`. */
    readonly detail: string,
  ) {
    super(
      kind === 'parse'
        ? `does not parse: ${detail}`
        : kind === 'type'
          ? `does not type-check: ${detail}`
          : kind === 'result_type'
            ? `is ${detail}`
            : detail,
    );
  }
}

/** The first line of an error's message, at most 300 characters. */
export function firstLine(err: unknown): string {
  const text = err instanceof Error ? err.message : String(err);
  return text.split('\n')[0].slice(0, 300);
}

/** cel-js is published as an ES module only: loaded once, on first use. */
let engineModule: Promise<Engine> | undefined;
let engine: Engine | undefined;

/** Loads the CEL engine; after it, compiling and evaluating are synchronous. */
export async function loadCel(): Promise<void> {
  if (engine) return;
  engineModule ??= import('@marcbachmann/cel-js');
  engine = await engineModule;
}

/** Whether the engine is loaded (compiling and evaluating need it). */
export const celLoaded = (): boolean => engine !== undefined;

/** One parsed and type-checked expression. */
export interface CelProgram {
  readonly expression: string;
  /** The type the checker inferred, e.g. `bool`, `string`, `list<int>`, or `dyn` when it depends on the data. */
  readonly type: string;
  /**
   * The value over `context` (plain data: rebuilt as this realm's objects first). Throws a
   * CelError: `evaluation` when the engine fails, `result_type` when `options.type` is given and
   * the value has none of those types.
   */
  evaluate(context: Record<string, unknown>, options?: { type?: CelResultType | readonly CelResultType[] }): unknown;
}

export interface CompileOptions {
  /**
   * The types the result may have, checked statically: an expression whose inferred type is none
   * of them (and not `dyn`) does not type-check. Its evaluation checks the value again.
   */
  type?: CelResultType | readonly CelResultType[];
}

/**
 * The expressions over one set of variables. Declare it once (at module level: nothing is loaded
 * until used), `await loadCel()` (or `env.load()`) before a batch, then compile and evaluate
 * synchronously. Compiled programs are cached by expression text, at most `maxPrograms` of them.
 */
export class CelEnvironment {
  private environment: EngineEnvironment | undefined;
  private readonly programs = new Map<string, CelProgram>();
  private readonly maxPrograms: number;

  constructor(
    readonly variables: CelVariables,
    options: { maxPrograms?: number } = {},
  ) {
    this.maxPrograms = options.maxPrograms ?? DEFAULT_MAX_PROGRAMS;
  }

  /** Loads the engine; answers this environment, ready for synchronous use. */
  async load(): Promise<this> {
    await loadCel();
    this.engineEnvironment();
    return this;
  }

  private engineEnvironment(): EngineEnvironment {
    if (this.environment) return this.environment;
    if (!engine) throw new CelError('unloaded', 'the CEL engine is not loaded');
    let environment = new engine.Environment({ unlistedVariablesAreDyn: false, limits: { ...CEL_LIMITS } });
    for (const [name, type] of Object.entries(this.variables)) environment = environment.registerVariable(name, type);
    this.environment = environment as unknown as EngineEnvironment;
    return this.environment;
  }

  /**
   * The expression parsed and type-checked (from the cache when compiled before). Throws a
   * CelError: `parse`, `type`, or `unloaded` before the engine is loaded.
   */
  compile(expression: string, options: CompileOptions = {}): CelProgram {
    const cached = this.programs.get(expression);
    const program = cached ?? this.build(expression);
    if (!cached) {
      if (this.programs.size >= this.maxPrograms) this.programs.clear();
      this.programs.set(expression, program);
    }
    const allowed = typesOf(options.type);
    if (allowed && !staticTypeFits(program.type, allowed)) throw new CelError('type', `the expression is ${article(program.type)}, not ${allowed.map(article).join(' or ')}`);
    return program;
  }

  private build(expression: string): CelProgram {
    const environment = this.engineEnvironment();
    let parsed: EngineProgram;
    try {
      parsed = environment.parse(expression);
    } catch (err) {
      throw new CelError('parse', firstLine(err));
    }
    let checked: { valid: boolean; type?: string; error?: Error };
    try {
      checked = parsed.check();
    } catch (err) {
      throw new CelError('type', firstLine(err));
    }
    if (!checked.valid) throw new CelError('type', firstLine(checked.error ?? 'invalid'));
    return {
      expression,
      type: checked.type ?? 'dyn',
      evaluate(context, evaluateOptions = {}) {
        let value: unknown;
        try {
          value = parsed(ownRealm(context) as Record<string, unknown>);
        } catch (err) {
          throw new CelError('evaluation', firstLine(err));
        }
        const allowed = typesOf(evaluateOptions.type);
        if (allowed) {
          const actual = celTypeOf(value);
          if (!allowed.includes(actual as CelResultType)) throw new CelError('result_type', `${article(actual)}, not ${allowed.map(article).join(' or ')}`);
        }
        return value;
      },
    };
  }

  /** Null when the expression parses and type-checks (with the engine loaded first); otherwise why not. */
  async problem(expression: string, options: CompileOptions = {}): Promise<CelError | null> {
    await this.load();
    return this.problemNow(expression, options);
  }

  /** As `problem`, synchronously: the engine must be loaded. */
  problemNow(expression: string, options: CompileOptions = {}): CelError | null {
    try {
      this.compile(expression, options);
      return null;
    } catch (err) {
      if (err instanceof CelError) return err;
      return new CelError('type', firstLine(err));
    }
  }

  /** The value of an expression over `context`; throws a CelError (parse, type, evaluation, result type). */
  evaluate(expression: string, context: Record<string, unknown>, options: { type?: CelResultType | readonly CelResultType[] } = {}): unknown {
    return this.compile(expression).evaluate(context, options);
  }

  /** The value of an expression, or the CelError that says why it has none. */
  tryEvaluate(expression: string, context: Record<string, unknown>, options: { type?: CelResultType | readonly CelResultType[] } = {}): { value: unknown } | { error: CelError } {
    try {
      return { value: this.evaluate(expression, context, options) };
    } catch (err) {
      return { error: err instanceof CelError ? err : new CelError('evaluation', firstLine(err)) };
    }
  }

  /** How many compiled programs the cache holds (for tests). */
  get cached(): number {
    return this.programs.size;
  }
}

const typesOf = (type: CelResultType | readonly CelResultType[] | undefined): readonly CelResultType[] | undefined => (type === undefined ? undefined : typeof type === 'string' ? [type] : type);

const article = (type: string): string => (type === 'null' ? 'null' : /^[aeiou]/.test(type) ? `an ${type}` : `a ${type}`);

/** Whether a statically inferred type (`list<int>`, `null`, `dyn`...) may be one of the allowed types. */
function staticTypeFits(inferred: string, allowed: readonly CelResultType[]): boolean {
  const base = inferred.split('<')[0].trim();
  if (base === 'dyn') return true;
  if (base === 'null' || base === 'null_type') return allowed.includes('null');
  if (base === 'google.protobuf.Timestamp') return allowed.includes('timestamp');
  if (base === 'google.protobuf.Duration') return allowed.includes('duration');
  return allowed.includes(base as CelResultType);
}

/** The CEL type of a value cel-js answered (or of plain data in a context). */
export function celTypeOf(value: unknown): string {
  if (value === null || value === undefined) return 'null';
  switch (typeof value) {
    case 'boolean':
      return 'bool';
    case 'string':
      return 'string';
    case 'bigint':
      return 'int';
    case 'number':
      return 'double';
    case 'object':
      break;
    default:
      return typeof value;
  }
  if (Array.isArray(value)) return 'list';
  if (value instanceof Uint8Array) return 'bytes';
  if (value instanceof Date) return 'timestamp';
  if (value instanceof Map) return 'map';
  const name = (value as object).constructor?.name;
  if (name === undefined || name === 'Object') return 'map';
  if (name === 'UnsignedInt') return 'uint';
  if (name === 'Duration') return 'duration';
  return name;
}

/**
 * Plain data rebuilt as this realm's objects and arrays: cel-js tells maps and lists by their
 * constructor, and data parsed or cloned in another realm (structuredClone in a test VM) has that
 * realm's. Anything else (a Date, bytes) is passed as it is.
 */
export function ownRealm(value: unknown): unknown {
  // Array.from, not value.map: map builds its answer with the other realm's Array.
  if (Array.isArray(value)) return Array.from(value, ownRealm);
  if (value !== null && typeof value === 'object' && (value.constructor === undefined || value.constructor.name === 'Object')) {
    return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, ownRealm(v)]));
  }
  return value;
}

/**
 * A CEL value as JSON (for a tool's arguments, an event): integers come back from cel-js as
 * bigint and are turned into numbers when exact; what JSON cannot hold (bytes, non-finite
 * numbers, integers past 2^53) is an error.
 */
export function celToJson(value: unknown): { value: unknown } | { error: string } {
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
