import { Inject, Injectable, type OnModuleInit } from '@nestjs/common';
import { EventTypes, Topics, type IntentSubmittedV1 } from '@govmesh/contracts';
import { contextOfTraceparent, endSpan, GovmeshAttributes, SemconvAttributes, SpanKind, startGovmeshSpan, withSpan } from '@govmesh/observability';
import type { UnitOfWork } from '@govmesh/messaging';
import type { KeyObject } from 'node:crypto';
import { ENDPOINT_DEPS, ServiceBus, ServiceKeys, type ServiceEndpointDeps } from '@govmesh/nest-runtime';
import { INTENT_SIGNATURE_ATTRIBUTE, INTENT_SIGNER_ATTRIBUTE, signIntent } from '@govmesh/signing';
import { newWorkflowRun, timerIds, type CompiledWorkflow, type Reason, type Refusal, type ReviewKind, type WorkflowInput } from '@govmesh/workflow';
import { ORCHESTRATOR_SERVICE } from '../database';
import { WorkflowRegistry } from '../workflows/workflow-registry';
import type { RunState } from './run-state';
import { RunDriver } from './run-driver';
import { RunsRepository, type RunView } from './runs.repository';

const REVIEW_KINDS: readonly ReviewKind[] = ['approval', 'checkpoint', 'escalation'];

/** An outside decision delivered to a run: a signal. */
export type RunSignal = { kind: 'cancel'; reason: Reason } | { kind: 'pause'; reason: Reason } | { kind: 'resume' };

/** A reviewer's decision as the interpreter takes it. */
export type ReviewDecisionRequest = Omit<Extract<WorkflowInput, { kind: 'review' }>, 'kind'>;

export interface IngressOptions {
  /** The authenticated principal that submitted the intent. */
  requester: string;
  /** The workflow the intent runs, resolved and checked by the caller. */
  workflow: CompiledWorkflow;
  traceparent?: string;
  /** The agent's own signature of the intent, when it sent one. */
  agentSignature?: string;
}

/** The HTTP side of runs: the ingress, signals, and reads. */
@Injectable()
export class RunsService implements OnModuleInit {
  private ingressKey?: KeyObject;

  constructor(
    private readonly bus: ServiceBus,
    private readonly runs: RunsRepository,
    private readonly driver: RunDriver,
    private readonly workflows: WorkflowRegistry,
    private readonly keys: ServiceKeys,
    @Inject(ENDPOINT_DEPS) private readonly deps: ServiceEndpointDeps,
  ) {}

  /** The ingress cannot work without its signing key: a distributed orchestrator without it does not start. */
  onModuleInit(): void {
    this.ingressKey = this.keys.signingKey('ingress');
    this.bus.registerGauge('approvals pending', () => this.refreshPendingReviews());
  }

  /** Sets the pending-review gauge of every kind, zero included, so an emptied queue reads 0. */
  async refreshPendingReviews(): Promise<void> {
    const counts = await this.runs.pendingReviewCounts();
    for (const kind of REVIEW_KINDS) this.deps.metrics.approvalsPending.set({ service: ORCHESTRATOR_SERVICE, kind }, counts.get(kind) ?? 0);
  }

  /** Intents waiting for the next group commit, with their callers. */
  private queued: Array<{ intent: IntentSubmittedV1; options: IngressOptions; resolve: (result: { run: RunState; created: boolean }) => void; reject: (err: unknown) => void }> = [];
  private committing = false;

  /**
   * Records the run, sets its deadline and publishes the intent, in one transaction. Intents that
   * arrive while a transaction is under way are committed together in the next one (group commit):
   * the same guarantees per intent, a fraction of the transactions under load.
   */
  submitIntent(intent: IntentSubmittedV1, options: IngressOptions): Promise<{ run: RunState; created: boolean }> {
    return new Promise((resolve, reject) => {
      this.queued.push({ intent, options, resolve, reject });
      if (!this.committing) void this.commitQueued();
    });
  }

  private async commitQueued(): Promise<void> {
    this.committing = true;
    try {
      while (this.queued.length > 0) {
        const group = this.queued.splice(0, 200);
        let outcome: { existing: Map<string, RunState>; created: Map<string, RunState> };
        try {
          outcome = await this.bus.transaction((uow) => this.createRuns(uow, group));
        } catch (err) {
          for (const g of group) g.reject(err);
          continue;
        }
        const answered = new Set<string>();
        for (const g of group) {
          const id = g.intent.intentId;
          const mine = outcome.created.get(id);
          // The first submission of an id in the group created the run; the others see it.
          g.resolve({ run: outcome.existing.get(id) ?? mine!, created: mine !== undefined && !answered.has(id) });
          answered.add(id);
        }
      }
    } finally {
      this.committing = false;
    }
  }

