import { randomBytes, randomUUID } from 'node:crypto';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { Topics } from '@govmesh/contracts';
import { expectEventually, signedIntentCloudEvent, startMeshFixture, type AgentSigningKey, type MeshFixture } from '@govmesh/testing';

interface OtlpValue {
  stringValue?: string;
  intValue?: string | number;
  boolValue?: boolean;
  doubleValue?: number;
}
interface OtlpSpan {
  traceId: string;
  spanId: string;
  parentSpanId?: string;
  name: string;
  kind: number;
  attributes?: Array<{ key: string; value: OtlpValue }>;
}
interface OtlpExport {
  resourceSpans: Array<{ resource: { attributes: Array<{ key: string; value: OtlpValue }> }; scopeSpans: Array<{ spans: OtlpSpan[] }> }>;
}

/** A span as the collector got it, with its service and plain attributes. */
interface Collected {
  service: string;
  name: string;
  traceId: string;
  spanId: string;
  parentSpanId?: string;
  attributes: Record<string, string | number | boolean | undefined>;
}

const plain = (v: OtlpValue) => v.stringValue ?? (v.intValue !== undefined ? Number(v.intValue) : (v.boolValue ?? v.doubleValue));

/** An OpenTelemetry collector stand-in on OTLP/HTTP with JSON bodies: keeps every span it is sent. */
async function startCollector(): Promise<{ url: string; spans: Collected[]; requests: () => number; server: Server }> {
  const spans: Collected[] = [];
  let requests = 0;
  const server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      requests++;
      if (req.url === '/v1/traces') {
        const body = JSON.parse(Buffer.concat(chunks).toString('utf8')) as OtlpExport;
        for (const rs of body.resourceSpans) {
          const service = String(plain(rs.resource.attributes.find((a) => a.key === 'service.name')!.value));
          for (const ss of rs.scopeSpans) {
            for (const s of ss.spans) {
              spans.push({ service, name: s.name, traceId: s.traceId, spanId: s.spanId, parentSpanId: s.parentSpanId || undefined, attributes: Object.fromEntries((s.attributes ?? []).map((a) => [a.key, plain(a.value)])) });
            }
          }
        }
      }
      res.writeHead(200, { 'content-type': 'application/json' }).end('{}');
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return { url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, spans, requests: () => requests, server };
}

/**
 * Traces across the distributed mesh: every process exports its spans over OTLP to one collector,
 * and one run, published with a W3C traceparent by a plain Kafka client, is one trace across the
 * services that worked on it, with the GenAI spans of the workflow, the model call and the tool call.
 */
