import type { Citation, ModelCompletedV1 } from '@govmesh/contracts';

/**
 * The built-in deterministic provider: no network, same answer for the same input. Real
 * providers plug in behind the same interface.
 *
 * Without an output schema it reads the task and input like a planner would and proposes one
 * call of a tool the request offers (`request.tools`, the tool catalog the router learned from the
 * tool manifest), never of another: `invoices.approve_payment` when the input has `invoiceId`,
 * `amount` and `currency`; `tickets.update` when it has `ticketId` and `priority`;
 * `sandbox.lookup_account` when it finds an account id (in the input, else in the task). The
 * first of these that fits the input and is offered wins; when none is, it proposes no action
 * (naming the tools that would have fitted but are not offered).
 *
 * With an output schema (a structured-output step) it proposes no action and answers `output`,
 * filled property by property (see `fillOutput`).
 *
 * Test hook (this provider only): an input field `_confidence`, a number from 0 to 1, is the
 * answer's confidence, whatever the provider would have said.
 */
export interface ModelRequest {
  task: string;
  input: Record<string, unknown>;
  citations: Citation[];
  /** What the workflow's model step asks for, in its own words. */
  instructions?: string;
  /** A JSON Schema (an object schema) the answer's `output` must match. */
  outputSchema?: Record<string, unknown>;
  /** Earlier steps' outputs, by step id. */
  steps?: Record<string, unknown>;
  /**
   * The tools the model may propose: the catalog's active tools. The router refuses a proposal of
   * any other tool, or with arguments that do not match the tool's input schema.
   */
  tools: readonly OfferedTool[];
}

/** A tool offered to the model: what a provider shows it (name, what it does, the arguments it takes). */
export interface OfferedTool {
  name: string;
  description: string;
  /** The tool's input JSON Schema (an object schema): a proposal's arguments must match it. */
  inputSchema: Record<string, unknown>;
}

export interface ModelAnswer {
  proposal: ModelCompletedV1['proposal'];
  confidence: number;
  usage: { inputTokens: number; outputTokens: number };
  /** The structured output, when the request had an output schema. */
  output?: Record<string, unknown>;
}

export interface ModelProvider {
  readonly name: string;
  complete(model: string, request: ModelRequest): ModelAnswer;
}

const ACCOUNT_ID = /\bacc-\d{3,12}\b/;

/** The highest confidence the built-in model claims for a structured output it filled itself. */
export const MAX_FILLED_CONFIDENCE = 0.95;

function tokens(text: string): number {
  return Math.ceil(text.length / 4);
}

type JsonSchema = Record<string, unknown>;

const isObject = (value: unknown): value is Record<string, unknown> => typeof value === 'object' && value !== null && !Array.isArray(value);

/** Whether a value has the type (and, with an enum or const, one of the values) a property schema asks for. */
function fits(value: unknown, schema: JsonSchema): boolean {
  if (value === undefined) return false;
  if (Array.isArray(schema['enum']) && !(schema['enum'] as unknown[]).some((v) => v === value)) return false;
  if ('const' in schema && schema['const'] !== value) return false;
  const type = schema['type'];
  if (type === undefined) return true;
  const types = Array.isArray(type) ? (type as string[]) : [type as string];
  return types.some((t) => {
    switch (t) {
      case 'string':
        return typeof value === 'string';
      case 'number':
        return typeof value === 'number' && Number.isFinite(value);
      case 'integer':
        return Number.isInteger(value);
      case 'boolean':
        return typeof value === 'boolean';
      case 'object':
        return isObject(value);
      case 'array':
        return Array.isArray(value);
      case 'null':
        return value === null;
      default:
        return false;
    }
  });
}

/**
 * The default for a property found nowhere: the schema's own `default` when it fits, else the
 * first enum value (or the `const`), else by type: '' (or "unknown", padded to a `minLength`),
 * 0 (moved into `minimum`/`maximum`), false, [], an object of its properties' defaults, null.
 */
