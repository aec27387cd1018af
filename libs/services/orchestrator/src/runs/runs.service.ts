import { Inject, Injectable } from '@nestjs/common';
import { EventTypes, type IntentSubmittedV1 } from '@govmesh/contracts';
import { ENDPOINT_DEPS, ServiceBus, type ServiceEndpointDeps } from '@govmesh/nest-runtime';
import { DEFAULT_WORKFLOW } from '@govmesh/workflow';
import { ORCHESTRATOR_SERVICE } from '../database';
import { deadlineSecondsOf, deadlineTimerId, newRun, type RunState } from './run-state';
import { RunsRepository, type RunView } from './runs.repository';
import { applyToRun, type RunSignal } from './transitions';

/** The HTTP side of runs: the ingress, signals, and reads. */
@Injectable()
export class RunsService {
  constructor(
    private readonly bus: ServiceBus,
    private readonly runs: RunsRepository,
    @Inject(ENDPOINT_DEPS) private readonly deps: ServiceEndpointDeps,
  ) {}

  /** Records the run, sets its deadline and publishes the intent, in one transaction. */
  async submitIntent(intent: IntentSubmittedV1, traceparent?: string): Promise<{ run: RunState; created: boolean }> {
    return this.bus.transaction(async (uow) => {
      const existing = await this.runs.find(uow, intent.intentId);
      if (existing) return { run: existing, created: false };
      const run = newRun(intent, 'http', DEFAULT_WORKFLOW, deadlineSecondsOf(DEFAULT_WORKFLOW, this.deps.config.runDeadlineSeconds));
      await this.runs.insert(uow, [run]);
      await this.runs.appendTimeline(uow, [{ runId: run.id, stepId: null, kind: 'intent_received', eventType: EventTypes.IntentSubmitted, eventId: null, detail: { source: 'http', task: intent.task } }]);
      uow.setTimers([{ id: deadlineTimerId(run.id), purpose: 'run_deadline', runId: run.id, dueAt: run.deadlineAt }]);
      uow.emit(EventTypes.IntentSubmitted, intent, { traceparent });
      uow.afterCommit(() => this.deps.metrics.intentsReceived.inc({ service: ORCHESTRATOR_SERVICE, source: 'http' }));
      return { run, created: true };
    });
  }

  /**
   * Delivers an outside decision to a run through the same state machine as its events, under
   * the run's lock. Null when there is no such run.
   */
  async signal(runId: string, signal: RunSignal): Promise<RunState | null> {
    return this.bus.transaction(async (uow) => {
      const run = (await this.runs.lock(uow, [runId])).get(runId);
      if (!run) return null;
      const t = applyToRun(run, { kind: 'signal', signal }, DEFAULT_WORKFLOW, new Date());
      await this.runs.appendTimeline(uow, t.timeline);
      for (const e of t.emit) uow.emit(e.type, e.data as never);
      if (t.changed) await this.runs.update(uow, [run]);
      if (t.completed) {
        await uow.cancelTimers([deadlineTimerId(run.id)]);
        uow.afterCommit(() => this.deps.metrics.runsCompleted.inc({ service: ORCHESTRATOR_SERVICE, outcome: run.outcome! }));
      }
      return run;
    });
  }

  recordRejectedIntent(reason: string): void {
    this.deps.metrics.intentsRejected.inc({ service: ORCHESTRATOR_SERVICE, reason });
  }

  view(id: string): Promise<RunView | null> {
    return this.runs.view(id);
  }
}
