import Ajv2020, { type ValidateFunction } from 'ajv/dist/2020';
import addFormats from 'ajv-formats';
import { CelEnvironment, type CelError, type CelProgram } from '@govmesh/cel';
import { WorkflowSpec, type ReviewSpec, type WorkflowDefinition, type WorkflowStep } from './definition';

/** One problem with a definition, by JSON path: what a 400 answer lists. */
export interface DefinitionProblem {
  field: string;
  problem: string;
}

export class WorkflowInvalidError extends Error {
  constructor(readonly problems: DefinitionProblem[]) {
    super(`workflow definition invalid: ${problems.map((p) => `${p.field} ${p.problem}`).join('; ')}`);
  }
}

/** The variables a workflow's expressions may name. */
const WORKFLOW_CEL = new CelEnvironment({ input: 'map', steps: 'map', run: 'map', action: 'map' });

/** A definition ready to interpret: steps indexed, CEL parsed and type-checked, schemas compiled. */
export interface CompiledWorkflow {
  readonly definition: WorkflowDefinition;
  readonly steps: ReadonlyMap<string, WorkflowStep>;
  /** Evaluates a CEL expression of this definition; throws on an evaluation error. */
  evaluate(expression: string, context: Record<string, unknown>): unknown;
  /** Validates a value against a schema of this definition (input, a step's output or edit schema); null when it fits. */
  check(schemaKey: string, value: unknown): DefinitionProblem[] | null;
  /** The step after `stepId` when it names none: the next in the list, or undefined at the end. */
  following(stepId: string): string | undefined;
}

export const schemaKeys = {
  input: 'input',
  output: (stepId: string) => `output:${stepId}`,
  edit: (stepId: string) => `edit:${stepId}`,
};

const specAjv = new Ajv2020({ allErrors: true, strict: false });
addFormats(specAjv);
const validateSpec = specAjv.compile(WorkflowSpec);

export function ajvProblems(errors: ValidateFunction['errors']): DefinitionProblem[] {
  return (errors ?? []).slice(0, 20).map((e) => ({
    field: e.instancePath || '/',
    problem: `${e.message ?? 'is invalid'}${'additionalProperty' in e.params ? ` (${String(e.params['additionalProperty'])})` : ''}${'allowedValues' in e.params ? ` (${(e.params['allowedValues'] as unknown[]).join(', ')})` : ''}`,
  }));
}

/**
 * Validates a definition (JSON Schema, then the references between steps, every CEL expression
 * and every embedded schema) and prepares it for `advance`. Throws WorkflowInvalidError listing
 * every problem found.
 */
export async function compileWorkflow(definition: WorkflowDefinition): Promise<CompiledWorkflow> {
  const { version, ...spec } = definition;
  if (!validateSpec(spec)) throw new WorkflowInvalidError(ajvProblems(validateSpec.errors));
  const problems: DefinitionProblem[] = [];
  if (!Number.isInteger(version) || version < 1) problems.push({ field: '/version', problem: 'must be a positive integer' });
  await WORKFLOW_CEL.load();
  const programs = new Map<string, CelProgram>();
  const compileCel = (expression: string, field: string) => {
    try {
      programs.set(expression, WORKFLOW_CEL.compile(expression));
    } catch (err) {
      // `CEL does not parse: …` or `CEL does not type-check: …`
      problems.push({ field, problem: `CEL ${(err as CelError).message}` });
    }
  };
  const ajv = new Ajv2020({ allErrors: true, strict: false });
  addFormats(ajv);
  const validators = new Map<string, ValidateFunction>();
  const compileSchema = (key: string, schema: Record<string, unknown> | undefined, field: string) => {
    if (!schema) return;
    try {
      validators.set(key, ajv.compile(schema));
    } catch (err) {
      problems.push({ field, problem: `is not a usable JSON Schema: ${firstLine(err)}` });
    }
  };

  const steps = new Map<string, WorkflowStep>();
  definition.steps.forEach((step, i) => {
    if (steps.has(step.id)) problems.push({ field: `/steps/${i}/id`, problem: `step id "${step.id}" is used twice` });
    steps.set(step.id, step);
  });
  const target = (name: string, field: string) => {
    if (name !== 'end' && !steps.has(name)) problems.push({ field, problem: `names step "${name}", which the workflow does not have` });
  };
  const reviewSpec = (review: ReviewSpec, field: string) => {
    review.routes?.forEach((r, j) => {
      compileCel(r.when, `${field}/routes/${j}/when`);
      if (r.level > review.levels.length) problems.push({ field: `${field}/routes/${j}/level`, problem: `level ${r.level} does not exist (${review.levels.length} levels)` });
    });
  };
  compileSchema(schemaKeys.input, definition.inputSchema, '/inputSchema');
  reviewSpec(definition.escalation, '/escalation');
  definition.steps.forEach((step, i) => {
    const field = `/steps/${i}`;
    if (step.next) target(step.next, `${field}/next`);
    const seenBefore = new Set(definition.steps.slice(0, i).map((s) => s.id));
    switch (step.kind) {
      case 'context':
        if (step.query) compileCel(step.query, `${field}/query`);
        break;
      case 'model':
        compileSchema(schemaKeys.output(step.id), step.outputSchema, `${field}/outputSchema`);
        break;
      case 'action': {
        const named = step.tool !== undefined;
        if (named === (step.from !== undefined)) problems.push({ field, problem: 'an action names either `tool` (with `arguments`) or `from` (a model step that proposes the call), not both or neither' });
        if (step.from) {
          const source = steps.get(step.from);
          if (!source || source.kind !== 'model' || source.outputSchema) problems.push({ field: `${field}/from`, problem: `must name a model step without outputSchema (one that proposes a tool call)` });
          else if (!seenBefore.has(step.from)) problems.push({ field: `${field}/from`, problem: `step "${step.from}" comes after this one` });
        }
        if (step.arguments && !named) problems.push({ field: `${field}/arguments`, problem: 'arguments need a `tool`' });
        for (const [name, expression] of Object.entries(step.arguments ?? {})) compileCel(expression, `${field}/arguments/${name}`);
        if (step.approval) reviewSpec(step.approval, `${field}/approval`);
        break;
      }
      case 'checkpoint':
        reviewSpec(step.review, `${field}/review`);
        compileSchema(schemaKeys.edit(step.id), step.editSchema, `${field}/editSchema`);
        break;
      case 'verify':
        if (step.of && steps.get(step.of)?.kind !== 'action') problems.push({ field: `${field}/of`, problem: `must name an action step` });
        break;
      case 'branch':
        step.cases.forEach((c, j) => {
          compileCel(c.when, `${field}/cases/${j}/when`);
          target(c.next, `${field}/cases/${j}/next`);
        });
        target(step.default, `${field}/default`);
        break;
      case 'wait':
        break;
    }
  });
  if (problems.length > 0) throw new WorkflowInvalidError(problems);

  const order = definition.steps.map((s) => s.id);
  return {
    definition,
    steps,
    evaluate(expression, context) {
      const program = programs.get(expression);
      if (!program) throw new Error(`expression not compiled: ${expression}`);
      return program.evaluate(context);
    },
    check(schemaKey, value) {
      const validate = validators.get(schemaKey);
      if (!validate) return null;
      return validate(value) ? null : ajvProblems(validate.errors);
    },
    following(stepId) {
      return order[order.indexOf(stepId) + 1];
    },
  };
}

function firstLine(err: unknown): string {
  const text = err instanceof Error ? err.message : String(err);
  return text.split('\n')[0].slice(0, 300);
}
