import { randomUUID } from 'node:crypto';
import { EventTypes, validateEventData, type ModelRequestedV1 } from '@govmesh/contracts';
import { ServiceHarness } from '@govmesh/testing';
import { builtinProvider, MODEL_PRICES, type ModelAnswer } from './builtin-provider';
import { MODEL_ROUTER_DATABASE } from './database';
import { ModelRouterServiceModule } from './model-router.module';
import { learnTools } from './tool-events.fixtures';

const SCHEMA = MODEL_ROUTER_DATABASE.schema;

/** What a call of these tokens costs at the list price of MODEL_PRICES. */
const priced = (model: string, usage: { inputTokens: number; outputTokens: number }) => (usage.inputTokens * MODEL_PRICES[model].inputPerMillion + usage.outputTokens * MODEL_PRICES[model].outputPerMillion) / 1e6;

describe('model router: model.completed carries the call\'s cost and latency', () => {
  let h: ServiceHarness;

  beforeAll(async () => {
    h = await ServiceHarness.start({ modules: [ModelRouterServiceModule], schemas: [SCHEMA] });
    await learnTools(h);
  });
  afterAll(async () => {
    await h?.close();
  });

  async function route(input: Record<string, unknown>, risk: ModelRequestedV1['risk']) {
    const runId = `r-${randomUUID()}`;
    await h.send(h.event(EventTypes.ModelRequested, { runId, stepId: 'plan#2', agentId: 'support-assistant', task: 'Handle it', input, citations: [], risk }));
    const completed = h.emitted(EventTypes.ModelCompleted).filter((e) => e.data.runId === runId);
    expect(completed).toHaveLength(1);
    expect(validateEventData(EventTypes.ModelCompleted, completed[0].data)).toBeNull();
    const ledger = await h.query<{ model: string; input_tokens: number; output_tokens: number }>(`SELECT model, input_tokens, output_tokens FROM "${SCHEMA}"."model_calls" WHERE run_id = $1`, [runId]);
    return { completed: completed[0].data, ledger };
  }

  it('prices a call at its model\'s list price per million tokens, and says how long it took', async () => {
    const { completed, ledger } = await route({ accountId: 'acc-001' }, 'low');
    expect(completed).toMatchObject({ model: 'builtin-small', cost: { currency: 'USD', inputPerMillion: 0.15, outputPerMillion: 0.6 }, latencyMs: expect.any(Number) });
    expect(completed.usage.inputTokens).toBeGreaterThan(0);
    expect(completed.cost!.amount).toBeCloseTo(priced('builtin-small', completed.usage), 15);
    expect(completed.cost!.amount).toBeGreaterThan(0);
    expect(completed.latencyMs).toBeGreaterThanOrEqual(0);
    expect(completed.escalatedFrom).toBeUndefined();
    expect(ledger).toEqual([{ model: 'builtin-small', input_tokens: completed.usage.inputTokens, output_tokens: completed.usage.outputTokens }]);
  });

  it('cost = tokens × price exactly, and the latency is the provider\'s', async () => {
    const spy = jest.spyOn(builtinProvider, 'complete').mockImplementation((): ModelAnswer => {
      const until = Date.now() + 25;
      while (Date.now() < until);
      return { proposal: { kind: 'no_action', rationale: 'nothing to do' }, confidence: 0.99, usage: { inputTokens: 1_000_000, outputTokens: 2_000_000 } };
    });
    try {
      const { completed } = await route({}, 'high');
      expect(completed).toMatchObject({ model: 'builtin-large', usage: { inputTokens: 1_000_000, outputTokens: 2_000_000 }, cost: { amount: 33, currency: 'USD', inputPerMillion: 3, outputPerMillion: 15 } });
      expect(completed.latencyMs).toBeGreaterThanOrEqual(20);
      expect(completed.latencyMs).toBeLessThan(60_000);
    } finally {
      spy.mockRestore();
    }
  });

  it('an escalated request names the first call it paid for too, with its own cost', async () => {
    // A confidence below 0.7 from the small model escalates to the large one.
    const { completed, ledger } = await route({ accountId: 'acc-001', _confidence: 0.5 }, 'low');
    expect(completed).toMatchObject({ model: 'builtin-large', escalatedFrom: { model: 'builtin-small', provider: 'builtin', confidence: 0.5, latencyMs: expect.any(Number) } });
    const first = completed.escalatedFrom!;
    expect(first.cost).toMatchObject({ currency: 'USD', inputPerMillion: 0.15, outputPerMillion: 0.6 });
    expect(first.cost!.amount).toBeCloseTo(priced('builtin-small', first.usage), 15);
    expect(completed.cost!.amount).toBeCloseTo(priced('builtin-large', completed.usage), 15);
    // The event's two calls are the ledger's two calls: the run's model spend is their sum.
    const spend = ledger.reduce((sum, c) => sum + priced(c.model, { inputTokens: c.input_tokens, outputTokens: c.output_tokens }), 0);
    expect(ledger.map((c) => c.model).sort()).toEqual(['builtin-large', 'builtin-small']);
    expect(completed.cost!.amount + first.cost!.amount).toBeCloseTo(spend, 15);
  });
});
