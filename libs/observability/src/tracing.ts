import { context, isSpanContextValid, ROOT_CONTEXT, SpanKind, SpanStatusCode, trace, TraceFlags, type Attributes, type Context, type Span } from '@opentelemetry/api';
import { parseTraceparent } from './trace-context';

/**
 * OpenTelemetry traces, off unless an OTLP endpoint is configured.
 *
 * Off (the default), nothing is started: spans come from the API's no-op tracer, no context
 * manager runs, and events carry the same W3C `traceparent` ids they always did. On, one SDK per
 * process exports spans over OTLP, and every span a handler records becomes the parent named in
 * the `traceparent` of the events it publishes, so one trace follows a run across services.
 *
 * What a span says is ids, types, names and outcomes: never payloads, tool arguments or results,
 * prompts, task text or credentials. There are no auto-instrumentations for that reason (an HTTP
 * or database instrumentation would record URLs, statements and headers).
 */

export const TRACER_NAME = 'govmesh';

/** Attribute names of the OpenTelemetry semantic conventions used here (messaging, GenAI, errors). */
export const SemconvAttributes = {
  errorType: 'error.type',
  messagingSystem: 'messaging.system',
  messagingDestination: 'messaging.destination.name',
  messagingPartition: 'messaging.destination.partition.id',
  messagingOperationType: 'messaging.operation.type',
  messagingOperationName: 'messaging.operation.name',
  messagingMessageId: 'messaging.message.id',
  messagingConsumerGroup: 'messaging.consumer.group.name',
  messagingKafkaOffset: 'messaging.kafka.offset',
  cloudeventsId: 'cloudevents.event_id',
  cloudeventsType: 'cloudevents.event_type',
  cloudeventsSource: 'cloudevents.event_source',
  genAiOperation: 'gen_ai.operation.name',
  genAiProvider: 'gen_ai.provider.name',
  genAiRequestModel: 'gen_ai.request.model',
  genAiResponseModel: 'gen_ai.response.model',
  genAiInputTokens: 'gen_ai.usage.input_tokens',
  genAiOutputTokens: 'gen_ai.usage.output_tokens',
  genAiToolName: 'gen_ai.tool.name',
  genAiToolCallId: 'gen_ai.tool.call.id',
  genAiToolType: 'gen_ai.tool.type',
  genAiWorkflowName: 'gen_ai.workflow.name',
} as const;

/**
 * govmesh's own attributes. Reviews have no GenAI convention yet (human approval of an agent's
 * action is proposed in semantic-conventions issue #3679, still open), so they live under
 * `govmesh.approval.*` until one exists.
 */
export const GovmeshAttributes = {
  /** The service that did the work: in the embedded mode all seven share one `service.name`. */
  service: 'govmesh.service',
  runId: 'govmesh.run.id',
  stepId: 'govmesh.step.id',
  workflowVersion: 'govmesh.workflow.version',
  runInput: 'govmesh.run.input',
  runStatus: 'govmesh.run.status',
  runOutcome: 'govmesh.run.outcome',
  toolStatus: 'govmesh.tool.status',
  toolDryRun: 'govmesh.tool.dry_run',
  modelRisk: 'govmesh.model.risk',
  approvalId: 'govmesh.approval.id',
  approvalKind: 'govmesh.approval.kind',
  approvalStatus: 'govmesh.approval.status',
  approvalApprover: 'govmesh.approval.approver',
  approvalActionDigest: 'govmesh.approval.action_digest',
  approvalRiskTier: 'govmesh.approval.risk_tier',
  approvalLevel: 'govmesh.approval.level',
} as const;

/** The tracer every govmesh span comes from: the API's no-op tracer until an SDK is registered. */
export const govmeshTracer = trace.getTracer(TRACER_NAME);

/** A context whose parent is the remote span a W3C `traceparent` names; `base` when there is none. */
export function contextOfTraceparent(traceparent: string | undefined, base: Context = ROOT_CONTEXT): Context {
  const parent = parseTraceparent(traceparent);
  if (!parent) return base;
  return trace.setSpanContext(base, { traceId: parent.traceId, spanId: parent.spanId, traceFlags: parseInt(parent.flags, 16) & TraceFlags.SAMPLED, isRemote: true });
}

/**
 * The `traceparent` naming `span`, when it is a span of its own: undefined for the no-op tracer's
 * stand-in, which only repeats its parent's ids (or none). What tells events "tracing is on here".
 */
export function traceparentOfSpan(span: Span | undefined, parent: Context = ROOT_CONTEXT): string | undefined {
  if (!span) return undefined;
  const own = span.spanContext();
  if (!isSpanContextValid(own)) return undefined;
  const before = trace.getSpanContext(parent);
  if (before && before.spanId === own.spanId) return undefined;
  return `00-${own.traceId}-${own.spanId}-${(own.traceFlags & TraceFlags.SAMPLED).toString(16).padStart(2, '0')}`;
}

/** The `traceparent` of the span current code made active (a workflow step, a review decision), if any. */
export function activeTraceparent(): string | undefined {
  return traceparentOfSpan(trace.getSpan(context.active()));
}

export interface GovmeshSpanOptions {
  kind?: SpanKind;
  attributes?: Attributes;
  /** The parent: a context, or a `traceparent`; the active context when absent. */
  parent?: Context | string;
}

/** Starts a span of govmesh's tracer (a no-op span when tracing is off). */
export function startGovmeshSpan(name: string, options: GovmeshSpanOptions = {}): { span: Span; parent: Context } {
  const parent = typeof options.parent === 'string' ? contextOfTraceparent(options.parent) : (options.parent ?? context.active());
  const span = govmeshTracer.startSpan(name, { kind: options.kind ?? SpanKind.INTERNAL, attributes: options.attributes }, parent);
  return { span, parent };
}

/**
 * Ends a span with its outcome: `errorType` (a low-cardinality code such as `tool_timed_out`,
 * never a message that may quote data) marks it failed, as the conventions' `error.type` asks.
 */
export function endSpan(span: Span, outcome: { errorType?: string } = {}): void {
  if (outcome.errorType) {
    span.setAttribute(SemconvAttributes.errorType, outcome.errorType);
    span.setStatus({ code: SpanStatusCode.ERROR });
  }
  span.end();
}

/** The error type of a thrown error for `error.type`: its class name, never its message. */
export function errorTypeOf(err: unknown): string {
  return err instanceof Error ? err.constructor.name || 'Error' : '_OTHER';
}

/**
 * Runs `work` with `span` as the active span, so that events emitted inside name it in their
 * `traceparent` and spans started inside are its children. A no-op span is not made active: with
 * tracing off the work runs as it is.
 */
export function withSpan<T>(span: Span, parent: Context, work: () => T): T {
  if (!traceparentOfSpan(span, parent)) return work();
  return context.with(trace.setSpan(parent, span), work);
}

/** Runs `work` with the span a `traceparent` names active (a span that ended already, say); as is without one. */
export function withTraceparent<T>(traceparent: string | undefined, work: () => T): T {
  if (!parseTraceparent(traceparent)) return work();
  return context.with(contextOfTraceparent(traceparent, context.active()), work);
}

/** Runs `work` with no active span: what a consumer's handlers start from. */
export function withoutActiveSpan<T>(work: () => T): T {
  const active = context.active();
  if (!trace.getSpan(active)) return work();
  return context.with(trace.deleteSpan(active), work);
}

export { SpanKind };