describe('OpenTelemetry traces across seven processes', () => {
  let collector: Awaited<ReturnType<typeof startCollector>>;
  let fixture: MeshFixture;
  let agent: AgentSigningKey;

  beforeAll(async () => {
    collector = await startCollector();
    fixture = await startMeshFixture('tracing', [Topics.results], {
      OTEL_EXPORTER_OTLP_ENDPOINT: collector.url,
      OTEL_EXPORTER_OTLP_TRACES_PROTOCOL: 'http/json',
      OTEL_BSP_SCHEDULE_DELAY: '200',
    });
    agent = await fixture.mesh.registerAgentKey('support-assistant', '1.1.0');
  });

  afterAll(async () => {
    await fixture?.stop();
    await new Promise((resolve) => collector?.server.close(resolve));
  });

  it('an intent published with a traceparent is one trace from policy to the verifier, with execute_tool, chat and invoke_workflow spans and no payload', async () => {
    const runId = `traced-${randomUUID()}`;
    const traceId = randomBytes(16).toString('hex');
    const agentSpan = randomBytes(8).toString('hex');
    const task = 'Status of acc-001 please, for the renewal call with Ada';
    const intent = JSON.parse(signedIntentCloudEvent(agent, { intentId: runId, task, input: { accountId: 'acc-001' } })) as Record<string, unknown>;
    await fixture.client.send(Topics.intents, [{ key: runId, value: JSON.stringify({ ...intent, traceparent: `00-${traceId}-${agentSpan}-01` }) }]);

    const [result] = await expectEventually(() => {
      const found = fixture.client.messages(Topics.results).filter((m) => m.key === runId);
      expect(found).toHaveLength(1);
      return found;
    }, { timeoutMs: 60000 });
    expect((result.json as { data: { outcome: string } }).data.outcome).toBe('verified');
    // The result continues the agent's trace.
    expect(result.headers['traceparent']).toMatch(new RegExp(`^00-${traceId}-[0-9a-f]{16}-01$`));

    const trace = await expectEventually(() => {
      const spans = collector.spans.filter((s) => s.traceId === traceId);
      const services = new Set(spans.map((s) => s.service));
      for (const service of ['govmesh-policy', 'govmesh-orchestrator', 'govmesh-context', 'govmesh-model-router', 'govmesh-tool-gateway', 'govmesh-verifier']) expect(services).toContain(service);
      expect(spans.some((s) => s.name.startsWith('execute_tool '))).toBe(true);
      expect(spans.some((s) => s.attributes['govmesh.run.outcome'] === 'verified')).toBe(true);
      return spans;
    }, { timeoutMs: 30000 });

    // Policy's span is the first hop: a child of the agent's span, in the agent's trace.
    const admitted = trace.find((s) => s.service === 'govmesh-policy' && s.attributes['cloudevents.event_type'] === 'govmesh.intent.submitted.v1')!;
    expect(admitted).toMatchObject({ name: 'process govmesh.intents', parentSpanId: agentSpan, attributes: { 'messaging.system': 'kafka', 'messaging.operation.type': 'process', 'messaging.destination.name': 'govmesh.intents', 'govmesh.run.id': runId } });

    // Every span names a parent that is in the trace, or the agent's span (policy and telemetry both consume the intent): no hop leaves a hole.
    const ids = new Set([...trace.map((s) => s.spanId), agentSpan]);
    expect(trace.filter((s) => !ids.has(s.parentSpanId!)).map((s) => `${s.service} ${s.name}`)).toEqual([]);
    expect(trace.filter((s) => s.parentSpanId === agentSpan).map((s) => s.service).sort()).toEqual(['govmesh-policy', 'govmesh-telemetry']);

    // The orchestrator's first move is a child of its consumer span of policy's decision, which is a child of a policy span.
    const byId = new Map(trace.map((s) => [s.spanId, s]));
    const start = trace.find((s) => s.name === 'invoke_workflow retrieve-plan-act-verify' && s.attributes['govmesh.run.input'] === 'start')!;
    expect(start).toMatchObject({ service: 'govmesh-orchestrator', attributes: { 'gen_ai.operation.name': 'invoke_workflow', 'gen_ai.workflow.name': 'retrieve-plan-act-verify' } });
    expect(byId.get(start.parentSpanId!)).toMatchObject({ service: 'govmesh-orchestrator', name: 'process govmesh.decisions' });
    expect(byId.get(byId.get(start.parentSpanId!)!.parentSpanId!)?.service).toBe('govmesh-policy');

    const tool = trace.find((s) => s.name === 'execute_tool sandbox.lookup_account')!;
    expect(tool).toMatchObject({ service: 'govmesh-tool-gateway', attributes: { 'gen_ai.operation.name': 'execute_tool', 'gen_ai.tool.name': 'sandbox.lookup_account', 'govmesh.tool.status': 'succeeded', 'govmesh.run.id': runId } });
    const [execution] = await fixture.db.query<{ id: string }>("SELECT id FROM tool_gateway.executions WHERE run_id = $1 AND agent_id = 'support-assistant'", [runId]);
    expect(tool.attributes['gen_ai.tool.call.id']).toBe(execution.id);
    // The orchestrator's move on the tool's result is under the tool span.
    const onResult = trace.find((s) => s.service === 'govmesh-orchestrator' && s.attributes['cloudevents.event_type'] === 'govmesh.tool.executed.v1')!;
    expect(onResult.parentSpanId).toBe(tool.spanId);

    const chat = trace.find((s) => s.name.startsWith('chat '))!;
    expect(chat).toMatchObject({ service: 'govmesh-model-router', attributes: { 'gen_ai.operation.name': 'chat', 'gen_ai.provider.name': 'builtin' } });
    expect(chat.name).toBe(`chat ${chat.attributes['gen_ai.request.model']}`);
    expect(chat.attributes['gen_ai.usage.input_tokens']).toEqual(expect.any(Number));

    // Ids, names and outcomes only: not the task, the account holder or the tool's output.
    const everything = JSON.stringify(trace);
    for (const secret of ['renewal call', 'Lovelace']) expect(everything).not.toContain(secret);
  });
});
