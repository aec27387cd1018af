import { Type, type Static } from '@sinclair/typebox';
import { JsonObject, RunId } from './common';

/**
 * A durable timer came due. Timers are rows in the owning service's schema; the service's relay
 * claims due ones with SKIP LOCKED and publishes this event through its outbox, keyed by the run
 * id, so it is ordered with the run's other events. The owner checks that the timer is one it set
 * and fired before acting on it: a forged timer event changes nothing.
 */
export const TimerFiredV1 = Type.Object(
  {
    timerId: Type.String({ minLength: 1, maxLength: 200 }),
    service: Type.String({ minLength: 1, maxLength: 64, description: 'the service that set the timer and acts on it' }),
    purpose: Type.String({ pattern: '^[a-z][a-z0-9_]*$', maxLength: 64, description: 'what the timer is for, e.g. run_deadline' }),
    runId: RunId,
    dueAt: Type.String({ format: 'date-time' }),
    payload: Type.Optional(JsonObject),
  },
  { additionalProperties: false },
);
export type TimerFiredV1 = Static<typeof TimerFiredV1>;
