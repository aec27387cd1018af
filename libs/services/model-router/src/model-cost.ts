import type { ModelCompletedV1, ModelCost } from '@govmesh/contracts';
import { MODEL_PRICES, modelCostUsd } from './builtin-provider';

type Usage = ModelCompletedV1['usage'];

/**
 * One call's cost at its model's list price (`MODEL_PRICES`), with the prices it was computed
 * from; the same amount the spend metric counts. Undefined for a model without a price: its
 * cost is unknown, and an event says so by carrying none rather than a made-up 0.
 */
export function callCost(model: string, usage: Usage): ModelCost | undefined {
  const price = MODEL_PRICES[model];
  if (!price) return undefined;
  return { amount: modelCostUsd(model, usage), currency: 'USD', inputPerMillion: price.inputPerMillion, outputPerMillion: price.outputPerMillion };
}

/** A duration in seconds as milliseconds, to the microsecond. */
export function latencyMs(seconds: number): number {
  return Math.max(0, Math.round(seconds * 1e6) / 1e3);
}

/** What a `govmesh.model.completed.v1` says of one call's cost and latency. */
export function callMeasures(model: string, usage: Usage, seconds: number): Pick<ModelCompletedV1, 'cost' | 'latencyMs'> {
  const cost = callCost(model, usage);
  return { ...(cost ? { cost } : {}), latencyMs: latencyMs(seconds) };
}
