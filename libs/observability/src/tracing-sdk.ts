/**
 * Starting and stopping the OpenTelemetry SDK of a govmesh process.
 *
 * Traces are exported only when an OTLP endpoint is configured (`OTEL_EXPORTER_OTLP_ENDPOINT` or
 * `OTEL_EXPORTER_OTLP_TRACES_ENDPOINT`), and neither `OTEL_SDK_DISABLED=true` nor
 * `OTEL_TRACES_EXPORTER=none` says otherwise. Without one the SDK is not even loaded: the API's
 * no-op tracer stays in place and tracing costs nothing.
 *
 * One SDK per process. A process running one service names itself `govmesh-<service>`; the
 * embedded process, seven services in one, is `govmesh`, and each span says which service did the
 * work in `govmesh.service`. `OTEL_SERVICE_NAME` and `OTEL_RESOURCE_ATTRIBUTES` win over both. The
 * rest of the `OTEL_*` variables (protocol, headers, sampler, batch sizes) are the SDK's own.
 */

export interface TracingSettings {
  /** Where spans go: the traces endpoint when set, else the general one. For logs only; may hold credentials in its userinfo, so it is redacted. */
  endpoint: string;
  serviceName: string;
  protocol: string;
}

export interface RunningTracing extends TracingSettings {
  /** Flushes the spans not exported yet and stops the SDK. */
  shutdown(): Promise<void>;
}

const isTrue = (value: string | undefined) => value?.trim().toLowerCase() === 'true';
const nonEmpty = (value: string | undefined) => (value && value.trim() !== '' ? value.trim() : undefined);

/** The `service.name` of a process: `govmesh` for the embedded mesh, `govmesh-<service>` otherwise. */
export function defaultServiceName(processName: string): string {
  return processName === 'embedded' ? 'govmesh' : `govmesh-${processName}`;
}

/** Whether this environment asks for traces, and how; null when tracing stays off. */
export function tracingSettings(env: NodeJS.ProcessEnv, processName: string): TracingSettings | null {
  const endpoint = nonEmpty(env['OTEL_EXPORTER_OTLP_TRACES_ENDPOINT']) ?? nonEmpty(env['OTEL_EXPORTER_OTLP_ENDPOINT']);
  if (!endpoint || isTrue(env['OTEL_SDK_DISABLED'])) return null;
  const exporters = (env['OTEL_TRACES_EXPORTER'] ?? '').split(',').map((e) => e.trim()).filter(Boolean);
  if (exporters[0] === 'none') return null;
  return {
    endpoint: redactUserinfo(endpoint),
    serviceName: nonEmpty(env['OTEL_SERVICE_NAME']) ?? defaultServiceName(processName),
    protocol: nonEmpty(env['OTEL_EXPORTER_OTLP_TRACES_PROTOCOL']) ?? nonEmpty(env['OTEL_EXPORTER_OTLP_PROTOCOL']) ?? 'http/protobuf',
  };
}

function redactUserinfo(url: string): string {
  try {
    const parsed = new URL(url);
    if (parsed.username || parsed.password) {
      parsed.username = 'redacted';
      parsed.password = '';
    }
    return parsed.toString();
  } catch {
    return url;
  }
}

let running: RunningTracing | null = null;

/**
 * Starts the SDK when the environment asks for traces; null (and nothing loaded) otherwise. A
 * second call in one process answers the running SDK: embedded or not, a process has one.
 */
export async function startTracing(processName: string, env: NodeJS.ProcessEnv = process.env): Promise<RunningTracing | null> {
  if (running) return running;
  const settings = tracingSettings(env, processName);
  if (!settings) return null;
  // Loaded only now: a process without an endpoint never pays for the SDK.
  const [{ NodeSDK }, resources] = await Promise.all([import('@opentelemetry/sdk-node'), import('@opentelemetry/resources')]);
  const sdk = new NodeSDK({
    // Env detection (OTEL_SERVICE_NAME, OTEL_RESOURCE_ATTRIBUTES) is merged over this resource, so it wins.
    resource: resources.defaultResource().merge(resources.resourceFromAttributes({ 'service.name': defaultServiceName(processName), 'service.namespace': 'govmesh' })),
    resourceDetectors: [resources.envDetector, resources.hostDetector],
    // No auto-instrumentation: HTTP, database and Kafka client instrumentations record URLs,
    // statements and headers, where payloads and credentials live. govmesh records its own spans.
    instrumentations: [],
    // Traces only: metrics stay on Prometheus (/metrics), logs on stdout.
    metricReaders: [],
    logRecordProcessors: [],
  });
  sdk.start();
  let stopped: Promise<void> | undefined;
  const handle: RunningTracing = {
    ...settings,
    shutdown: () => {
      stopped ??= sdk.shutdown().finally(() => {
        if (running === handle) running = null;
      });
      return stopped;
    },
  };
  running = handle;
  return handle;
}

/** Flushes and stops the process's SDK, if one runs (on application shutdown). */
export async function shutdownTracing(): Promise<void> {
  await running?.shutdown();
}

/** The SDK this process runs, if any. */
export function runningTracing(): RunningTracing | null {
  return running;
}
