import { createServer, type IncomingHttpHeaders, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { context, ProxyTracerProvider, trace } from '@opentelemetry/api';
import { contextOfTraceparent, startGovmeshSpan, traceparentOfSpan, withSpan, activeTraceparent } from './tracing';
import { runningTracing, startTracing, tracingSettings } from './tracing-sdk';

interface Received {
  path: string;
  headers: IncomingHttpHeaders;
  body: string;
}

/** An OTLP/HTTP collector stand-in: records every request and answers 200. */
async function collector(): Promise<{ url: string; received: Received[]; server: Server }> {
  const received: Received[] = [];
  const server = createServer((req, res) => {
    let body = '';
    req.on('data', (chunk: Buffer) => (body += chunk.toString('utf8')));
    req.on('end', () => {
      received.push({ path: req.url ?? '', headers: req.headers, body });
      res.writeHead(200, { 'content-type': 'application/json' }).end('{}');
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return { url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, received, server };
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

describe('tracingSettings', () => {
  it('is off without an OTLP endpoint, whatever else is set', () => {
    expect(tracingSettings({}, 'policy')).toBeNull();
    expect(tracingSettings({ OTEL_SERVICE_NAME: 'x', OTEL_EXPORTER_OTLP_TRACES_PROTOCOL: 'http/json', OTEL_EXPORTER_OTLP_ENDPOINT: ' ' }, 'policy')).toBeNull();
  });

  it('is off when the SDK is disabled or the traces exporter is none', () => {
    expect(tracingSettings({ OTEL_EXPORTER_OTLP_ENDPOINT: 'http://otel:4318', OTEL_SDK_DISABLED: 'true' }, 'policy')).toBeNull();
    expect(tracingSettings({ OTEL_EXPORTER_OTLP_ENDPOINT: 'http://otel:4318', OTEL_TRACES_EXPORTER: 'none' }, 'policy')).toBeNull();
  });

  it('names a service process govmesh-<service> and the embedded mesh govmesh, unless OTEL_SERVICE_NAME says otherwise', () => {
    expect(tracingSettings({ OTEL_EXPORTER_OTLP_ENDPOINT: 'http://otel:4318' }, 'tool-gateway')).toEqual({ endpoint: 'http://otel:4318/', serviceName: 'govmesh-tool-gateway', protocol: 'http/protobuf' });
    expect(tracingSettings({ OTEL_EXPORTER_OTLP_TRACES_ENDPOINT: 'http://otel:4318/v1/traces' }, 'embedded')?.serviceName).toBe('govmesh');
    expect(tracingSettings({ OTEL_EXPORTER_OTLP_ENDPOINT: 'http://otel:4318', OTEL_SERVICE_NAME: 'payments-mesh' }, 'embedded')?.serviceName).toBe('payments-mesh');
  });

  it('prefers the traces endpoint, and never repeats credentials written into the URL', () => {
    const settings = tracingSettings({ OTEL_EXPORTER_OTLP_ENDPOINT: 'http://a:4318', OTEL_EXPORTER_OTLP_TRACES_ENDPOINT: 'https://user:s3cret@b:4318/v1/traces', OTEL_EXPORTER_OTLP_TRACES_PROTOCOL: 'http/json' }, 'policy');
    expect(settings?.endpoint).toBe('https://redacted@b:4318/v1/traces');
    expect(settings?.protocol).toBe('http/json');
  });
});

describe('traceparents of spans', () => {
  it('reads a W3C traceparent as a remote parent, and the no-op tracer makes no span of its own', () => {
    const parent = contextOfTraceparent('00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01');
    expect(trace.getSpanContext(parent)).toMatchObject({ traceId: '4bf92f3577b34da6a3ce929d0e0e4736', spanId: '00f067aa0ba902b7', traceFlags: 1, isRemote: true });
    const { span } = startGovmeshSpan('process govmesh.intents', { parent });
    // The no-op stand-in repeats its parent's ids: it must not be named as a parent of anything.
    expect(traceparentOfSpan(span, parent)).toBeUndefined();
    expect(withSpan(span, parent, () => activeTraceparent())).toBeUndefined();
    expect(contextOfTraceparent('not-a-traceparent')).toBe(context.active());
  });
});

describe('startTracing', () => {
  let otlp: Awaited<ReturnType<typeof collector>>;
  const saved = { ...process.env };

  beforeAll(async () => {
    otlp = await collector();
  });

  afterAll(async () => {
    process.env = saved;
    await runningTracing()?.shutdown();
    await new Promise((resolve) => otlp.server.close(resolve));
  });

  it('without an endpoint starts nothing: spans are no-ops and nothing is exported', async () => {
    delete process.env['OTEL_EXPORTER_OTLP_ENDPOINT'];
    delete process.env['OTEL_EXPORTER_OTLP_TRACES_ENDPOINT'];
    expect(await startTracing('policy')).toBeNull();
    expect(runningTracing()).toBeNull();
    expect((trace.getTracerProvider() as ProxyTracerProvider).getDelegateTracer('govmesh')).toBeUndefined();
    const { span } = startGovmeshSpan('process govmesh.intents');
    expect(span.isRecording()).toBe(false);
    span.end();
    await sleep(300);
    expect(otlp.received).toEqual([]);
  });

  it('with OTEL_EXPORTER_OTLP_ENDPOINT exports spans over OTLP with the service name and the headers asked for, flushed at shutdown', async () => {
    Object.assign(process.env, {
      OTEL_EXPORTER_OTLP_ENDPOINT: otlp.url,
      OTEL_EXPORTER_OTLP_TRACES_PROTOCOL: 'http/json',
      OTEL_EXPORTER_OTLP_HEADERS: 'x-collector-key=k-123',
      // Long enough that only the shutdown's flush can have sent the span.
      OTEL_BSP_SCHEDULE_DELAY: '60000',
    });
    const tracing = await startTracing('policy');
    expect(tracing).toMatchObject({ serviceName: 'govmesh-policy', protocol: 'http/json' });
    expect(await startTracing('orchestrator')).toBe(tracing);

    const parent = contextOfTraceparent('00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01');
    const { span } = startGovmeshSpan('process govmesh.intents', { parent, attributes: { 'govmesh.service': 'policy' } });
    expect(traceparentOfSpan(span, parent)).toMatch(/^00-4bf92f3577b34da6a3ce929d0e0e4736-[0-9a-f]{16}-01$/);
    span.end();
    expect(otlp.received).toEqual([]);

    await tracing!.shutdown();
    expect(runningTracing()).toBeNull();
    const exports = otlp.received.filter((r) => r.path === '/v1/traces');
    expect(exports).toHaveLength(1);
    expect(exports[0].headers['x-collector-key']).toBe('k-123');
    const body = JSON.parse(exports[0].body) as { resourceSpans: Array<{ resource: { attributes: Array<{ key: string; value: { stringValue?: string } }> }; scopeSpans: Array<{ scope: { name: string }; spans: Array<{ name: string; traceId: string; parentSpanId: string }> }> }> };
    const resource = Object.fromEntries(body.resourceSpans[0].resource.attributes.map((a) => [a.key, a.value.stringValue]));
    expect(resource).toMatchObject({ 'service.name': 'govmesh-policy', 'service.namespace': 'govmesh' });
    const [scope] = body.resourceSpans[0].scopeSpans;
    expect(scope.scope.name).toBe('govmesh');
    expect(scope.spans.map((s) => s.name)).toEqual(['process govmesh.intents']);
    expect(scope.spans[0].traceId).toBe('4bf92f3577b34da6a3ce929d0e0e4736');
    expect(scope.spans[0].parentSpanId).toBe('00f067aa0ba902b7');
    // Traces only: no metrics or logs exporter talks to the collector.
    expect(otlp.received.map((r) => r.path)).toEqual(['/v1/traces']);
  });
});
