/**
 * CEL for the tool registry: argument constraints of tool grants (over `arguments`) and the
 * expressions of verification specs (over `arguments`, `output`, `claim`, `record`), parsed and
 * type-checked when registered, so that a manifest or grant that cannot be evaluated is refused
 * at the API, not at the first call. The engine, its cache and its errors are `@govmesh/cel`'s.
 */
import { CelEnvironment, loadCel as loadEngine, type CelResultType } from '@govmesh/cel';

/** Grant conditions and the verification checks' expressions, with the verifier's variables. */
const REGISTRY_CEL = new CelEnvironment({ arguments: 'map', output: 'map', claim: 'map', record: 'map' });

/** Expressions evaluated over the verified call alone, before anything is read (a citation's document, version, quote, offset). */
const CALL_CEL = new CelEnvironment({ arguments: 'map', output: 'map', claim: 'map' });

/** Loads the CEL engine (an ES module) once; evaluation after it is synchronous. */
export async function loadCel(): Promise<void> {
  await loadEngine();
}

/**
 * Null when the expression parses and type-checks; otherwise why not. `over: 'call'` allows only
 * the call's variables (no `record`); `type` the result types the expression may have.
 */
export async function celProblem(expression: string, options: { over?: 'call'; type?: CelResultType | readonly CelResultType[] } = {}): Promise<string | null> {
  const env = options.over === 'call' ? CALL_CEL : REGISTRY_CEL;
  return (await env.problem(expression, options.type ? { type: options.type } : {}))?.message ?? null;
}

/** Whether a condition over the call's arguments holds: exactly `true`; anything else (an error included) does not. */
export function conditionHolds(expression: string, args: Record<string, unknown>): { holds: boolean; error?: string } {
  const result = REGISTRY_CEL.tryEvaluate(expression, { arguments: args, output: {}, claim: {}, record: {} });
  return 'error' in result ? { holds: false, error: result.error.message } : { holds: result.value === true };
}
