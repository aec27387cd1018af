import { randomUUID, type KeyObject } from 'node:crypto';
import { Inject, Injectable, Logger, type OnModuleInit } from '@nestjs/common';
import { issueGrant } from '@govmesh/action-grants';
import { EventTypes, isStorableText, newestPerTool, toStorable, toStorableString, unstorableTextRejection, type GovmeshEvent, type IntentSubmittedV1 } from '@govmesh/contracts';
import { HandlesEvents, type BatchEventHandler, type Consumed, type UnitOfWork } from '@govmesh/messaging';
import { ENDPOINT_DEPS, ServiceKeys, type ServiceEndpointDeps } from '@govmesh/nest-runtime';
import { decideAction, decideIntent, type PolicyDecision, type ResourceProfile } from '@govmesh/policy-engine';
import { PolicyRepository, type DecisionRow } from './policy.repository';
import { PolicySets } from './policy-sets.service';
import { checkIntentProof, signingVersion } from './intent-proof';
import { POLICY_SERVICE } from './database';
import { applyApproval } from './approval-check';
import { toolProfileChange, type ToolProfileChange } from './tool-profiles';

type Decided = typeof EventTypes.IntentSubmitted | typeof EventTypes.ActionProposed;

/**
 * The intent a denied decision carries when its text cannot be stored: escaped (@govmesh/contracts
 * storable text), the task and version cut to their limits, without its input. The dead letter
 * keeps the original whole.
 */
function storableIntentCopy(intent: IntentSubmittedV1): IntentSubmittedV1 {
  const { input: _input, ...copy } = toStorable(intent);
  return { ...copy, task: copy.task.slice(0, 4000), ...(copy.agentVersion !== undefined ? { agentVersion: copy.agentVersion.slice(0, 64) } : {}) };
}
type ActionEvent = GovmeshEvent<typeof EventTypes.ActionProposed>;

const deny = (policyVersion: string, code: string, message: string): PolicyDecision => ({
  effect: 'deny',
  policyVersion,
  determiningPolicies: [],
  approvers: [],
  verify: false,
  reasons: [{ code, message }],
  request: null as never,
});

/** The policies a decided event names: `maxItems` of `DeterminingPolicies` (the reasons name them all). */
const MAX_NAMED_POLICIES = 64;
const namedPolicies = (decision: PolicyDecision): string[] => decision.determiningPolicies.slice(0, MAX_NAMED_POLICIES);

/**
 * Layer 1: decides intents and proposed actions under the active Cedar policy set; deny by
 * default. An intent is decided only when it proves who sent it (signature, freshness, first
 * sight); otherwise it is refused to the dead-letter topic with the reason. Actions are decided
 * only for runs policy admitted and only for the agent it admitted the run for (any other is
 * refused, counted and logged), and an allowed one gets an Ed25519 grant bound to the exact
 * action, run and step, signed with the key only policy holds.
 */
@Injectable()
@HandlesEvents(POLICY_SERVICE, [EventTypes.IntentSubmitted, EventTypes.ActionProposed], { acceptsUnstorableText: [EventTypes.IntentSubmitted] })
export class PolicyDecisionsHandler implements BatchEventHandler<Decided>, OnModuleInit {
  private readonly logger = new Logger(POLICY_SERVICE);
  private grantKey!: KeyObject;
  private ingressKey!: KeyObject;

  constructor(
    private readonly repository: PolicyRepository,
    private readonly sets: PolicySets,
    private readonly keys: ServiceKeys,
    @Inject(ENDPOINT_DEPS) private readonly deps: ServiceEndpointDeps,
  ) {}

  /** Without its keys policy cannot decide: a distributed policy service without them does not start. */
  onModuleInit(): void {
    this.grantKey = this.keys.signingKey('grant');
    this.ingressKey = this.keys.publicKey('ingress');
  }

