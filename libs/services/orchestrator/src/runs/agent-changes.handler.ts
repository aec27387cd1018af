import { Inject, Injectable } from '@nestjs/common';
import { EventTypes, type AgentChangedV1, type GovmeshEvent } from '@govmesh/contracts';
import { HandlesEvents, type BatchEventHandler, type Consumed, type UnitOfWork } from '@govmesh/messaging';
import { ENDPOINT_DEPS, type ServiceEndpointDeps } from '@govmesh/nest-runtime';
import type { WorkflowInput } from '@govmesh/workflow';
import { ORCHESTRATOR_SERVICE } from '../database';
import type { RunState } from './run-state';
import { RunDriver, type RunStep } from './run-driver';
import { RunsRepository } from './runs.repository';

type AgentChanged = GovmeshEvent<typeof EventTypes.AgentChanged>;
type Signal = 'pause' | 'resume' | 'cancel';

/** Who changed the agent and why, in a sentence for the run's reasons and its withdrawn review items. */
function because(event: AgentChanged, what: string): string {
  const { agentId, actor, reason } = event.data;
  const who = actor.name ? `${actor.name} (${actor.id})` : actor.id;
  return `agent "${agentId}" was ${what} by ${who}${reason ? `: ${reason}` : ''}`.slice(0, 2000);
}

/**
 * What an agent's status asks of one of its runs that has not ended, if anything. The status is
 * what counts, not the kind of change: a batch's last word on an agent is applied once, and a
 * repeated or redundant event (`updated` of a suspended agent, a duplicate) finds nothing to do.
 */
function signalFor(status: AgentChangedV1['agent']['status'], run: RunState): Signal | null {
  switch (status) {
    case 'suspended':
      return run.paused ? null : 'pause';
    case 'active':
      // A run is paused only because its agent was suspended (WorkflowRun.paused).
      return run.paused ? 'resume' : null;
    case 'retired':
      return 'cancel';
  }
}

function inputFor(signal: Signal, event: AgentChanged): WorkflowInput {
  switch (signal) {
    case 'pause':
      return { kind: 'pause', reason: { code: 'agent_suspended', message: because(event, 'suspended') } };
    case 'resume':
      return { kind: 'resume' };
    case 'cancel':
      return { kind: 'cancel', reason: { code: 'agent_retired', message: because(event, 'retired') } };
  }
}

/**
 * The kill switch, on the orchestrator's side: follows the registry and delivers the agent's
 * status to its runs as signals, through the same interpreter and RunDriver as every other input.
 * Suspended: each run that has not ended is paused (the step in flight finishes, the run stops
 * before the next one; open review items are withdrawn). Active again: the paused runs resume.
 * Retired: they are cancelled (`agent_retired`). The runs are locked with one statement, in the
 * batch's transaction; the operator who made the change is recorded on the timeline lines it writes.
 *
 * The event is trusted as far as the topic is: only policy should produce to govmesh.registry
 * (Kafka ACLs in production; no outside producer in embedded mode). The orchestrator cannot check
 * the agent's status itself: the registry is policy's schema, which no other service reads. A
 * forged "suspended" only pauses runs (fail-safe). A forged "active" could resume a suspended
 * agent's runs, up to their next action: policy decides every action against its own registry and
 * forbids any action of an agent that is not active, so no grant is issued for it.
 */
@Injectable()
@HandlesEvents(ORCHESTRATOR_SERVICE, [EventTypes.AgentChanged])
export class AgentRunsHandler implements BatchEventHandler<typeof EventTypes.AgentChanged> {
  constructor(
    private readonly runs: RunsRepository,
    private readonly driver: RunDriver,
    @Inject(ENDPOINT_DEPS) private readonly deps: ServiceEndpointDeps,
  ) {}

  async handle(batch: ReadonlyArray<Consumed<typeof EventTypes.AgentChanged>>, uow: UnitOfWork): Promise<void> {
    // Events of one agent arrive in order (keyed by the agent id): the last one says its status now.
    const latest = new Map<string, AgentChanged>();
    for (const { event } of batch) latest.set(event.data.agentId, event);
    const runs = await this.runs.lockActiveOf(uow, [...latest.keys()]);
    const steps: RunStep[] = [];
    const signals: Signal[] = [];
    for (const run of runs) {
      const event = latest.get(run.agentId);
      const signal = event ? signalFor(event.data.agent.status, run) : null;
      if (!event || !signal) continue;
      const { actor } = event.data;
      steps.push({ run, input: inputFor(signal, event), cause: event, by: { kind: actor.kind, id: actor.id, ...(actor.name ? { name: actor.name } : {}) } });
      signals.push(signal);
    }
    if (steps.length === 0) return;
    const refusals = await this.driver.apply(uow, steps);
    const { metrics } = this.deps;
    uow.afterCommit(() => {
      signals.forEach((signal, i) => {
        if (!refusals[i]) metrics.agentRunSignals.inc({ service: ORCHESTRATOR_SERVICE, signal });
      });
    });
  }
}
