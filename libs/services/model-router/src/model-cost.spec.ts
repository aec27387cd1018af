import { validateEventData, EventTypes } from '@govmesh/contracts';
import { MODEL_PRICES, modelCostUsd } from './builtin-provider';
import { callCost, callMeasures, latencyMs } from './model-cost';

describe('model call cost and latency, as model.completed reports them', () => {
  it('prices both built-in models', () => {
    expect(Object.keys(MODEL_PRICES).sort()).toEqual(['builtin-large', 'builtin-small']);
  });

  it('is tokens × the price per million, with the prices it was computed from', () => {
    expect(callCost('builtin-large', { inputTokens: 1_000_000, outputTokens: 2_000_000 })).toEqual({ amount: 33, currency: 'USD', inputPerMillion: 3, outputPerMillion: 15 });
    expect(callCost('builtin-small', { inputTokens: 2_000_000, outputTokens: 1_000_000 })).toEqual({ amount: 0.9, currency: 'USD', inputPerMillion: 0.15, outputPerMillion: 0.6 });
    const cost = callCost('builtin-small', { inputTokens: 123, outputTokens: 45 })!;
    expect(cost.amount).toBeCloseTo((123 * 0.15 + 45 * 0.6) / 1e6, 15);
    // Exactly what the spend metric counts for the same call.
    expect(cost.amount).toBe(modelCostUsd('builtin-small', { inputTokens: 123, outputTokens: 45 }));
    expect(callCost('builtin-large', { inputTokens: 0, outputTokens: 0 })!.amount).toBe(0);
  });

  it('is unknown, not 0, for a model without a price', () => {
    expect(callCost('someone-elses-model', { inputTokens: 10, outputTokens: 10 })).toBeUndefined();
    expect(callMeasures('someone-elses-model', { inputTokens: 10, outputTokens: 10 }, 0.5)).toEqual({ latencyMs: 500 });
  });

  it('reports latency in milliseconds to the microsecond, never negative', () => {
    expect(latencyMs(0.0123456789)).toBe(12.346);
    expect(latencyMs(2)).toBe(2000);
    expect(latencyMs(0)).toBe(0);
    expect(latencyMs(-1e-9)).toBe(0);
  });

  it('fits the schema of govmesh.model.completed.v1, and events without cost still validate', () => {
    const base = { runId: 'r-1', stepId: 'plan#2', model: 'builtin-large', provider: 'builtin', confidence: 0.9, proposal: { kind: 'no_action', rationale: 'nothing' }, usage: { inputTokens: 10, outputTokens: 5 } };
    expect(validateEventData(EventTypes.ModelCompleted, base)).toBeNull();
    const measured = { ...base, ...callMeasures('builtin-large', base.usage, 0.004) };
    expect(validateEventData(EventTypes.ModelCompleted, measured)).toBeNull();
    const escalated = { ...measured, escalatedFrom: { model: 'builtin-small', provider: 'builtin', confidence: 0.4, usage: base.usage, ...callMeasures('builtin-small', base.usage, 0.001) } };
    expect(validateEventData(EventTypes.ModelCompleted, escalated)).toBeNull();
    expect(validateEventData(EventTypes.ModelCompleted, { ...measured, cost: { ...measured.cost!, amount: -1 } })?.code).toBe('schema_invalid');
    expect(validateEventData(EventTypes.ModelCompleted, { ...measured, cost: { ...measured.cost!, currency: 'EUR' } })?.code).toBe('schema_invalid');
    expect(validateEventData(EventTypes.ModelCompleted, { ...measured, latencyMs: -1 })?.code).toBe('schema_invalid');
  });
});
