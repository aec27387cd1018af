import { randomUUID } from 'node:crypto';
import { NodeSDK } from '@opentelemetry/sdk-node';
import { InMemorySpanExporter, SimpleSpanProcessor, type ReadableSpan } from '@opentelemetry/sdk-trace-base';
import { SpanKind, SpanStatusCode } from '@opentelemetry/api';
import { EventTypes, type GovmeshEvent } from '@govmesh/contracts';
import { ServiceHarness } from '@govmesh/testing';
import { ORCHESTRATOR_DATABASE } from './database';
import { OrchestratorServiceModule } from './orchestrator.module';
import { contextRetrieved, intentDecided, INVOICE_82000 } from './runs/run-events.fixtures';

const SCHEMA = ORCHESTRATOR_DATABASE.schema;
const TRACE_ID = '0af7651916cd43dd8448eb211c80319c';
const POLICY_SPAN = 'b7ad6b7169203331';
const TASK = 'Resolve the exception on inv-1002 for Globex Corporation';
const REASON = 'duplicate PO cleared with Globex accounts payable';

const traced = <E extends GovmeshEvent>(event: E, spanId = POLICY_SPAN): E => ({ ...event, traceparent: `00-${TRACE_ID}-${spanId}-01` });
const named = (spans: ReadableSpan[], name: string) => spans.filter((s) => s.name === name);
const parentOf = (span: ReadableSpan) => span.parentSpanContext?.spanId;