  /** One group's runs, timelines, deadlines and intent events, in the group's transaction. */
  private async createRuns(uow: UnitOfWork, group: ReadonlyArray<{ intent: IntentSubmittedV1; options: IngressOptions }>) {
    const existing = await this.runs.existing(uow, group.map((g) => g.intent.intentId));
    const candidates = new Map<string, { run: RunState; options: IngressOptions; intent: IntentSubmittedV1 }>();
    const now = new Date();
    for (const { intent, options } of group) {
      if (existing.has(intent.intentId) || candidates.has(intent.intentId)) continue;
      const run: RunState = { ...newWorkflowRun(options.workflow, intent, options.requester, now, this.deps.config.runDeadlineSeconds), source: 'http', createdAt: now };
      candidates.set(intent.intentId, { run, options, intent });
    }
    // Another instance may have created one of these runs a moment ago: it keeps it.
    const inserted = await this.runs.insert(uow, [...candidates.values()].map((c) => c.run));
    const created = new Map<string, RunState>();
    for (const c of candidates.values()) {
      if (!inserted.has(c.run.runId)) continue;
      created.set(c.run.runId, c.run);
      // A PRODUCER span for the intent taken in over HTTP, under the caller's traceparent: the run's trace starts here.
      const { span, parent } = startGovmeshSpan(`create ${Topics.intents}`, {
        kind: SpanKind.PRODUCER,
        parent: contextOfTraceparent(c.options.traceparent),
        attributes: { [SemconvAttributes.messagingOperationType]: 'create', [SemconvAttributes.messagingDestination]: Topics.intents, [GovmeshAttributes.service]: ORCHESTRATOR_SERVICE, [GovmeshAttributes.runId]: c.run.runId, [SemconvAttributes.genAiWorkflowName]: c.run.workflowId },
      });
      const event = withSpan(span, parent, () => uow.emit(EventTypes.IntentSubmitted, c.intent, { traceparent: c.options.traceparent, extensions: this.signatureOf(c.intent, c.options) }));
      span.setAttribute(SemconvAttributes.messagingMessageId, event.id);
      endSpan(span);
    }
    const raced = [...candidates.keys()].filter((id) => !inserted.has(id));
    if (raced.length > 0) for (const [id, run] of await this.runs.existing(uow, raced)) existing.set(id, run);
    const runs = [...created.values()];
    await this.runs.appendTimeline(uow, runs.map((run) => ({ runId: run.runId, stepId: null, kind: 'intent_received', eventType: EventTypes.IntentSubmitted, eventId: null, detail: { source: 'http', task: run.task, requester: run.requester, workflow: { id: run.workflowId, version: run.workflowVersion } } })));
    uow.setTimers(runs.map((run) => ({ id: timerIds.deadline(run.runId), purpose: 'run_deadline', runId: run.runId, dueAt: new Date(run.deadlineAt) })));
    uow.afterCommit(() => this.deps.metrics.intentsReceived.inc({ service: ORCHESTRATOR_SERVICE, source: 'http' }, runs.length));
    return { existing, created };
  }

  /**
   * Delivers an outside decision to a run through the same interpreter as its events, under the
   * run's lock. Null when there is no such run.
   */
  async signal(runId: string, signal: RunSignal): Promise<RunState | null> {
    return this.bus.transaction(async (uow) => {
      const run = (await this.runs.lock(uow, [runId])).get(runId);
      if (!run) return null;
      const input: WorkflowInput = signal.kind === 'resume' ? { kind: 'resume' } : { kind: signal.kind, reason: signal.reason };
      await this.driver.apply(uow, [{ run, input }]);
      return run;
    });
  }

  /**
   * A reviewer's decision on a review item, through the interpreter under the run's lock: it checks
   * the reviewer (group, level, never the agent or the requester), the item (open, not expired)
   * and the decision, and refuses with the reason or moves the run on.
   */
  async decide(runId: string, request: ReviewDecisionRequest): Promise<{ run: RunState } | { refused: Refusal }> {
    return this.bus.transaction(async (uow) => {
      const run = (await this.runs.lock(uow, [runId])).get(runId);
      if (!run) return { refused: { status: 404, code: 'review_not_found', message: `no review item "${request.reviewId}"` } };
      const [refused] = await this.driver.apply(uow, [{ run, input: { kind: 'review', ...request } }]);
      return refused ? { refused } : { run };
    });
  }

  workflowFor(id?: string): Promise<CompiledWorkflow | null> {
    return this.workflows.latest(id);
  }

  /**
   * What proves the intent to policy: the agent's own signature when it sent one; otherwise the
   * ingress's attestation that it authenticated the agent's credential for exactly this intent.
   */
  private signatureOf(intent: IntentSubmittedV1, options: IngressOptions): Record<string, string> {
    if (options.agentSignature) return { [INTENT_SIGNATURE_ATTRIBUTE]: options.agentSignature, [INTENT_SIGNER_ATTRIBUTE]: 'agent' };
    this.ingressKey ??= this.keys.signingKey('ingress');
    return { [INTENT_SIGNATURE_ATTRIBUTE]: signIntent(intent, this.ingressKey), [INTENT_SIGNER_ATTRIBUTE]: 'ingress' };
  }

  recordRejectedIntent(reason: string): void {
    this.deps.metrics.intentsRejected.inc({ service: ORCHESTRATOR_SERVICE, reason });
  }

  view(id: string): Promise<RunView | null> {
    return this.runs.view(id);
  }
}