  async handle(batch: ReadonlyArray<Consumed<Decided>>, uow: UnitOfWork): Promise<void> {
    const bundle = await this.sets.current(uow);
    const intents = batch.filter((c) => c.event.type === EventTypes.IntentSubmitted) as Array<Consumed<typeof EventTypes.IntentSubmitted>>;
    const actions = batch.filter((c) => c.event.type === EventTypes.ActionProposed).map((c) => c.event as ActionEvent);
    const agents = await this.repository.agents(uow, [...intents.map((c) => c.event.data.agentId), ...actions.map((e) => e.data.agentId)]);
    const versionOf = (agentId: string, named?: string) => named ?? agents.get(agentId)?.version;
    const keyPairs = [...intents.map((c) => ({ agentId: c.event.data.agentId, version: signingVersion(c.event, agents.get(c.event.data.agentId)?.version) })), ...actions.map((e) => ({ agentId: e.data.agentId, version: versionOf(e.data.agentId, e.data.agentVersion) }))].filter(
      // A version Postgres cannot hold names no registered key: its intent is refused as intent_key_unknown.
      (p): p is { agentId: string; version: string } => p.version !== undefined && isStorableText(p.version),
    );
    const versionKeys = await this.repository.versionKeys(uow, keyPairs);
    const decidedBefore = await this.repository.decidedIntents(uow, intents.map((c) => c.event.data.intentId));
    const decisions: DecisionRow[] = [];
    const counted: Array<{ effect: string; subject: string; requestedAt: string }> = [];
    const refused: string[] = [];
    const now = new Date();

    for (const { event, message, unstorableAt } of intents) {
      const intent = event.data;
      const agent = agents.get(intent.agentId);
      const version = signingVersion(event, agent?.version);
      const problem = checkIntentProof(event, {
        currentVersion: agent?.version,
        versionKey: version ? versionKeys.get(`${intent.agentId}@${version}`) : undefined,
        ingressKey: this.ingressKey,
        seen: decidedBefore.has(intent.intentId),
        now,
        maxAgeSeconds: this.deps.config.intentMaxAgeSeconds,
      });
      if (problem) {
        uow.refuse(message, problem);
        refused.push(problem.code);
        continue;
      }
      decidedBefore.add(intent.intentId);
      if (unstorableAt) {
        // A proven intent whose text cannot be stored (U+0000, an unpaired surrogate): refused to the
        // dead letters, where the original bytes are kept, and denied, so its producer gets a result.
        const reason = unstorableTextRejection(unstorableAt);
        uow.refuse(message, reason);
        refused.push(reason.code);
        decisions.push({ runId: intent.intentId, stepId: null, subject: 'intent', agentId: intent.agentId, effect: 'deny', reasons: [reason], policyVersion: bundle.version, grantId: null, request: null });
        counted.push({ effect: 'deny', subject: 'intent', requestedAt: event.time });
        uow.emit(
          EventTypes.IntentDecided,
          {
            runId: intent.intentId,
            agentId: intent.agentId,
            ...(agent ? { agentVersion: toStorableString(version ?? agent.version), tier: agent.tier } : {}),
            effect: 'deny',
            reasons: [reason],
            policyVersion: bundle.version,
            intent: storableIntentCopy(intent),
          },
          { cause: toStorable(event) },
        );
        continue;
      }
      const decision = decideIntent(bundle, intent.agentId, agent, intent);
      decisions.push({ runId: intent.intentId, stepId: null, subject: 'intent', agentId: intent.agentId, effect: decision.effect, reasons: decision.reasons, policyVersion: decision.policyVersion, grantId: null, request: decision.request as unknown as Record<string, unknown> });
      counted.push({ effect: decision.effect, subject: 'intent', requestedAt: event.time });
      uow.emit(
        EventTypes.IntentDecided,
        {
          runId: intent.intentId,
          agentId: intent.agentId,
          ...(agent ? { agentVersion: version ?? agent.version, tier: agent.tier } : {}),
          effect: decision.effect,
          reasons: decision.reasons,
          policyVersion: decision.policyVersion,
          policies: namedPolicies(decision),
          intent,
        },
        { cause: event },
      );
    }

    if (actions.length > 0) await this.decideActions(uow, bundle, actions, agents, versionKeys, decisions, counted, now);
    await this.repository.recordDecisions(uow, decisions);
    uow.afterCommit(() => {
      const decidedAt = Date.now();
      for (const { effect, subject, requestedAt } of counted) {
        this.deps.metrics.policyDecisions.inc({ service: POLICY_SERVICE, effect, subject });
        // From the request's event time (the ingress's, or the producing agent's clock) to the committed decision.
        const asked = Date.parse(requestedAt);
        if (Number.isFinite(asked)) this.deps.metrics.policyDecisionLatency.observe({ service: POLICY_SERVICE, subject }, Math.max(0, decidedAt - asked) / 1000);
      }
      for (const code of refused) this.deps.metrics.intentsRejected.inc({ service: POLICY_SERVICE, reason: code });
    });
  }