describe('traces of runs: a workflow move per span, a reviewer decision with its approval attributes', () => {
  const exporter = new InMemorySpanExporter();
  const sdk = new NodeSDK({ spanProcessors: [new SimpleSpanProcessor(exporter)], metricReaders: [], logRecordProcessors: [], instrumentations: [], autoDetectResources: false });
  let h: ServiceHarness;
  let financeLead: string;

  beforeAll(async () => {
    sdk.start();
    h = await ServiceHarness.start({ modules: [OrchestratorServiceModule], schemas: [SCHEMA] });
    financeLead = await h.apiKey('reviewer', { groups: ['finance-leads'], name: 'lead' });
  });
  afterAll(async () => {
    await h?.close();
    await sdk.shutdown();
  });

  it('an invoice held for approval and approved: each move is an invoke_workflow span under its event, the decision a decide_review span with status, approver, digest and risk tier, and no payload anywhere', async () => {
    const runId = `r-${randomUUID()}`;
    await h.send(traced(intentDecided(h, runId, 'invoice-exceptions-agent', { task: TASK, input: INVOICE_82000, workflow: 'invoice-exception' })));
    await h.send(traced(contextRetrieved(h, runId)));
    await h.send(
      traced(
        h.event(EventTypes.ModelCompleted, {
          runId,
          stepId: 'assess#2',
          model: 'builtin-large',
          provider: 'builtin',
          confidence: 0.9,
          proposal: { kind: 'no_action', rationale: REASON },
          output: { recommendation: 'pay', amount: 82000, currency: 'EUR', rationale: REASON, confidence: 0.9 },
          usage: { inputTokens: 1, outputTokens: 1 },
        }),
      ),
    );
    const held = traced(
      h.event(EventTypes.ActionDecided, {
        runId,
        stepId: 'pay#4',
        effect: 'require_approval',
        reasons: [{ code: 'above_threshold', message: 'payments above 5000 wait for finance-ops' }],
        policyVersion: 'p1',
        approvers: ['finance-ops', 'finance-leads'],
        effectiveTier: 'execute_high',
      }),
    );
    await h.send(held);
    const [item] = await h.query<{ id: string }>(`SELECT id FROM "${SCHEMA}"."review_items" WHERE run_id = $1 AND status = 'pending'`, [runId]);

    // The move that held the run: a child of the consumer span of policy's decision, itself a child of policy's span.
    const spans = () => exporter.getFinishedSpans().filter((s) => s.attributes['govmesh.run.id'] === runId || s.attributes['govmesh.approval.id'] === item.id);
    const heldMove = named(spans(), 'invoke_workflow invoice-exception').find((s) => s.attributes['govmesh.run.input'] === 'action_decided')!;
    const consumed = exporter.getFinishedSpans().find((s) => s.attributes['cloudevents.event_id'] === held.id)!;
    expect(consumed.kind).toBe(SpanKind.CONSUMER);
    expect(parentOf(consumed)).toBe(POLICY_SPAN);
    expect(parentOf(heldMove)).toBe(consumed.spanContext().spanId);
    expect(heldMove.spanContext().traceId).toBe(TRACE_ID);
    expect(heldMove.attributes).toMatchObject({ 'gen_ai.operation.name': 'invoke_workflow', 'gen_ai.workflow.name': 'invoice-exception', 'govmesh.run.status': 'awaiting_approval', 'govmesh.service': 'orchestrator' });
    // What the move asked for names the move as its parent.
    const requested = h.emitted(EventTypes.ApprovalRequested).find((e) => e.data.runId === runId)!;
    expect(requested.traceparent).toBe(`00-${TRACE_ID}-${heldMove.spanContext().spanId}-01`);

    exporter.reset();
    const decided = await h.http('POST', `/v1/approvals/${item.id}/decision`, { key: financeLead, body: { decision: 'approve', reason: REASON } });
    expect(decided.status).toBe(200);
    await h.settle();

    const [decision] = named(spans(), 'decide_review approval');
    const approvedEvent = h.emitted(EventTypes.ApprovalDecided).find((e) => e.data.approvalId === item.id)!;
    expect(decision.attributes).toMatchObject({
      'govmesh.approval.id': item.id,
      'govmesh.approval.kind': 'approval',
      'govmesh.approval.status': 'approved',
      'govmesh.approval.approver': approvedEvent.data.reviewer!.id,
      'govmesh.approval.action_digest': approvedEvent.data.digest,
      'govmesh.approval.risk_tier': 'execute_high',
      // Above 50,000 the item starts at finance-leads, the second level.
      'govmesh.approval.level': 2,
    });
    expect(approvedEvent.data.digest).toMatch(/^[0-9a-f]{64}$/);
    // The decision is a child of the move that took it (a reviewer over HTTP: a trace of its own).
    const [decisionMove] = named(spans(), 'invoke_workflow invoice-exception');
    expect(decisionMove.attributes['govmesh.run.input']).toBe('review');
    expect(parentOf(decision)).toBe(decisionMove.spanContext().spanId);
    expect(decision.spanContext().traceId).toBe(decisionMove.spanContext().traceId);
    expect(approvedEvent.traceparent).toBe(`00-${decision.spanContext().traceId}-${decision.spanContext().spanId}-01`);
    const reproposed = h.emittedFor(runId).filter((e) => e.type === EventTypes.ActionProposed).at(-1)!;
    expect(reproposed.traceparent).toBe(`00-${decisionMove.spanContext().traceId}-${decisionMove.spanContext().spanId}-01`);

    // Ids, names, codes and the digest: never the task, the reason, the invoice or its amount.
    const everything = JSON.stringify([...exporter.getFinishedSpans(), heldMove, consumed].map((s) => ({ name: s.name, attributes: s.attributes, events: s.events })));
    for (const secret of ['Globex', 'duplicate PO', 'inv-1002', '82000', 'EUR']) expect(everything).not.toContain(secret);

    // Deciding it again is refused by the interpreter: that move ends failed, with the refusal's code.
    exporter.reset();
    expect(await h.http('POST', `/v1/approvals/${item.id}/decision`, { key: financeLead, body: { decision: 'reject' } })).toMatchObject({ status: 409, body: { code: 'review_closed' } });
    const refused = named(spans(), 'invoke_workflow invoice-exception');
    expect(refused.map((s) => [s.attributes['govmesh.run.input'], s.attributes['error.type'], s.status.code])).toEqual([['review', 'review_closed', SpanStatusCode.ERROR]]);
    expect(named(spans(), 'decide_review approval')).toEqual([]);
  });
});
