import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';

/**
 * All govmesh metrics live in one registry per process. Every metric carries a `service`
 * label, so the embedded mode (seven services, one process) and the distributed mode
 * (one service per process) produce the same series.
 */
export const METRIC_PREFIX = 'govmesh_';

const LATENCY_BUCKETS = [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10];

export class GovmeshMetrics {
  readonly registry = new Registry();
  readonly messagesConsumed: Counter<'service' | 'topic' | 'type'>;
  readonly messagesPublished: Counter<'service' | 'topic'>;
  readonly deadLetters: Counter<'service' | 'topic' | 'reason'>;
  readonly inboxDuplicates: Counter<'service' | 'topic'>;
  readonly handlerDuration: Histogram<'service' | 'type'>;
  readonly consumeBatchSize: Histogram<'service' | 'topic'>;
  readonly consumeRetries: Counter<'service' | 'topic'>;
  readonly outboxPending: Gauge<'service'>;
  readonly outboxPublishLag: Histogram<'service'>;
  readonly intentsReceived: Counter<'service' | 'source'>;
  readonly intentsRejected: Counter<'service' | 'reason'>;
  readonly approvalsRefused: Counter<'service' | 'reason'>;
  readonly policyDecisions: Counter<'service' | 'effect' | 'subject'>;
  readonly runsCompleted: Counter<'service' | 'outcome'>;
  readonly runDuration: Histogram<'service' | 'outcome'>;
  readonly modelCalls: Counter<'service' | 'model' | 'provider'>;
  readonly modelProposalsRefused: Counter<'service' | 'model' | 'reason'>;
  readonly toolEventsRefused: Counter<'service' | 'reason'>;
  readonly verificationAnswersRefused: Counter<'service' | 'reason'>;
  readonly toolExecutions: Counter<'service' | 'tool' | 'status'>;
  readonly toolCallDuration: Histogram<'service' | 'tool' | 'outcome'>;
  readonly toolBreakerState: Gauge<'service' | 'connection'>;
  readonly toolBreakerTransitions: Counter<'service' | 'connection' | 'to'>;
  readonly toolRateLimited: Counter<'service' | 'tool' | 'scope'>;
  readonly verifications: Counter<'service' | 'verdict'>;
  readonly verificationChecks: Counter<'service' | 'check' | 'result'>;
  readonly actionsRefused: Counter<'service' | 'reason'>;
  readonly toolRetries: Counter<'service' | 'tool' | 'reason'>;
  readonly toolCallsRefused: Counter<'service' | 'tool' | 'reason'>;
  readonly verificationReads: Counter<'service' | 'tool' | 'status'>;
  readonly auditRecords: Counter<'service'>;
  readonly eventsSkipped: Counter<'service' | 'topic' | 'type'>;
  readonly unrecordedDeadLetters: Counter<'service' | 'reason'>;
  readonly outboxFailed: Counter<'service' | 'topic' | 'reason'>;
  readonly timersSet: Counter<'service' | 'purpose'>;
  readonly timersFired: Counter<'service' | 'purpose'>;
  readonly timerEventsRefused: Counter<'service' | 'reason'>;
  readonly agentRunSignals: Counter<'service' | 'signal'>;
  readonly effectsPerformed: Counter<'service' | 'kind' | 'outcome'>;
  readonly effectDuration: Histogram<'service' | 'kind'>;
  readonly effectsInFlight: Gauge<'service'>;
  readonly httpRefusals: Counter<'process' | 'reason'>;
  readonly notifications: Counter<'service' | 'event' | 'outcome'>;
  readonly notificationsPending: Gauge<'service'>;