  private async decideActions(
    uow: UnitOfWork,
    bundle: Awaited<ReturnType<PolicySets['current']>>,
    actions: ActionEvent[],
    agents: Awaited<ReturnType<PolicyRepository['agents']>>,
    versionKeys: Awaited<ReturnType<PolicyRepository['versionKeys']>>,
    decisions: DecisionRow[],
    counted: Array<{ effect: string; subject: string; requestedAt: string }>,
    now: Date,
  ): Promise<void> {
    const profiles = await this.repository.toolProfiles(uow, actions.map((e) => e.data.tool));
    const admitted = await this.repository.admittedRuns(uow, actions.map((e) => e.data.runId));
    const refusedActions: Array<{ reason: string; runId: string; agentId: string }> = [];
    const refs = actions.flatMap((e) => {
      const tool = profiles.get(e.data.tool);
      const id = tool?.resourceArgument ? e.data.arguments[tool.resourceArgument] : undefined;
      return tool?.resourceKind && typeof id === 'string' ? [{ kind: tool.resourceKind, id }] : [];
    });
    const resources = await this.repository.resources(uow, refs);
    const refusedApprovals: string[] = [];
    const usedApprovals = await this.repository.usedApprovals(uow, actions.flatMap((e) => (e.data.approval ? [e.data.approval.approvalId] : [])));

    for (const event of actions) {
      const action = event.data;
      const agent = agents.get(action.agentId);
      const tool = profiles.get(action.tool);
      const agentVersion = action.agentVersion ?? agent?.version;
      const resourceId = tool?.resourceArgument ? action.arguments[tool.resourceArgument] : undefined;
      const resource: ResourceProfile | undefined = tool?.resourceKind && typeof resourceId === 'string' ? resources.get(`${tool.resourceKind}/${resourceId}`) : undefined;
      const runAgent = admitted.get(action.runId);
      const refusal =
        runAgent === undefined
          ? deny(bundle.version, 'run_not_admitted', `run ${action.runId} was not admitted by policy; actions are decided only for runs whose intent was allowed`)
          : runAgent !== action.agentId
            ? deny(bundle.version, 'agent_not_run_agent', `run ${action.runId} was admitted for agent "${runAgent}", not "${action.agentId}"; an agent may act only in the runs admitted for it`)
            : undefined;
      let decision: PolicyDecision;
      if (refusal) {
        decision = refusal;
        refusedActions.push({ reason: refusal.reasons[0].code, runId: action.runId, agentId: action.agentId });
      } else if (agentVersion && versionKeys.get(`${action.agentId}@${agentVersion}`)?.keyStatus === 'revoked') {
        decision = deny(bundle.version, 'agent_version_revoked', `the key of agent "${action.agentId}" version ${agentVersion} was revoked; it may do nothing more`);
      } else {
        decision = decideAction(bundle, { agentId: action.agentId, agent, toolName: action.tool, tool, arguments: action.arguments, resource, workflowTier: action.workflowTier, runId: action.runId });
      }
      let approvalId: string | null = null;
      // A refused action is not decided: an approval it carries is left unused.
      if (action.approval && !refusal) {
        const approved = applyApproval(decision, action, { attestationKey: this.ingressKey, used: usedApprovals, now });
        decision = approved.decision;
        if (approved.consumed) {
          approvalId = approved.consumed;
          usedApprovals.add(approvalId);
        }
        const code = decision.effect === 'deny' ? decision.reasons[0]?.code : undefined;
        if (code?.startsWith('approv')) {
          refusedApprovals.push(code);
          this.logger.warn(`refused approval ${action.approval.approvalId} on run ${action.runId}: ${code}`);
        }
      }
      const grant =
        decision.effect === 'allow' && agentVersion
          ? issueGrant(this.grantKey, { agentId: action.agentId, agentVersion, tool: action.tool, arguments: action.arguments, policyVersion: decision.policyVersion }, { runId: action.runId, stepId: action.stepId }, randomUUID(), now, this.deps.config.grantTtlSeconds)
          : undefined;
      decisions.push({
        runId: action.runId,
        stepId: action.stepId,
        subject: 'action',
        agentId: action.agentId,
        effect: decision.effect,
        reasons: decision.reasons,
        policyVersion: decision.policyVersion,
        grantId: grant?.grantId ?? null,
        approvalId,
        request: (decision.request as unknown as Record<string, unknown>) ?? null,
      });
      counted.push({ effect: decision.effect, subject: action.approval ? 'approved_action' : 'action', requestedAt: event.time });
      uow.emit(
        EventTypes.ActionDecided,
        {
          runId: action.runId,
          stepId: action.stepId,
          effect: decision.effect,
          reasons: decision.reasons,
          policyVersion: decision.policyVersion,
          policies: namedPolicies(decision),
          ...(grant ? { grant } : {}),
          ...(decision.approvers.length ? { approvers: decision.approvers } : {}),
          ...(decision.effectiveTier ? { effectiveTier: decision.effectiveTier } : {}),
          ...(decision.verify ? { verify: true } : {}),
        },
        { cause: event },
      );
    }
    uow.afterCommit(() => {
      for (const reason of refusedApprovals) this.deps.metrics.approvalsRefused.inc({ service: POLICY_SERVICE, reason });
      for (const r of refusedActions) {
        this.deps.metrics.actionsRefused.inc({ service: POLICY_SERVICE, reason: r.reason });
        // Only the run, the agent and the reason (patterned ids): never the arguments.
        this.logger.warn(`refused an action of agent "${r.agentId}" on run ${r.runId}: ${r.reason}`);
      }
    });
  }
}