function defaultFor(schema: JsonSchema): unknown {
  if ('default' in schema && fits(schema['default'], schema)) return schema['default'];
  if (Array.isArray(schema['enum']) && schema['enum'].length > 0) return schema['enum'][0];
  if ('const' in schema) return schema['const'];
  const type = Array.isArray(schema['type']) ? (schema['type'] as string[])[0] : (schema['type'] as string | undefined);
  switch (type) {
    case 'string': {
      const min = typeof schema['minLength'] === 'number' ? schema['minLength'] : 0;
      return min > 0 ? 'unknown'.padEnd(min, '.') : '';
    }
    case 'number':
    case 'integer': {
      let n = 0;
      if (typeof schema['minimum'] === 'number' && n < schema['minimum']) n = type === 'integer' ? Math.ceil(schema['minimum']) : schema['minimum'];
      if (typeof schema['exclusiveMinimum'] === 'number' && n <= schema['exclusiveMinimum']) n = type === 'integer' ? Math.floor(schema['exclusiveMinimum']) + 1 : schema['exclusiveMinimum'] + 1;
      if (typeof schema['maximum'] === 'number' && n > schema['maximum']) n = type === 'integer' ? Math.floor(schema['maximum']) : schema['maximum'];
      return n;
    }
    case 'boolean':
      return false;
    case 'array':
      return [];
    case 'object': {
      const properties = isObject(schema['properties']) ? schema['properties'] : {};
      return Object.fromEntries(Object.entries(properties).map(([name, s]) => [name, defaultFor(isObject(s) ? s : {})]));
    }
    case 'null':
      return null;
    default:
      return null;
  }
}

/** An earlier step's output: the step's value itself, or its `output` when it has one. */
function stepOutputs(steps: Record<string, unknown> | undefined): Array<Record<string, unknown>> {
  return Object.values(steps ?? {}).flatMap((step) => (isObject(step) ? [step, ...(isObject(step['output']) ? [step['output']] : [])] : []));
}

/** Properties the model judges itself: not counted for confidence (`confidence` is never looked up either). */
const OWN_JUDGEMENT = new Set(['confidence', 'rationale']);

/**
 * Fills a structured output for a schema, deterministically. For each property of the schema:
 * the input field of the same name when it has the right type; else the value of that name in
 * the earlier steps' outputs (the last step that has one; a step's `output` object counts as
 * its output too); else the default for its schema (see `defaultFor`). `rationale`, when not
 * given, is a sentence naming what was found; `confidence` is always the answer's confidence.
 *
 * Confidence = required properties found in input or steps / required properties, rounded to 2
 * decimals and never above 0.95 (0.95 when nothing is required). `confidence` and `rationale`
 * are the model's own judgement: they are not counted. `_confidence` in the input overrides it.
 */
export function fillOutput(schema: JsonSchema, input: Record<string, unknown>, steps?: Record<string, unknown>): { output: Record<string, unknown>; confidence: number; rationale: string } {
  const properties: Record<string, JsonSchema> = isObject(schema['properties'])
    ? Object.fromEntries(Object.entries(schema['properties']).map(([name, s]) => [name, isObject(s) ? s : {}]))
    : {};
  const required = (Array.isArray(schema['required']) ? (schema['required'] as unknown[]) : []).filter((r): r is string => typeof r === 'string' && !OWN_JUDGEMENT.has(r));
  const earlier = stepOutputs(steps).reverse();
  const output: Record<string, unknown> = {};
  const found = new Set<string>();
  for (const [name, propertySchema] of Object.entries(properties)) {
    if (name === 'confidence') continue;
    if (fits(input[name], propertySchema)) {
      output[name] = input[name];
      found.add(name);
      continue;
    }
    const fromStep = earlier.find((o) => fits(o[name], propertySchema));
    if (fromStep) {
      output[name] = fromStep[name];
      found.add(name);
      continue;
    }
    if (name !== 'rationale') output[name] = defaultFor(propertySchema);
  }
  const computed = required.length === 0 ? MAX_FILLED_CONFIDENCE : Math.min(MAX_FILLED_CONFIDENCE, Math.round((required.filter((r) => found.has(r)).length / required.length) * 100) / 100);
  const confidence = overriddenConfidence(input) ?? computed;
  const missing = required.filter((r) => !found.has(r));
  const rationale =
    typeof output['rationale'] === 'string' && output['rationale'] !== ''
      ? (output['rationale'] as string)
      : `Filled ${Object.keys(properties).length} field(s) from the input and earlier steps; ${missing.length === 0 ? 'every required field was found' : `not found, so defaulted: ${missing.join(', ')}`}.`;
  if ('rationale' in properties && !found.has('rationale')) output['rationale'] = fits(rationale, properties['rationale']) ? rationale : defaultFor(properties['rationale']);
  if ('confidence' in properties) output['confidence'] = confidence;
  return { output, confidence, rationale };
}

/** The `_confidence` test hook: a number from 0 to 1 in the input. */
function overriddenConfidence(input: Record<string, unknown>): number | undefined {
  const c = input['_confidence'];
  return typeof c === 'number' && c >= 0 && c <= 1 ? c : undefined;
}

const nonEmptyString = (value: unknown): value is string => typeof value === 'string' && value !== '';

interface Candidate {
  tool: string;
  arguments: Record<string, unknown>;
  rationale: string;
  confidence: number;
}

