import { randomUUID } from 'node:crypto';
import { Inject, Injectable, Logger, type OnModuleInit } from '@nestjs/common';
import { grantForAction } from '@govmesh/action-grants';
import { EventTypes, type GovmeshEvent } from '@govmesh/contracts';
import { HandlesEvents, type BatchEventHandler, type Consumed, type UnitOfWork } from '@govmesh/messaging';
import { ENDPOINT_DEPS, type ServiceEndpointDeps } from '@govmesh/nest-runtime';
import { decideAction, decideIntent, loadPolicyBundle, type PolicyBundle, type PolicyDecision } from '@govmesh/policy-engine';
import { PolicyRepository, type DecisionRow } from './policy.repository';
import { POLICY_SERVICE } from './database';

const GRANT_TTL_SECONDS = 300;

type Decided = typeof EventTypes.IntentSubmitted | typeof EventTypes.ActionProposed;

/** Layer 1: decides intents and proposed actions under Cedar policy; deny by default. */
@Injectable()
@HandlesEvents(POLICY_SERVICE, [EventTypes.IntentSubmitted, EventTypes.ActionProposed])
export class PolicyDecisionsHandler implements BatchEventHandler<Decided>, OnModuleInit {
  readonly bundle: PolicyBundle = loadPolicyBundle();
  private readonly logger = new Logger(POLICY_SERVICE);

  constructor(
    private readonly repository: PolicyRepository,
    @Inject(ENDPOINT_DEPS) private readonly deps: ServiceEndpointDeps,
  ) {}

  onModuleInit(): void {
    this.logger.log(`policy set ${this.bundle.version} loaded (${Object.keys(this.bundle.policies).length} policies)`);
  }

  async handle(batch: ReadonlyArray<Consumed<Decided>>, uow: UnitOfWork): Promise<void> {
    const intents = batch.filter((c) => c.event.type === EventTypes.IntentSubmitted).map((c) => c.event as GovmeshEvent<typeof EventTypes.IntentSubmitted>);
    const actions = batch.filter((c) => c.event.type === EventTypes.ActionProposed).map((c) => c.event as GovmeshEvent<typeof EventTypes.ActionProposed>);
    const agents = await this.repository.agents(uow, [...intents.map((e) => e.data.agentId), ...actions.map((e) => e.data.agentId)]);
    const profiles = actions.length ? await this.repository.toolProfiles(uow, actions.map((e) => e.data.tool)) : new Map();
    const admitted = actions.length ? await this.repository.admittedRuns(uow, actions.map((e) => e.data.runId)) : new Set<string>();
    const decisions: DecisionRow[] = [];
    const counted: Array<{ effect: string; subject: string }> = [];

    for (const event of intents) {
      const intent = event.data;
      const agent = agents.get(intent.agentId);
      const decision = decideIntent(this.bundle, intent.agentId, agent, intent);
      decisions.push({ runId: intent.intentId, stepId: null, subject: 'intent', agentId: intent.agentId, effect: decision.effect, reasons: decision.reasons, policyVersion: decision.policyVersion, grantId: null });
      counted.push({ effect: decision.effect, subject: 'intent' });
      uow.emit(
        EventTypes.IntentDecided,
        {
          runId: intent.intentId,
          agentId: intent.agentId,
          ...(agent ? { agentVersion: agent.version, tier: agent.tier } : {}),
          effect: decision.effect,
          reasons: decision.reasons,
          policyVersion: decision.policyVersion,
          intent,
        },
        { cause: event },
      );
    }

    for (const event of actions) {
      const action = event.data;
      const agent = agents.get(action.agentId);
      const decision: PolicyDecision = admitted.has(action.runId)
        ? decideAction(this.bundle, action.agentId, agent, profiles.get(action.tool), action.tool)
        : {
            effect: 'deny',
            policyVersion: this.bundle.version,
            determiningPolicies: [],
            reasons: [{ code: 'run_not_admitted', message: `run ${action.runId} was not admitted by policy; actions are decided only for runs whose intent was allowed` }],
          };
      const grant =
        decision.effect === 'allow'
          ? grantForAction(
              this.deps.config.grantSecret,
              { agentId: action.agentId, agentVersion: agent?.version, tool: action.tool, arguments: action.arguments, policyVersion: decision.policyVersion },
              randomUUID(),
              new Date(),
              GRANT_TTL_SECONDS,
            )
          : undefined;
      decisions.push({ runId: action.runId, stepId: action.stepId, subject: 'action', agentId: action.agentId, effect: decision.effect, reasons: decision.reasons, policyVersion: decision.policyVersion, grantId: grant?.grantId ?? null });
      counted.push({ effect: decision.effect, subject: 'action' });
      uow.emit(
        EventTypes.ActionDecided,
        { runId: action.runId, stepId: action.stepId, effect: decision.effect, reasons: decision.reasons, policyVersion: decision.policyVersion, ...(grant ? { grant } : {}) },
        { cause: event },
      );
    }
    await this.repository.recordDecisions(uow, decisions);
    uow.afterCommit(() => {
      for (const c of counted) this.deps.metrics.policyDecisions.inc({ service: POLICY_SERVICE, ...c });
    });
  }
}
