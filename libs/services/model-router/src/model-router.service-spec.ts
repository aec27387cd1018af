import { randomUUID } from 'node:crypto';
import { Logger } from '@nestjs/common';
import { EventTypes, type ModelRequestedV1 } from '@govmesh/contracts';
import { ServiceHarness } from '@govmesh/testing';
import { builtinProvider, modelCostUsd, type ModelAnswer, type ModelRequest } from './builtin-provider';
import { MODEL_ROUTER_DATABASE } from './database';
import { ModelRouterServiceModule } from './model-router.module';
import { learnTools, SEED_WORKFLOW_TOOLS, toolManifest, toolRegistered } from './tool-events.fixtures';

const SCHEMA = MODEL_ROUTER_DATABASE.schema;

describe('model router: tools learned from the tool manifest, offered to the model, proposals checked', () => {
  let h: ServiceHarness;

  beforeAll(async () => {
    h = await ServiceHarness.start({ modules: [ModelRouterServiceModule], schemas: [SCHEMA] });
    // The router knows only the tools the gateway told it of: the seed workflows' tools, as at the gateway's start.
    await learnTools(h);
  });
  afterAll(async () => {
    await h?.close();
  });

  /** A tool name no other case uses. */
  const toolName = (operation = 'read') => `crm${randomUUID().slice(0, 8)}.${operation}`;
  const readTool = (name: string, version = '1.0.0') =>
    toolManifest(name, { version, sideEffect: 'read', description: `read a record of ${name} (${version})`, inputSchema: { type: 'object', required: ['id'], additionalProperties: false, properties: { id: { type: 'string', maxLength: 64 } } } });

  /** Asks the router for a model decision and answers what it completed with, and what the provider was offered. */
  async function ask(input: Record<string, unknown>, options: { task?: string; risk?: ModelRequestedV1['risk']; outputSchema?: Record<string, unknown> } = {}) {
    const runId = `r-${randomUUID()}`;
    const requests: ModelRequest[] = [];
    const complete = builtinProvider.complete.bind(builtinProvider);
    const spy = jest.spyOn(builtinProvider, 'complete').mockImplementation((model, request) => {
      requests.push(request);
      return complete(model, request);
    });
    try {
      await h.send(
        h.event(EventTypes.ModelRequested, {
          runId,
          stepId: 'plan',
          agentId: 'support-assistant',
          task: options.task ?? 'Handle it',
          input,
          citations: [],
          risk: options.risk ?? 'low',
          ...(options.outputSchema ? { outputSchema: options.outputSchema } : {}),
        }),
      );
    } finally {
      spy.mockRestore();
    }
    const completed = h.emitted(EventTypes.ModelCompleted).filter((e) => e.data.runId === runId);
    expect(completed).toHaveLength(1);
    return { runId, completed: completed[0].data, requests, offered: requests[0]?.tools.map((t) => t.name) ?? [] };
  }

  /** Makes the provider answer this proposal (as a real model might), then routes the request. */
  async function proposing(proposal: ModelAnswer['proposal'], risk: ModelRequestedV1['risk'] = 'high') {
    const spy = jest.spyOn(builtinProvider, 'complete').mockReturnValue({ proposal, confidence: 0.99, usage: { inputTokens: 10, outputTokens: 5 } });
    try {
      const runId = `r-${randomUUID()}`;
      await h.send(h.event(EventTypes.ModelRequested, { runId, stepId: 'plan', agentId: 'support-assistant', task: 'x', input: {}, citations: [], risk }));
      return { runId, completed: h.emitted(EventTypes.ModelCompleted).find((e) => e.data.runId === runId)!.data };
    } finally {
      spy.mockRestore();
    }
  }

  const toolRow = async (name: string) => (await h.query<{ version: string; status: string; description: string }>(`SELECT version, status, description FROM "${SCHEMA}"."tools" WHERE name = $1`, [name]))[0];
  const ledger = (runId: string) =>
    h.query<{ model: string; routing_reason: string; confidence: number; tools_offered: number; tool_catalog: string; proposal_refused: string | null }>(
      `SELECT model, routing_reason, confidence, tools_offered, tool_catalog, proposal_refused FROM "${SCHEMA}"."model_calls" WHERE run_id = $1 ORDER BY created_at, model DESC`,
      [runId],
    );
  const refusedCount = async (reason: string, model: string) => (await h.metrics.modelProposalsRefused.get()).values.find((v) => v.labels['reason'] === reason && v.labels['model'] === model)?.value ?? 0;
  const eventsRefused = async (reason: string) => (await h.metrics.toolEventsRefused.get()).values.find((v) => v.labels['reason'] === reason)?.value ?? 0;

  describe('the seed workflows, with their tools registered', () => {
    it('proposes the same calls as before the catalog existed', async () => {
      const invoice = await ask({ invoiceId: 'inv-1001', amount: 1200, currency: 'EUR', vendor: 'Acme Supplies' });
      expect(invoice.completed).toEqual({
        runId: invoice.runId,
        stepId: 'plan',
        model: 'builtin-small',
        provider: 'builtin',
        confidence: 0.95,
        proposal: { kind: 'tool_call', tool: 'invoices.approve_payment', arguments: { invoiceId: 'inv-1001', amount: 1200, currency: 'EUR' }, rationale: 'approve invoice inv-1001 for payment of 1200 EUR (context: no documents)' },
        usage: expect.any(Object),
        cost: expect.objectContaining({ currency: 'USD' }),
        latencyMs: expect.any(Number),
      });
      expect((await ask({ ticketId: 'tkt-3001', priority: 'high', assigneeGroup: 'identity' })).completed).toMatchObject({
        confidence: 0.95,
        proposal: { kind: 'tool_call', tool: 'tickets.update', arguments: { ticketId: 'tkt-3001', priority: 'high', assigneeGroup: 'identity' } },
      });
      expect((await ask({ accountId: 'acc-001' })).completed).toMatchObject({ confidence: 0.95, proposal: { kind: 'tool_call', tool: 'sandbox.lookup_account', arguments: { accountId: 'acc-001' } } });
      const fromTask = await ask({}, { task: 'Customer asks about acc-003, is it active?' });
      expect(fromTask.completed).toMatchObject({ model: 'builtin-small', confidence: 0.75, proposal: { tool: 'sandbox.lookup_account', arguments: { accountId: 'acc-003' } } });
      expect(fromTask.completed.reasons).toBeUndefined();
    });

    it('counts every call\'s tokens, list-price cost and latency by model, the escalated call included', async () => {
      const read = async () => {
        const by = async (metric: { get(): Promise<{ values: Array<{ labels: Record<string, unknown>; value: number; metricName?: string }> }> }, model: string, extra: Record<string, string> = {}, name?: string) =>
          (await metric.get()).values.find((v) => v.labels['model'] === model && (!name || v.metricName === name) && Object.entries(extra).every(([k, l]) => v.labels[k] === l))?.value ?? 0;
        const m = h.metrics;
        return Object.fromEntries(
          await Promise.all(
            ['builtin-small', 'builtin-large'].flatMap((model) => [
              [`${model} input`, by(m.modelTokens, model, { direction: 'input' })],
              [`${model} output`, by(m.modelTokens, model, { direction: 'output' })],
              [`${model} cost`, by(m.modelCost, model)],
              [`${model} timed`, by(m.modelCallDuration, model, {}, 'govmesh_model_call_duration_seconds_count')],
            ]).map(async ([k, v]) => [k, await (v as Promise<number>)] as const),
          ),
        ) as Record<string, number>;
      };
      const before = await read();
      // Unsure: the small model answers, then the large one.
      const unsure = await ask({}, { task: 'Summarise our refund policy' });
      const after = await read();
      const calls = await h.query<{ model: string; input_tokens: number; output_tokens: number }>(`SELECT model, input_tokens, output_tokens FROM "${SCHEMA}"."model_calls" WHERE run_id = $1`, [unsure.runId]);
      expect(calls.map((c) => c.model).sort()).toEqual(['builtin-large', 'builtin-small']);
      for (const c of calls) {
        expect(after[`${c.model} input`] - before[`${c.model} input`]).toBe(c.input_tokens);
        expect(after[`${c.model} output`] - before[`${c.model} output`]).toBe(c.output_tokens);
        expect(after[`${c.model} cost`] - before[`${c.model} cost`]).toBeCloseTo(modelCostUsd(c.model, { inputTokens: c.input_tokens, outputTokens: c.output_tokens }), 12);
        expect(after[`${c.model} cost`]).toBeGreaterThan(before[`${c.model} cost`]);
        expect(after[`${c.model} timed`]).toBe(before[`${c.model} timed`] + 1);
      }
      // The large model is priced above the small one.
      expect(modelCostUsd('builtin-large', { inputTokens: 100, outputTokens: 100 })).toBeGreaterThan(modelCostUsd('builtin-small', { inputTokens: 100, outputTokens: 100 }));
    });

    it('still escalates an unsure small model to the large one, and answers structured output as before', async () => {
      const unsure = await ask({}, { task: 'Summarise our refund policy' });
      expect(unsure.completed).toMatchObject({ model: 'builtin-large', confidence: 0.9, proposal: { kind: 'no_action', rationale: 'no account id in the task or input, so there is nothing to look up' } });
      expect((await ledger(unsure.runId)).map((c) => c.routing_reason)).toEqual(['low risk: cheapest capable model', 'escalated: builtin-small confidence 0.4 below 0.7']);
      const structured = await ask({ priority: 'high', assigneeGroup: 'identity' }, { outputSchema: { type: 'object', required: ['priority', 'assigneeGroup'], properties: { priority: { type: 'string' }, assigneeGroup: { type: 'string' } } } });
      expect(structured.completed).toMatchObject({ confidence: 0.95, proposal: { kind: 'no_action' }, output: { priority: 'high', assigneeGroup: 'identity' } });
    });
  });

  describe('the catalog: learned from the tool gateway\'s events only', () => {
    it('offers every active tool with its description and input schema, and records the offer in the ledger', async () => {
      const name = toolName();
      const manifest = readTool(name);
      await h.send(toolRegistered(h, manifest));
      expect(await toolRow(name)).toEqual({ version: '1.0.0', status: 'active', description: manifest.description });
      const { runId, requests, offered } = await ask({ accountId: 'acc-001' });
      expect(offered).toEqual(expect.arrayContaining([name, ...SEED_WORKFLOW_TOOLS.map((t) => t.name)]));
      expect(requests[0].tools.find((t) => t.name === name)).toEqual({ name, description: manifest.description, inputSchema: manifest.inputSchema });
      const [call] = await ledger(runId);
      expect(call).toMatchObject({ tools_offered: offered.length, tool_catalog: expect.stringMatching(/^[0-9a-f]{16}$/), proposal_refused: null });
    });

    it('neither offers nor proposes a retired tool, until a newer version is registered', async () => {
      const pay = SEED_WORKFLOW_TOOLS.find((t) => t.name === 'invoices.approve_payment')!;
      const invoice = { invoiceId: 'inv-1002', amount: 300, currency: 'EUR' };
      await h.send(toolRegistered(h, pay, { change: 'retired' }));
      expect(await toolRow(pay.name)).toMatchObject({ version: '1.0.0', status: 'retired' });
      try {
        const retired = await ask(invoice);
        expect(retired.offered).not.toContain(pay.name);
        expect(retired.completed.proposal).toEqual({ kind: 'no_action', rationale: 'invoices.approve_payment would fit the input, but it is not among the offered tools, so there is nothing to propose' });
        // A model that proposes it anyway is refused.
        const before = await refusedCount('tool_retired', 'builtin-large');
        const forced = await proposing({ kind: 'tool_call', tool: pay.name, arguments: invoice, rationale: 'pay it' });
        expect(forced.completed).toMatchObject({ confidence: 0, proposal: { kind: 'no_action' }, reasons: [{ code: 'tool_retired', message: 'the model proposed tool "invoices.approve_payment", which the tool manifest retired' }] });
        expect(await refusedCount('tool_retired', 'builtin-large')).toBe(before + 1);
      } finally {
        // A newer version brings it back (the gateway refuses the same version again).
        await h.send(toolRegistered(h, { ...pay, version: '1.1.0' }, { change: 'updated', previousVersion: '1.0.0' }));
      }
      expect(await toolRow(pay.name)).toMatchObject({ version: '1.1.0', status: 'active' });
      expect((await ask(invoice)).completed.proposal).toMatchObject({ kind: 'tool_call', tool: pay.name });
    });

    it('keeps the newest version when an older one arrives later, in a later batch or the same one', async () => {
      const late = toolName();
      const together = toolName();
      const now = Date.now();
      // 10.0.0 is newer than 9.5.0 (by number, not by text).
      await h.send(toolRegistered(h, readTool(late, '10.0.0'), { time: new Date(now) }));
      await h.send(toolRegistered(h, readTool(late, '9.5.0'), { time: new Date(now + 60_000) }));
      await h.send(toolRegistered(h, readTool(together, '10.0.0'), { time: new Date(now) }), toolRegistered(h, readTool(together, '9.5.0'), { time: new Date(now + 60_000) }));
      for (const name of [late, together]) expect(await toolRow(name)).toMatchObject({ version: '10.0.0', status: 'active', description: `read a record of ${name} (10.0.0)` });
      const { requests } = await ask({});
      expect(requests[0].tools.find((t) => t.name === late)?.description).toBe(`read a record of ${late} (10.0.0)`);
    });

    it('keeps the later event of one version: a stale registration does not undo a retirement', async () => {
      const name = toolName();
      const now = Date.now();
      await h.send(toolRegistered(h, readTool(name), { change: 'retired', time: new Date(now) }));
      await h.send(toolRegistered(h, readTool(name), { time: new Date(now - 60_000) }));
      expect(await toolRow(name)).toMatchObject({ version: '1.0.0', status: 'retired' });
      expect((await ask({})).offered).not.toContain(name);
    });

    it('learns nothing from an event another producer than the tool gateway sent, counting and logging it', async () => {
      const name = toolName();
      const lookup = SEED_WORKFLOW_TOOLS.find((t) => t.name === 'sandbox.lookup_account')!;
      const before = await eventsRefused('untrusted_source');
      const warn = jest.spyOn(Logger.prototype, 'warn');
      try {
        await h.send(
          toolRegistered(h, readTool(name), { source: 'govmesh/policy' }),
          toolRegistered(h, readTool(`${name}x`), { source: 'urn:outside-producer' }),
          // A forged retirement of a seed tool, and a forged newer version with a looser schema.
          toolRegistered(h, lookup, { change: 'retired', source: 'urn:outside-producer' }),
          toolRegistered(h, { ...lookup, version: '9.0.0', inputSchema: { type: 'object' } }, { change: 'updated', source: 'urn:outside-producer' }),
        );
        expect(await toolRow(name)).toBeUndefined();
        expect(await toolRow(`${name}x`)).toBeUndefined();
        expect(await toolRow(lookup.name)).toMatchObject({ version: '1.0.0', status: 'active' });
        expect(await eventsRefused('untrusted_source')).toBe(before + 4);
        const lines = warn.mock.calls.map((c) => String(c[0])).filter((l) => l.includes(name));
        expect(lines).toEqual([expect.stringContaining('from "govmesh/policy": only the tool gateway registers tools'), expect.stringContaining('from "urn:outside-producer": only the tool gateway registers tools')]);
      } finally {
        warn.mockRestore();
      }
      expect((await ask({ accountId: 'acc-001' })).completed.proposal).toMatchObject({ kind: 'tool_call', tool: lookup.name });
    });

    it('learns nothing from an event whose manifest is of another tool than it names', async () => {
      const name = toolName();
      const before = await eventsRefused('manifest_name_mismatch');
      const event = toolRegistered(h, readTool(name));
      await h.send({ ...event, data: { ...event.data, manifest: { ...event.data.manifest, name: toolName() } } });
      expect(await toolRow(name)).toBeUndefined();
      expect(await eventsRefused('manifest_name_mismatch')).toBe(before + 1);
    });
  });

  describe('proposals: checked against the catalog before they leave the router', () => {
    it('refuses arguments that do not match the input schema, with the validation path, escalating first, counted and logged without the values', async () => {
      const small = await refusedCount('tool_arguments_invalid', 'builtin-small');
      const large = await refusedCount('tool_arguments_invalid', 'builtin-large');
      const warn = jest.spyOn(Logger.prototype, 'warn');
      let lines: string[] = [];
      let asked: Awaited<ReturnType<typeof ask>>;
      try {
        asked = await ask({ invoiceId: 'INV-77aq', amount: -4242.5, currency: 'EUR' });
        lines = warn.mock.calls.map((c) => String(c[0])).filter((l) => l.includes(asked.runId));
      } finally {
        warn.mockRestore();
      }
      const { runId, completed } = asked;
      expect(completed).toMatchObject({ model: 'builtin-large', confidence: 0, proposal: { kind: 'no_action', rationale: expect.stringMatching(/^the router refused the model's proposal: the model proposed invoices\.approve_payment \d+\.\d+\.\d+ with arguments/) } });
      expect(completed.reasons).toHaveLength(1);
      expect(completed.reasons![0].code).toBe('tool_arguments_invalid');
      expect(completed.reasons![0].message).toContain('/invoiceId must match pattern "^inv-[0-9]{3,12}$"');
      expect(completed.reasons![0].message).toContain('/amount must be > 0');
      expect(await refusedCount('tool_arguments_invalid', 'builtin-small')).toBe(small + 1);
      expect(await refusedCount('tool_arguments_invalid', 'builtin-large')).toBe(large + 1);
      expect(await ledger(runId)).toEqual([
        expect.objectContaining({ model: 'builtin-small', routing_reason: 'low risk: cheapest capable model', proposal_refused: 'tool_arguments_invalid' }),
        expect.objectContaining({ model: 'builtin-large', routing_reason: 'escalated: builtin-small proposal refused (tool_arguments_invalid)', proposal_refused: 'tool_arguments_invalid' }),
      ]);
      expect(lines).toEqual([
        `refused the proposal of builtin-small on run ${runId} step "plan": tool_arguments_invalid (tool "invoices.approve_payment" at /amount exclusiveMinimum, /invoiceId pattern)`,
        `refused the proposal of builtin-large on run ${runId} step "plan": tool_arguments_invalid (tool "invoices.approve_payment" at /amount exclusiveMinimum, /invoiceId pattern)`,
      ]);
      expect(lines.join('\n')).not.toMatch(/4242|INV-77aq/);
    });

    it('refuses a tool the catalog does not have, whatever the model\'s confidence', async () => {
      const before = await refusedCount('tool_not_in_catalog', 'builtin-large');
      const { completed } = await proposing({ kind: 'tool_call', tool: 'erp.wire_money', arguments: { to: 'x', amount: 1 }, rationale: 'send it' });
      expect(completed).toMatchObject({
        confidence: 0,
        proposal: { kind: 'no_action', rationale: 'the router refused the model\'s proposal: the model proposed tool "erp.wire_money", which is not in the tool catalog' },
        reasons: [{ code: 'tool_not_in_catalog' }],
      });
      expect(await refusedCount('tool_not_in_catalog', 'builtin-large')).toBe(before + 1);
    });

    it('passes a valid proposal of any registered tool on as it is', async () => {
      const name = toolName();
      await h.send(toolRegistered(h, readTool(name)));
      const { completed } = await proposing({ kind: 'tool_call', tool: name, arguments: { id: 'c-1' }, rationale: 'read it' });
      expect(completed).toMatchObject({ confidence: 0.99, proposal: { kind: 'tool_call', tool: name, arguments: { id: 'c-1' } } });
      expect(completed.reasons).toBeUndefined();
      const refused = await proposing({ kind: 'tool_call', tool: name, arguments: { id: 'c-1', extra: true }, rationale: 'read it' });
      expect(refused.completed.reasons).toEqual([{ code: 'tool_arguments_invalid', message: `the model proposed ${name} 1.0.0 with arguments that do not match its input schema: / must NOT have additional properties (extra)` }]);
    });
  });
});
