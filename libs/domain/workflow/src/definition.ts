import { Type, type Static, type TSchema } from '@sinclair/typebox';

/**
 * Workflow definitions are data: versioned, validated by this JSON Schema (published at
 * `GET /v1/workflows/schema` and in docs/workflow.schema.json), immutable once published. The
 * orchestrator interprets them with `advance`; nothing in a definition is ever evaluated as code:
 * conditions and argument expressions are CEL.
 */

const Id = Type.String({ pattern: '^[a-z][a-z0-9_-]{0,47}$', description: 'lowercase letters, digits, _ and -; starts with a letter' });
const Cel = Type.String({ minLength: 1, maxLength: 2000, description: 'a CEL expression over `input`, `steps` (earlier step outputs by step id), `run` and, in approval routes, `action`' });
const Groups = Type.Array(Type.String({ pattern: '^[A-Za-z0-9][A-Za-z0-9._:-]{0,127}$' }), { minItems: 1, maxItems: 16, uniqueItems: true });
const JsonSchemaObject = Type.Record(Type.String(), Type.Unknown(), { description: 'a JSON Schema (draft 2020-12 subset ajv supports)' });
const Seconds = (description: string, max = 31_536_000) => Type.Integer({ minimum: 1, maximum: max, description });

export const RetryPolicy = Type.Object(
  {
    maxAttempts: Type.Integer({ minimum: 1, maximum: 10, description: 'attempts in all, the first included' }),
    backoffSeconds: Type.Number({ minimum: 0, maximum: 3600, description: 'wait before the second attempt' }),
    multiplier: Type.Optional(Type.Number({ minimum: 1, maximum: 10, description: 'each further wait is this many times the one before (default 2)' })),
  },
  { additionalProperties: false },
);
export type RetryPolicy = Static<typeof RetryPolicy>;

export const ReviewLevel = Type.Object(
  {
    name: Type.String({ minLength: 1, maxLength: 64 }),
    groups: Groups,
    slaSeconds: Seconds('nobody at this level decided in this time: the item moves up a level, or expires after the last'),
  },
  { additionalProperties: false },
);
export type ReviewLevel = Static<typeof ReviewLevel>;

/** Who decides, in what order, how fast, and what happens when nobody does. */
export const ReviewSpec = Type.Object(
  {
    levels: Type.Array(ReviewLevel, { minItems: 1, maxItems: 10 }),
    /** Route by thresholds: the first rule whose condition holds picks the level the item starts at (1-based). */
    routes: Type.Optional(Type.Array(Type.Object({ when: Cel, level: Type.Integer({ minimum: 1, maximum: 10 }) }, { additionalProperties: false }), { maxItems: 20 })),
    /** Hard limit from the request, whatever the levels say. Never an automatic approval. */
    expiresAfterSeconds: Type.Optional(Seconds('after this the item expires')),
    /** On expiry: `fail` ends the run `expired` (fail closed); `escalate` moves the item up a level while one is left, then fails closed. */
    onExpiry: Type.Optional(Type.Union([Type.Literal('fail'), Type.Literal('escalate')])),
  },
  { additionalProperties: false },
);
export type ReviewSpec = Static<typeof ReviewSpec>;

const common = {
  id: Id,
  description: Type.Optional(Type.String({ maxLength: 1000 })),
  /** The step that follows; `end` finishes the workflow. Default: the next step in the list, or the end. */
  next: Type.Optional(Type.String({ pattern: '^[a-z][a-z0-9_-]{0,47}$' })),
  timeoutSeconds: Type.Optional(Seconds('a reply not received in this time counts as a failed attempt', 86_400)),
  retry: Type.Optional(RetryPolicy),
};

