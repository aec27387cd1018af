/**
 * CEL for the tool registry: argument constraints of tool grants (over `arguments`) and the
 * expressions of verification specs (over `arguments`, `output`, `claim`, `record`), parsed and
 * type-checked when registered, so that a manifest or grant that cannot be evaluated is refused
 * at the API, not at the first call.
 */
type CelProgram = ((context: Record<string, unknown>) => unknown) & { check(): { valid: boolean; error?: Error } };
interface CelEnvironment {
  parse(expression: string): CelProgram;
}

let celModule: Promise<typeof import('@marcbachmann/cel-js')> | undefined;
let environment: CelEnvironment | undefined;
const programs = new Map<string, CelProgram>();
const MAX_PROGRAMS = 2000;

/** Loads the CEL engine (an ES module) once; evaluation after it is synchronous. */
export async function loadCel(): Promise<void> {
  if (environment) return;
  celModule ??= import('@marcbachmann/cel-js');
  const { Environment } = await celModule;
  environment = new Environment({ unlistedVariablesAreDyn: false, limits: { maxAstNodes: 500, maxDepth: 32, maxListElements: 200, maxMapEntries: 100, maxCallArguments: 16 } })
    .registerVariable('arguments', 'map')
    .registerVariable('output', 'map')
    .registerVariable('claim', 'map')
    .registerVariable('record', 'map') as unknown as CelEnvironment;
}

function firstLine(err: unknown): string {
  return String((err as Error)?.message ?? err).split('\n')[0].slice(0, 300);
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

/** Null when the expression parses and type-checks; otherwise why not. */
export async function celProblem(expression: string): Promise<string | null> {
  await loadCel();
  try {
    program(expression);
    return null;
  } catch (err) {
    return firstLine(err);
  }
}

/** Plain JSON rebuilt in this realm (cel-js tells maps from lists by their constructor). */
function plain(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(plain);
  if (value !== null && typeof value === 'object') return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, plain(v)]));
  return value;
}

/** Whether a condition over the call's arguments holds: exactly `true`; anything else (an error included) does not. */
export function conditionHolds(expression: string, args: Record<string, unknown>): { holds: boolean; error?: string } {
  try {
    const value = program(expression)({ arguments: plain(args), output: {}, claim: {}, record: {} });
    return { holds: value === true };
  } catch (err) {
    return { holds: false, error: firstLine(err) };
  }
}