  constructor() {
    const r = [this.registry];
    collectDefaultMetrics({ register: this.registry, prefix: METRIC_PREFIX });
    this.messagesConsumed = new Counter({ name: 'govmesh_messages_consumed_total', help: 'Events consumed and handled', labelNames: ['service', 'topic', 'type'], registers: r });
    this.messagesPublished = new Counter({ name: 'govmesh_messages_published_total', help: 'Events published by the outbox relay', labelNames: ['service', 'topic'], registers: r });
    this.deadLetters = new Counter({ name: 'govmesh_dead_letters_total', help: 'Messages sent to the dead-letter topic, by reason', labelNames: ['service', 'topic', 'reason'], registers: r });
    this.inboxDuplicates = new Counter({ name: 'govmesh_inbox_duplicates_total', help: 'Redelivered events skipped by the idempotent inbox', labelNames: ['service', 'topic'], registers: r });
    this.handlerDuration = new Histogram({ name: 'govmesh_handler_duration_seconds', help: 'Time one handler spent on one consumed batch, inside its transaction', labelNames: ['service', 'type'], buckets: LATENCY_BUCKETS, registers: r });
    this.consumeBatchSize = new Histogram({ name: 'govmesh_consume_batch_size', help: 'Messages per consumed batch (one transaction each)', labelNames: ['service', 'topic'], buckets: [1, 2, 5, 10, 20, 50, 100, 200, 500], registers: r });
    this.consumeRetries = new Counter({ name: 'govmesh_consume_retries_total', help: 'Batch retries after transient errors', labelNames: ['service', 'topic'], registers: r });
    this.outboxPending = new Gauge({ name: 'govmesh_outbox_pending', help: 'Outbox rows seen waiting for the relay at its last pass', labelNames: ['service'], registers: r });
    this.outboxPublishLag = new Histogram({ name: 'govmesh_outbox_publish_lag_seconds', help: 'Time from outbox commit to publish', labelNames: ['service'], buckets: LATENCY_BUCKETS, registers: r });
    this.intentsReceived = new Counter({ name: 'govmesh_intents_received_total', help: 'Intents received, by ingress', labelNames: ['service', 'source'], registers: r });
    this.intentsRejected = new Counter({ name: 'govmesh_intents_rejected_total', help: 'Intents refused at the HTTP ingress, by reason', labelNames: ['service', 'reason'], registers: r });
    this.approvalsRefused = new Counter({ name: 'govmesh_approvals_refused_total', help: 'Reviewer approvals policy refused to honour (forged, replayed, mismatched digest, wrong group), by reason', labelNames: ['service', 'reason'], registers: r });
    this.policyDecisions = new Counter({ name: 'govmesh_policy_decisions_total', help: 'Policy decisions by effect', labelNames: ['service', 'effect', 'subject'], registers: r });
    this.runsCompleted = new Counter({ name: 'govmesh_runs_completed_total', help: 'Runs completed by outcome', labelNames: ['service', 'outcome'], registers: r });
    this.runDuration = new Histogram({ name: 'govmesh_run_duration_seconds', help: 'Run duration from first sight to result', labelNames: ['service', 'outcome'], buckets: LATENCY_BUCKETS, registers: r });
    this.modelCalls = new Counter({ name: 'govmesh_model_calls_total', help: 'Model calls by model and provider', labelNames: ['service', 'model', 'provider'], registers: r });
    this.modelProposalsRefused = new Counter({ name: 'govmesh_model_proposals_refused_total', help: 'Tool-call proposals the model router refused to pass on, by model and reason (tool_not_in_catalog, tool_retired, tool_schema_unusable, tool_arguments_invalid)', labelNames: ['service', 'model', 'reason'], registers: r });
    this.verificationAnswersRefused = new Counter({ name: 'govmesh_verification_answers_refused_total', help: "Answers to the verifier's reads it refused: not signed by the tool gateway's key or altered (gateway_key_unknown, gateway_signature_invalid)", labelNames: ['service', 'reason'], registers: r });
    this.toolEventsRefused = new Counter({ name: 'govmesh_tool_events_refused_total', help: 'Tool registry events a service learned nothing from, by reason (untrusted_source: not from the tool gateway; manifest_name_mismatch)', labelNames: ['service', 'reason'], registers: r });
    this.toolExecutions = new Counter({ name: 'govmesh_tool_executions_total', help: 'Tool executions by status', labelNames: ['service', 'tool', 'status'], registers: r });
    this.toolCallDuration = new Histogram({ name: 'govmesh_tool_call_duration_seconds', help: 'Time one tool call took at the gateway (mediation and the call), by outcome (succeeded, failed, rejected, timed_out, error, circuit_open, output_invalid)', labelNames: ['service', 'tool', 'outcome'], buckets: LATENCY_BUCKETS, registers: r });
    this.toolBreakerState = new Gauge({ name: 'govmesh_tool_breaker_state', help: 'Circuit breaker of each connection a tool reaches, in this process: 0 closed, 1 half-open, 2 open', labelNames: ['service', 'connection'], registers: r });
    this.toolBreakerTransitions = new Counter({ name: 'govmesh_tool_breaker_transitions_total', help: 'Circuit breaker transitions by connection and the state entered (closed, half_open, open)', labelNames: ['service', 'connection', 'to'], registers: r });
    this.toolRateLimited = new Counter({ name: 'govmesh_tool_rate_limited_total', help: 'Tool calls refused by a rate limit, by tool and the bucket that refused (agent, tool)', labelNames: ['service', 'tool', 'scope'], registers: r });
    this.verifications = new Counter({ name: 'govmesh_verifications_total', help: 'Verifications by verdict', labelNames: ['service', 'verdict'], registers: r });
    this.verificationChecks = new Counter({ name: 'govmesh_verification_checks_total', help: 'Verification checks by kind (read_back, state, citation, grant) and result (pass, mismatch, not_found, error)', labelNames: ['service', 'check', 'result'], registers: r });
    this.actionsRefused = new Counter({ name: 'govmesh_actions_refused_total', help: 'Proposed actions policy refused before deciding them (a run it never admitted, another agent than the run\'s), by reason', labelNames: ['service', 'reason'], registers: r });
    this.toolRetries = new Counter({ name: 'govmesh_tool_retries_total', help: 'Tool calls the gateway tried again after a retryable failure, by tool and the failure', labelNames: ['service', 'tool', 'reason'], registers: r });
    this.toolCallsRefused = new Counter({ name: 'govmesh_tool_calls_refused_total', help: 'Tool requests the gateway refused before calling anything, by tool and reason (no tool grant, a constraint, a grant for another action)', labelNames: ['service', 'tool', 'reason'], registers: r });
    this.verificationReads = new Counter({ name: 'govmesh_verification_reads_total', help: 'Reads the gateway performed (or refused) for the verifier, by tool and status', labelNames: ['service', 'tool', 'status'], registers: r });
    this.eventsSkipped = new Counter({ name: 'govmesh_events_skipped_total', help: 'Valid events of a type this consumer has no handler for, skipped (not dead-lettered)', labelNames: ['service', 'topic', 'type'], registers: r });
    this.unrecordedDeadLetters = new Counter({ name: 'govmesh_dead_letters_unrecorded_total', help: 'Dead letters the dead-letter consumer could not record (never re-dead-lettered)', labelNames: ['service', 'reason'], registers: r });
    this.outboxFailed = new Counter({ name: 'govmesh_outbox_failed_total', help: 'Outbox rows the broker refused permanently, moved aside with their reason', labelNames: ['service', 'topic', 'reason'], registers: r });
    this.timersSet = new Counter({ name: 'govmesh_timers_set_total', help: 'Durable timers set', labelNames: ['service', 'purpose'], registers: r });
    this.timersFired = new Counter({ name: 'govmesh_timers_fired_total', help: 'Durable timers fired through the outbox', labelNames: ['service', 'purpose'], registers: r });
    this.timerEventsRefused = new Counter({ name: 'govmesh_timer_events_refused_total', help: 'Timer events refused: not set or not fired by this service (forged or repeated)', labelNames: ['service', 'reason'], registers: r });
    this.agentRunSignals = new Counter({ name: 'govmesh_agent_run_signals_total', help: 'Runs paused, resumed or cancelled because their agent was suspended, reactivated or retired, by signal', labelNames: ['service', 'signal'], registers: r });
    this.effectsPerformed = new Counter({ name: 'govmesh_effects_performed_total', help: 'Side effects performed outside transactions, by outcome', labelNames: ['service', 'kind', 'outcome'], registers: r });
    this.effectDuration = new Histogram({ name: 'govmesh_effect_duration_seconds', help: 'Time to perform one side effect (outside any transaction)', labelNames: ['service', 'kind'], buckets: LATENCY_BUCKETS, registers: r });
    this.effectsInFlight = new Gauge({ name: 'govmesh_effects_in_flight', help: 'Side effects being performed now', labelNames: ['service'], registers: r });
    this.httpRefusals = new Counter({ name: 'govmesh_http_requests_refused_total', help: 'HTTP requests refused before reaching a controller, by reason', labelNames: ['process', 'reason'], registers: r });
    this.notifications = new Counter({ name: 'govmesh_notifications_total', help: 'Reviewer notification delivery attempts, by event and outcome (delivered, retry, failed, no_webhook)', labelNames: ['service', 'event', 'outcome'], registers: r });
    this.notificationsPending = new Gauge({ name: 'govmesh_notifications_pending', help: 'Reviewer notifications waiting for delivery (or in flight) at the last pass', labelNames: ['service'], registers: r });
    this.auditRecords = new Counter({ name: 'govmesh_audit_records_total', help: 'Records appended to the audit chain', labelNames: ['service'], registers: r });
  }
}

let processMetrics: GovmeshMetrics | undefined;

/** The process-wide metrics; created on first use. */
export function govmeshMetrics(): GovmeshMetrics {
  processMetrics ??= new GovmeshMetrics();
  return processMetrics;
}
