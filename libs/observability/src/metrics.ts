import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';

/**
 * All govmesh metrics live in one registry per process. Every metric carries a `service`
 * label, so the embedded mode (seven services, one process) and the distributed mode
 * (one service per process) produce the same series.
 */
export const METRIC_PREFIX = 'govmesh_';

const LATENCY_BUCKETS = [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10];
/** Human decisions take seconds to days. */
const REVIEW_BUCKETS = [1, 5, 15, 30, 60, 300, 900, 1800, 3600, 4 * 3600, 8 * 3600, 24 * 3600, 72 * 3600];

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
  readonly auditCheckpoints: Counter<'service'>;
  readonly auditChainLength: Gauge<'service'>;
  readonly auditCheckpointSinkFailures: Counter<'service' | 'sink'>;
  readonly auditVerifications: Counter<'service' | 'result'>;
  readonly policyDecisionLatency: Histogram<'service' | 'subject'>;
  readonly approvalsPending: Gauge<'service' | 'kind'>;
  readonly approvalDecisionDuration: Histogram<'service' | 'kind' | 'decision'>;
  readonly escalations: Counter<'service' | 'reason'>;
  readonly modelTokens: Counter<'service' | 'model' | 'provider' | 'direction'>;
  readonly modelCost: Counter<'service' | 'model' | 'provider'>;
  readonly modelCallDuration: Histogram<'service' | 'model' | 'provider'>;
  readonly consumerLag: Gauge<'service' | 'topic' | 'group'>;
  readonly timersPending: Gauge<'service' | 'state'>;
  readonly eventsSkipped: Counter<'service' | 'topic' | 'type'>;
  readonly unrecordedDeadLetters: Counter<'service' | 'reason'>;
  readonly rejectionsLeftToOwner: Counter<'service' | 'topic' | 'reason'>;
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
  readonly behaviourAnomalies: Counter<'service' | 'agent' | 'kind'>;
  readonly workflowCases: Counter<'service' | 'workflow' | 'outcome'>;
  readonly workflowCycleTime: Histogram<'service' | 'workflow'>;
  readonly workflowOverrides: Counter<'service' | 'workflow'>;
  readonly workflowEscalations: Counter<'service' | 'workflow'>;
  readonly retentionDeleted: Counter<'service' | 'store'>;

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
    this.rejectionsLeftToOwner = new Counter({ name: 'govmesh_rejections_left_to_owner_total', help: 'Messages an observing consumer (telemetry) could not decode on a topic another service consumes: that service dead-letters them, this one does not again', labelNames: ['service', 'topic', 'reason'], registers: r });
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
    this.behaviourAnomalies = new Counter({ name: 'govmesh_behaviour_anomalies_total', help: 'Alerts raised because an agent acted unlike its behaviour baseline, by agent and kind (first_seen_tool, unseen_egress, cost_outlier, deny_rate, escalation_rate)', labelNames: ['service', 'agent', 'kind'], registers: r });
    this.workflowCases = new Counter({ name: 'govmesh_workflow_cases_total', help: 'Cases (runs) of a workflow completed, by outcome', labelNames: ['service', 'workflow', 'outcome'], registers: r });
    this.workflowCycleTime = new Histogram({ name: 'govmesh_workflow_cycle_time_seconds', help: 'Cycle time of a completed case of a workflow, from the run\'s start to its result (human waits included)', labelNames: ['service', 'workflow'], buckets: [1, 5, 15, 30, 60, 300, 900, 1800, 3600, 4 * 3600, 8 * 3600, 86400, 3 * 86400, 7 * 86400], registers: r });
    this.workflowOverrides = new Counter({ name: 'govmesh_workflow_overrides_total', help: "Cases of a workflow in which a human overrode the agent (a reviewer rejected or edited its proposed action or checkpoint, or resolved an escalation by supplying, taking over or aborting), counted once per case", labelNames: ['service', 'workflow'], registers: r });
    this.workflowEscalations = new Counter({ name: 'govmesh_workflow_escalations_total', help: 'Cases of a workflow escalated to a human (an escalation review item), counted once per case', labelNames: ['service', 'workflow'], registers: r });
    this.retentionDeleted = new Counter({ name: 'govmesh_retention_deleted_total', help: 'Rows deleted by retention jobs, by store (inbox, dead_letters, run_timeline, baseline state)', labelNames: ['service', 'store'], registers: r });
    this.notificationsPending = new Gauge({ name: 'govmesh_notifications_pending', help: 'Reviewer notifications waiting for delivery (or in flight) at the last pass', labelNames: ['service'], registers: r });
    this.auditRecords = new Counter({ name: 'govmesh_audit_records_total', help: 'Records appended to the audit chain', labelNames: ['service'], registers: r });
    this.auditCheckpoints = new Counter({ name: 'govmesh_audit_checkpoints_total', help: "Signed checkpoints of the audit ledger's head", labelNames: ['service'], registers: r });
    this.auditChainLength = new Gauge({ name: 'govmesh_audit_chain_length', help: 'Records in the audit ledger at its newest signed checkpoint', labelNames: ['service'], registers: r });
    this.auditCheckpointSinkFailures = new Counter({ name: 'govmesh_audit_checkpoint_sink_failures_total', help: 'Checkpoints the external sink (file or HTTP) did not take, retried at the next checkpoint', labelNames: ['service', 'sink'], registers: r });
    this.auditVerifications = new Counter({ name: 'govmesh_audit_verifications_total', help: 'Audit ledger verifications, by result (intact, broken)', labelNames: ['service', 'result'], registers: r });
    this.policyDecisionLatency = new Histogram({ name: 'govmesh_policy_decision_latency_seconds', help: 'Time from an intent or proposed action (its event time) to the committed policy decision, by subject (intent, action, approved_action)', labelNames: ['service', 'subject'], buckets: LATENCY_BUCKETS, registers: r });
    this.approvalsPending = new Gauge({ name: 'govmesh_approvals_pending', help: 'Review items waiting for a human decision, by kind (approval, checkpoint, escalation), refreshed from the database every few seconds', labelNames: ['service', 'kind'], registers: r });
    this.approvalDecisionDuration = new Histogram({ name: 'govmesh_approval_decision_seconds', help: 'Time from a review item being requested to its decision, by kind and decision (approved, rejected, edited, expired, ...)', labelNames: ['service', 'kind', 'decision'], buckets: REVIEW_BUCKETS, registers: r });
    this.escalations = new Counter({ name: 'govmesh_escalations_total', help: 'Escalations to a human, by reason: the escalation case (tool_failed, model_low_confidence, verification_mismatch, intent_held, ...) or review_unanswered when a pending review moved up a level', labelNames: ['service', 'reason'], registers: r });
    this.modelTokens = new Counter({ name: 'govmesh_model_tokens_total', help: 'Model tokens by model, provider and direction (input, output)', labelNames: ['service', 'model', 'provider', 'direction'], registers: r });
    this.modelCost = new Counter({ name: 'govmesh_model_cost_usd_total', help: "Model spend in US dollars at the model's list price, by model and provider", labelNames: ['service', 'model', 'provider'], registers: r });
    this.modelCallDuration = new Histogram({ name: 'govmesh_model_call_duration_seconds', help: 'Time one model call took, by model and provider', labelNames: ['service', 'model', 'provider'], buckets: LATENCY_BUCKETS, registers: r });
    this.consumerLag = new Gauge({ name: 'govmesh_consumer_lag_messages', help: "Messages a consumer group has not yet processed (high watermark minus committed offset, summed over the topic's partitions), refreshed every few seconds", labelNames: ['service', 'topic', 'group'], registers: r });
    this.timersPending = new Gauge({ name: 'govmesh_timers_pending', help: 'Durable timers not yet fired, by state: due (past their time, not fired yet: the backlog) or scheduled, refreshed every few seconds', labelNames: ['service', 'state'], registers: r });
  }
}

let processMetrics: GovmeshMetrics | undefined;

/** The process-wide metrics; created on first use. */
export function govmeshMetrics(): GovmeshMetrics {
  processMetrics ??= new GovmeshMetrics();
  return processMetrics;
}
