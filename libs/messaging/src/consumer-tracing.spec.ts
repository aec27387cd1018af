import { Injectable } from '@nestjs/common';
import { NodeSDK } from '@opentelemetry/sdk-node';
import { InMemorySpanExporter, SimpleSpanProcessor } from '@opentelemetry/sdk-trace-base';
import { SpanKind, SpanStatusCode } from '@opentelemetry/api';
import type { DataSource } from 'typeorm';
import { createEvent, EventTypes, type GovmeshEvent } from '@govmesh/contracts';
import { GovmeshMetrics } from '@govmesh/observability';
import { EventConsumer } from './consumer';
import { HandlesEvents, registrationOf, type BatchEventHandler, type Consumed } from './handlers';
import { toOutgoingMessage } from './outbox';
import type { IncomingBatch, Transport } from './transport';
import { PermanentHandlerError, type UnitOfWork } from './unit-of-work';

const TRACE_ID = '4bf92f3577b34da6a3ce929d0e0e4736';
const CALLER_SPAN = '00f067aa0ba902b7';
const QUERY = 'invoice INV-5521 for Ada Lovelace, IBAN DE89 3704 0044 0532 0130 00';

/** Answers the contexts the orchestrator asks for; fails on demand. */
@Injectable()
@HandlesEvents('context', [EventTypes.ContextRequested])
class AnswersContext implements BatchEventHandler<typeof EventTypes.ContextRequested> {
  fail = false;
  async handle(batch: ReadonlyArray<Consumed<typeof EventTypes.ContextRequested>>, uow: UnitOfWork): Promise<void> {
    if (this.fail) throw new PermanentHandlerError('the index is gone');
    for (const { event } of batch) uow.emit(EventTypes.ContextRetrieved, { runId: event.data.runId, stepId: event.data.stepId, citations: [], withheld: 0 }, { cause: event });
  }
}

/** A transaction that records what it writes: the inbox claims every id, the outbox keeps the events. */
function recordingDataSource() {
  const outbox: GovmeshEvent[] = [];
  const manager = {
    query: async (sql: string, params: unknown[]) => {
      if (sql.includes('"inbox"')) return (params[0] as string[]).map((event_id) => ({ event_id }));
      if (sql.includes('"outbox"')) for (const value of params[3] as string[]) outbox.push(JSON.parse(value) as GovmeshEvent);
      return [];
    },
  };
  const dataSource = { transaction: async <R>(work: (m: typeof manager) => Promise<R>) => work(manager) } as unknown as DataSource;
  return { dataSource, outbox };
}

function consumerOf(handler: AnswersContext, dataSource: DataSource) {
  const published: unknown[] = [];
  const transport = { kind: 'kafka', publish: async (messages: unknown[]) => void published.push(...messages) } as unknown as Transport;
  const quiet = { log: () => undefined, warn: () => undefined, error: () => undefined };
  return new EventConsumer({ service: 'context', schema: 'context', groupId: 'govmesh.context', dataSource, transport, metrics: new GovmeshMetrics(), logger: quiet, handlers: [registrationOf(handler)!], maxHandlerAttempts: 1, retryBaseMs: 1 });
}

function contextRequest(traceparent?: string): GovmeshEvent<typeof EventTypes.ContextRequested> {
  const runId = `run-${Math.random().toString(16).slice(2)}`;
  return createEvent(EventTypes.ContextRequested, { runId, stepId: 'retrieve#1', agentId: 'support-assistant', query: QUERY, limit: 3 }, { source: 'govmesh/orchestrator', subject: runId, correlationId: runId, ...(traceparent ? { traceparent } : {}) });
}

function batchOf(event: GovmeshEvent): IncomingBatch {
  const message = toOutgoingMessage(event);
  return { topic: message.topic, partition: 2, messages: [{ ...message, partition: 2, offset: '41', timestamp: '0' }], heartbeat: async () => undefined, isStale: () => false };
}

