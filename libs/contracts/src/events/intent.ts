import { Type, type Static } from '@sinclair/typebox';
import { AgentId, JsonObject, RunId } from './common';

export const IntentSubmittedV1 = Type.Object(
  {
    intentId: RunId,
    agentId: AgentId,
    agentVersion: Type.Optional(Type.String({ minLength: 1, maxLength: 64 })),
    task: Type.String({ minLength: 1, maxLength: 4000, description: 'what the agent wants done, in words' }),
    input: Type.Optional(JsonObject),
    submittedAt: Type.Optional(Type.String({ format: 'date-time' })),
    /** The workflow to run, by id (its latest published version); the default workflow when absent. */
    workflow: Type.Optional(Type.String({ pattern: '^[a-z][a-z0-9-]{1,63}$' })),
  },
  { additionalProperties: false },
);
export type IntentSubmittedV1 = Static<typeof IntentSubmittedV1>;