export const ContextStep = Type.Object(
  { ...common, kind: Type.Literal('context'), query: Type.Optional(Cel), limit: Type.Optional(Type.Integer({ minimum: 1, maximum: 20 })) },
  { additionalProperties: false },
);
export const ModelStep = Type.Object(
  {
    ...common,
    kind: Type.Literal('model'),
    instructions: Type.Optional(Type.String({ maxLength: 8000 })),
    /** Structured output: the answer must match this schema, or the step escalates. Without it, the model proposes a tool call. */
    outputSchema: Type.Optional(JsonSchemaObject),
    /** Below this confidence the step escalates to a human instead of going on. */
    minConfidence: Type.Optional(Type.Number({ minimum: 0, maximum: 1 })),
    risk: Type.Optional(Type.Union([Type.Literal('low'), Type.Literal('medium'), Type.Literal('high')])),
  },
  { additionalProperties: false },
);
export const ActionStep = Type.Object(
  {
    ...common,
    kind: Type.Literal('action'),
    /** The tool to call, with each argument a CEL expression; or `from`, a model step whose proposed tool call this step makes. */
    tool: Type.Optional(Type.String({ minLength: 1, maxLength: 128 })),
    arguments: Type.Optional(Type.Record(Type.String({ pattern: '^[A-Za-z_][A-Za-z0-9_]{0,63}$' }), Cel, { maxProperties: 64 })),
    from: Type.Optional(Id),
    /** Who approves when policy holds the action for approval (default: one level, policy's approver groups). */
    approval: Type.Optional(ReviewSpec),
  },
  { additionalProperties: false },
);
export const CheckpointStep = Type.Object(
  {
    ...common,
    kind: Type.Literal('checkpoint'),
    instructions: Type.Optional(Type.String({ maxLength: 4000 })),
    review: ReviewSpec,
    /** Reviewers may edit: their output must match this schema and becomes the step's output. */
    editSchema: Type.Optional(JsonSchemaObject),
  },
  { additionalProperties: false },
);
export const VerifyStep = Type.Object(
  { ...common, kind: Type.Literal('verify'), of: Type.Optional(Id) },
  { additionalProperties: false },
);
export const BranchStep = Type.Object(
  {
    ...common,
    kind: Type.Literal('branch'),
    cases: Type.Array(Type.Object({ when: Cel, next: Type.String({ pattern: '^[a-z][a-z0-9_-]{0,47}$' }) }, { additionalProperties: false }), { minItems: 1, maxItems: 20 }),
    default: Type.String({ pattern: '^[a-z][a-z0-9_-]{0,47}$' }),
  },
  { additionalProperties: false },
);
export const WaitStep = Type.Object(
  { ...common, kind: Type.Literal('wait'), seconds: Seconds('how long to wait') },
  { additionalProperties: false },
);

export const WorkflowStep = Type.Union([ContextStep, ModelStep, ActionStep, CheckpointStep, VerifyStep, BranchStep, WaitStep]);
export type WorkflowStep = Static<typeof WorkflowStep>;
export type StepKind = WorkflowStep['kind'];
export type StepOf<K extends StepKind> = Extract<WorkflowStep, { kind: K }>;

/** What an operator publishes: a definition without its version (the registry assigns it). */
export const WorkflowSpec = Type.Object(
  {
    id: Type.String({ pattern: '^[a-z][a-z0-9-]{1,63}$' }),
    description: Type.Optional(Type.String({ maxLength: 2000 })),
    /** The workflow's autonomy tier: the effective tier of an action is the least permissive of agent, workflow, tool and data. */
    tier: Type.Optional(Type.Union([Type.Literal('assist'), Type.Literal('prepare'), Type.Literal('execute_low'), Type.Literal('execute_high')])),
    /** Required inputs: an intent whose input does not match escalates for a human to supply what is missing. */
    inputSchema: Type.Optional(JsonSchemaObject),
    /** Every run ends: past this, it ends `timed_out`. */
    deadlineSeconds: Seconds('run deadline', 2_592_000),
    /** Who handles escalated edge cases (incomplete input, low confidence, failing tools, verification mismatches). */
    escalation: ReviewSpec,
    /** The agents that may start this workflow (intents name the workflow by id). */
    agents: Type.Optional(Type.Array(Type.String({ pattern: '^[A-Za-z0-9][A-Za-z0-9._:-]{0,127}$' }), { maxItems: 100 })),
    steps: Type.Array(WorkflowStep, { minItems: 1, maxItems: 100 }),
  },
  { additionalProperties: false, $id: 'https://govmesh.dev/schemas/workflow.json', title: 'govmesh workflow definition' },
);
export type WorkflowSpec = Static<typeof WorkflowSpec>;

export interface WorkflowDefinition extends WorkflowSpec {
  version: number;
}

/** The published JSON Schema of a workflow definition. */
export function workflowJsonSchema(): TSchema {
  return JSON.parse(JSON.stringify(WorkflowSpec)) as TSchema;
}