/** The tool calls the input fits, most specific first: the seed workflows' actions, then the account lookup. */
function candidates(request: ModelRequest): Candidate[] {
  const { input } = request;
  const found: Candidate[] = [];
  const { invoiceId, amount, currency, ticketId, priority } = input;
  if (nonEmptyString(invoiceId) && typeof amount === 'number' && nonEmptyString(currency)) {
    found.push({ tool: 'invoices.approve_payment', arguments: { invoiceId, amount, currency }, rationale: `approve invoice ${invoiceId} for payment of ${amount} ${currency}`, confidence: 0.95 });
  }
  if (nonEmptyString(ticketId) && nonEmptyString(priority)) {
    const args: Record<string, unknown> = { ticketId, priority };
    for (const field of ['status', 'assigneeGroup']) if (nonEmptyString(input[field])) args[field] = input[field];
    found.push({ tool: 'tickets.update', arguments: args, rationale: `set ticket ${ticketId} to priority ${priority}${args['assigneeGroup'] ? ` for ${String(args['assigneeGroup'])}` : ''}`, confidence: 0.95 });
  }
  const fromInput = nonEmptyString(input['accountId']) ? input['accountId'] : undefined;
  const accountId = fromInput ?? ACCOUNT_ID.exec(request.task)?.[0];
  if (accountId) {
    found.push({ tool: 'sandbox.lookup_account', arguments: { accountId }, rationale: `look up ${accountId} in the system of record before answering`, confidence: fromInput ? 0.95 : 0.75 });
  }
  return found;
}

export const builtinProvider: ModelProvider = {
  name: 'builtin',
  complete(model, request) {
    const prompt = [request.task, ...(request.instructions ? [request.instructions] : []), JSON.stringify(request.input), ...(request.steps ? [JSON.stringify(request.steps)] : []), request.citations.map((c) => c.excerpt).join('\n')].join('\n');
    const override = overriddenConfidence(request.input);
    if (request.outputSchema) {
      const { output, confidence, rationale } = fillOutput(request.outputSchema, request.input, request.steps);
      return { proposal: { kind: 'no_action', rationale }, confidence, output, usage: { inputTokens: tokens(prompt), outputTokens: tokens(JSON.stringify(output)) } };
    }
    const cited = request.citations.map((c) => c.documentId).join(', ') || 'no documents';
    const offered = new Set(request.tools.map((t) => t.name));
    const fitting = candidates(request);
    const chosen = fitting.find((c) => offered.has(c.tool));
    if (chosen) {
      const rationale = `${chosen.rationale} (context: ${cited})`;
      return { proposal: { kind: 'tool_call', tool: chosen.tool, arguments: chosen.arguments, rationale }, confidence: override ?? chosen.confidence, usage: { inputTokens: tokens(prompt), outputTokens: tokens(rationale) } };
    }
    const strong = model.endsWith('large');
    const missing = [...new Set(fitting.map((c) => c.tool))];
    const rationale =
      missing.length === 0
        ? 'no account id in the task or input, so there is nothing to look up'
        : `${missing.join(' or ')} would fit the input, but ${missing.length === 1 ? 'it is not' : 'none of them is'} among the offered tools, so there is nothing to propose`;
    return { proposal: { kind: 'no_action', rationale }, confidence: override ?? (strong ? 0.9 : 0.4), usage: { inputTokens: tokens(prompt), outputTokens: tokens(rationale) } };
  },
};

export interface RoutedModel {
  model: string;
  provider: ModelProvider;
  reason: string;
}

/** Cheap model for low risk, strong model for anything riskier. */
export function routeByRisk(risk: 'low' | 'medium' | 'high'): RoutedModel {
  return risk === 'low'
    ? { model: 'builtin-small', provider: builtinProvider, reason: 'low risk: cheapest capable model' }
    : { model: 'builtin-large', provider: builtinProvider, reason: `${risk} risk: strongest model` };
}

export const ESCALATION_CONFIDENCE = 0.7;

/**
 * List prices, in US dollars per million tokens, that model calls are accounted at: the built-in
 * models are priced like a small and a large hosted model, so spend and its alerts read as they
 * would with a paid provider. A model without a price costs 0.
 */
export const MODEL_PRICES: Readonly<Record<string, { inputPerMillion: number; outputPerMillion: number }>> = {
  'builtin-small': { inputPerMillion: 0.15, outputPerMillion: 0.6 },
  'builtin-large': { inputPerMillion: 3, outputPerMillion: 15 },
};

/** What one call's tokens cost at its model's list price. */
export function modelCostUsd(model: string, usage: { inputTokens: number; outputTokens: number }): number {
  const price = MODEL_PRICES[model];
  return price ? (usage.inputTokens * price.inputPerMillion + usage.outputTokens * price.outputPerMillion) / 1e6 : 0;
}