describe('tracing off (no SDK)', () => {
  it('an emitted event gets a new span id under the incoming trace, as before', async () => {
    const { dataSource, outbox } = recordingDataSource();
    const request = contextRequest(`00-${TRACE_ID}-${CALLER_SPAN}-01`);
    await consumerOf(new AnswersContext(), dataSource).handleBatch(batchOf(request));
    expect(outbox).toHaveLength(1);
    const [, traceId, spanId, flags] = outbox[0].traceparent!.split('-');
    expect(traceId).toBe(TRACE_ID);
    expect(spanId).not.toBe(CALLER_SPAN);
    expect(flags).toBe('01');
  });
});

describe('tracing on', () => {
  const exporter = new InMemorySpanExporter();
  const sdk = new NodeSDK({ spanProcessors: [new SimpleSpanProcessor(exporter)], metricReaders: [], logRecordProcessors: [], instrumentations: [], autoDetectResources: false });

  beforeAll(() => sdk.start());
  afterAll(() => sdk.shutdown());
  beforeEach(() => exporter.reset());

  it('a consumed event is handled in a CONSUMER span that continues its trace, and what the handler emits names that span', async () => {
    const { dataSource, outbox } = recordingDataSource();
    const request = contextRequest(`00-${TRACE_ID}-${CALLER_SPAN}-01`);
    await consumerOf(new AnswersContext(), dataSource).handleBatch(batchOf(request));

    const [span] = exporter.getFinishedSpans();
    expect(exporter.getFinishedSpans()).toHaveLength(1);
    expect(span.name).toBe('process govmesh.commands.context');
    expect(span.kind).toBe(SpanKind.CONSUMER);
    expect(span.spanContext().traceId).toBe(TRACE_ID);
    expect(span.parentSpanContext?.spanId).toBe(CALLER_SPAN);
    expect(span.status.code).toBe(SpanStatusCode.UNSET);
    expect(span.attributes).toMatchObject({
      'messaging.system': 'kafka',
      'messaging.destination.name': 'govmesh.commands.context',
      'messaging.destination.partition.id': '2',
      'messaging.operation.type': 'process',
      'messaging.message.id': request.id,
      'messaging.kafka.offset': 41,
      'cloudevents.event_type': EventTypes.ContextRequested,
      'cloudevents.event_id': request.id,
      'govmesh.service': 'context',
      'govmesh.run.id': request.data.runId,
    });
    // Ids and types only: the query an agent asked never reaches a span.
    expect(JSON.stringify(span.attributes)).not.toContain('Lovelace');
    expect(Object.values(span.attributes)).not.toContain(QUERY);

    expect(outbox).toHaveLength(1);
    expect(outbox[0].traceparent).toBe(`00-${TRACE_ID}-${span.spanContext().spanId}-01`);
  });

  it('an event without a traceparent starts a trace of its own', async () => {
    const { dataSource, outbox } = recordingDataSource();
    await consumerOf(new AnswersContext(), dataSource).handleBatch(batchOf(contextRequest()));
    const [span] = exporter.getFinishedSpans();
    expect(span.parentSpanContext).toBeUndefined();
    expect(outbox[0].traceparent).toBe(`00-${span.spanContext().traceId}-${span.spanContext().spanId}-01`);
  });

  it('a handler that fails ends its span as an error, naming the error type and not its message', async () => {
    const { dataSource } = recordingDataSource();
    const handler = new AnswersContext();
    handler.fail = true;
    await consumerOf(handler, dataSource).handleBatch(batchOf(contextRequest(`00-${TRACE_ID}-${CALLER_SPAN}-01`)));
    const [span] = exporter.getFinishedSpans();
    expect(span.status.code).toBe(SpanStatusCode.ERROR);
    expect(span.attributes['error.type']).toBe('PermanentHandlerError');
    expect(JSON.stringify({ attributes: span.attributes, status: span.status, events: span.events })).not.toContain('the index is gone');
  });
});