/**
 * Learns tools from the tool manifest: `govmesh.tool.registered.v1` (the tool gateway's, keyed by
 * the tool name) is the only source of the tool profiles actions are decided on. Each tool keeps
 * its newest version, and of one version the latest event, so an event arriving late never undoes
 * a newer one; a retired tool is no longer known, and an action on it is denied as unregistered.
 *
 * The event is trusted as far as the topic is: only the tool gateway and policy should produce to
 * govmesh.registry (Kafka ACLs in production; no outside producer in embedded mode), since a
 * forged manifest could describe a tool as less dangerous than it is.
 */
@Injectable()
@HandlesEvents(POLICY_SERVICE, [EventTypes.ToolRegistered])
export class ToolRegistryHandler implements BatchEventHandler<typeof EventTypes.ToolRegistered> {
  private readonly logger = new Logger(POLICY_SERVICE);

  constructor(private readonly repository: PolicyRepository) {}

  async handle(batch: ReadonlyArray<Consumed<typeof EventTypes.ToolRegistered>>, uow: UnitOfWork): Promise<void> {
    const changes: ToolProfileChange[] = [];
    for (const { event } of batch) {
      if (event.data.manifest.name !== event.data.name) {
        // Which tool the manifest describes is unclear: learn nothing from it.
        this.logger.warn(`ignored ${event.type} ${event.id}: it names tool ${event.data.name} but carries the manifest of ${event.data.manifest.name}`);
        continue;
      }
      changes.push(toolProfileChange(event));
    }
    const applied = await this.repository.saveToolProfiles(uow, newestPerTool(changes));
    uow.afterCommit(() => {
      for (const c of applied) this.logger.log(`tool ${c.name} ${c.version} is ${c.status === 'active' ? `known (${c.sideEffect}, ${c.classification}${c.maxTier ? `, up to ${c.maxTier}` : ''})` : 'retired'}`);
    });
  }
}
