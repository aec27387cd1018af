import { Inject, Injectable, Logger } from '@nestjs/common';
import { EventTypes, type EventType, type GovmeshEvent } from '@govmesh/contracts';
import { HandlesEvents, type BatchEventHandler, type Consumed, type UnitOfWork } from '@govmesh/messaging';
import { ENDPOINT_DEPS, type ServiceEndpointDeps } from '@govmesh/nest-runtime';
import { DEFAULT_WORKFLOW } from '@govmesh/workflow';
import { ORCHESTRATOR_SERVICE } from '../database';
import { deadlineSecondsOf, deadlineTimerId, newRun, type RunState, type TimelineEntry } from './run-state';
import { RunsRepository } from './runs.repository';
import { applyToRun, type RunInput, type Transition } from './transitions';

export const RUN_EVENT_TYPES = [
  EventTypes.IntentDecided,
  EventTypes.ContextRetrieved,
  EventTypes.ModelCompleted,
  EventTypes.ActionDecided,
  EventTypes.ToolExecuted,
  EventTypes.VerificationCompleted,
  EventTypes.TimerFired,
] as const satisfies readonly EventType[];

const runIdOf = (event: GovmeshEvent): string => (event.data as { runId: string }).runId;

/**
 * Drives runs through the workflow a batch at a time: locks every run of the batch with one
 * statement, applies each event through the pure state machine, and writes the runs, their
 * timelines, timers and next commands with one statement per table, in the batch's transaction.
 */
@Injectable()
@HandlesEvents(ORCHESTRATOR_SERVICE, RUN_EVENT_TYPES)
export class RunEventsHandler implements BatchEventHandler {
  private readonly logger = new Logger(ORCHESTRATOR_SERVICE);

  constructor(
    private readonly runs: RunsRepository,
    @Inject(ENDPOINT_DEPS) private readonly deps: ServiceEndpointDeps,
  ) {}

  async handle(batch: ReadonlyArray<Consumed>, uow: UnitOfWork): Promise<void> {
    const { metrics } = this.deps;
    const service = ORCHESTRATOR_SERVICE;
    const now = new Date();
    const loaded = await this.runs.lock(uow, batch.map((c) => runIdOf(c.event)));
    const timers = batch.filter((c) => c.event.type === EventTypes.TimerFired).map((c) => (c.event as GovmeshEvent<typeof EventTypes.TimerFired>).data);
    const genuine = await uow.takeFiredTimers(timers.filter((t) => t.service === service).map((t) => t.timerId));

    const created = new Map<string, RunState>();
    const dirty = new Map<string, RunState>();
    const timeline: TimelineEntry[] = [];
    const finished: RunState[] = [];
    for (const { event } of batch) {
      const runId = runIdOf(event);
      let run = loaded.get(runId) ?? created.get(runId);
      let input: RunInput = { kind: 'event', event };
      if (event.type === EventTypes.TimerFired) {
        const timer = (event as GovmeshEvent<typeof EventTypes.TimerFired>).data;
        if (timer.service !== service || !genuine.has(timer.timerId)) {
          const reason = timer.service !== service ? 'other_service' : 'unknown_timer';
          uow.afterCommit(() => {
            metrics.timerEventsRefused.inc({ service, reason });
            if (reason === 'unknown_timer') this.logger.warn(`timer event ${event.id} refused: timer ${timer.timerId} was not set and fired by ${service}`);
          });
          continue;
        }
        input = { kind: 'deadline', timerId: timer.timerId, eventId: event.id };
      }
      if (!run) {
        if (event.type !== EventTypes.IntentDecided) {
          uow.afterCommit(() => this.logger.warn(`${event.type} for unknown run ${runId} ignored`));
          continue;
        }
        // Intents published straight to Kafka are first seen here.
        const intent = (event as GovmeshEvent<typeof EventTypes.IntentDecided>).data.intent;
        run = newRun(intent, 'kafka', DEFAULT_WORKFLOW, deadlineSecondsOf(DEFAULT_WORKFLOW, this.deps.config.runDeadlineSeconds), now);
        created.set(run.id, run);
        timeline.push({ runId: run.id, stepId: null, kind: 'intent_received', eventType: EventTypes.IntentSubmitted, eventId: null, detail: { source: 'kafka', task: run.task } });
        uow.afterCommit(() => metrics.intentsReceived.inc({ service, source: 'kafka' }));
      }
      const t: Transition = applyToRun(run, input, DEFAULT_WORKFLOW, now);
      timeline.push(...t.timeline);
      for (const e of t.emit) uow.emit(e.type, e.data as never, { cause: event });
      if (t.changed && !created.has(run.id)) dirty.set(run.id, run);
      if (t.completed) finished.push(run);
    }
    await this.runs.insert(uow, [...created.values()]);
    // Runs born in this batch get their deadline unless they already ended in it.
    uow.setTimers([...created.values()].filter((r) => r.status !== 'completed').map((r) => ({ id: deadlineTimerId(r.id), purpose: 'run_deadline', runId: r.id, dueAt: r.deadlineAt })));
    await this.runs.update(uow, [...dirty.values()]);
    await this.runs.appendTimeline(uow, timeline);
    await uow.cancelTimers(finished.filter((r) => r.outcome !== 'timed_out' && !created.has(r.id)).map((r) => deadlineTimerId(r.id)));
    uow.afterCommit(() => {
      for (const run of finished) {
        metrics.runsCompleted.inc({ service, outcome: run.outcome! });
        metrics.runDuration.observe({ service, outcome: run.outcome! }, (run.completedAt!.getTime() - run.createdAt.getTime()) / 1000);
      }
    });
  }
}
