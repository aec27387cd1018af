import { Type, type Static } from '@sinclair/typebox';
import { AgentId, Reason, RunId, StepId } from './common';

/** What about an agent's behaviour departs from its baseline. */
export const BehaviourAnomalyKind = Type.Union([
  Type.Literal('first_seen_tool'),
  Type.Literal('unseen_egress'),
  Type.Literal('cost_outlier'),
  Type.Literal('deny_rate'),
  Type.Literal('escalation_rate'),
]);
export type BehaviourAnomalyKind = Static<typeof BehaviourAnomalyKind>;

/**
 * Telemetry saw an agent act unlike its behaviour baseline (after its warm-up): a tool or an egress
 * destination it did not use within the window, a run that cost far more than its usual runs, or
 * a deny or escalation rate far above its usual one. Keyed by the run whose event set it off, so
 * it is part of that run's timeline. Raised once per agent, kind and subject until acknowledged or
 * until the window has passed.
 */
export const BehaviourFlaggedV1 = Type.Object(
  {
    runId: RunId,
    agentId: AgentId,
    /** The step whose event set it off, when there is one. */
    stepId: Type.Optional(StepId),
    kind: BehaviourAnomalyKind,
    /** What is unusual: the tool, the egress destination (host[:port]), or `cost`, `deny`, `escalation`. */
    subject: Type.String({ minLength: 1, maxLength: 300 }),
    /** The tool, for the anomalies of a tool call. */
    tool: Type.Optional(Type.String({ maxLength: 128 })),
    /** The value seen: the run's cost in model tokens, or the rate over the recent runs (0-1); 1 for a first sight. */
    observed: Type.Number({ minimum: 0 }),
    /** The baseline's value: the mean cost per run, or the rate over the baseline's runs; 0 for a first sight. */
    expected: Type.Number({ minimum: 0 }),
    /** The value above which it is flagged (mean + k standard deviations, or the rate's upper bound). */
    threshold: Type.Optional(Type.Number({ minimum: 0 })),
    /** Completed runs of the agent in the baseline the value was compared with. */
    baselineRuns: Type.Integer({ minimum: 0 }),
    windowDays: Type.Integer({ minimum: 1, maximum: 3650 }),
    reasons: Type.Array(Reason, { minItems: 1, maxItems: 5 }),
  },
  { additionalProperties: false },
);
export type BehaviourFlaggedV1 = Static<typeof BehaviourFlaggedV1>;
