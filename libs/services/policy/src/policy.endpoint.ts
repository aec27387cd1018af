import { randomUUID } from 'node:crypto';
import { Inject, Injectable } from '@nestjs/common';
import { InjectDataSource } from '@nestjs/typeorm';
import type { DataSource, EntityManager } from 'typeorm';
import { EventTypes } from '@govmesh/contracts';
import type { EventHandlers } from '@govmesh/messaging';
import { ENDPOINT_DEPS, ServiceEndpoint, type ServiceEndpointDeps } from '@govmesh/nest-runtime';
import { grantForAction } from '@govmesh/action-grants';
import { decideAction, decideIntent, loadPolicyBundle, type AgentIdentity, type PolicyBundle } from '@govmesh/policy-engine';
import { POLICY_DATABASE, POLICY_SERVICE } from './database';
import { AgentRecord, DecisionRecord, ToolProfileRecord } from './entities';
import { BUILT_IN_TOOL_PROFILES, DEMO_AGENTS } from './demo-data';

const GRANT_TTL_SECONDS = 300;

/** Layer 1: decides intents and proposed actions under Cedar policy; deny by default. */
@Injectable()
export class PolicyEndpoint extends ServiceEndpoint {
  readonly bundle: PolicyBundle = loadPolicyBundle();

  constructor(@InjectDataSource(POLICY_SERVICE) dataSource: DataSource, @Inject(ENDPOINT_DEPS) deps: ServiceEndpointDeps) {
    super(POLICY_SERVICE, POLICY_DATABASE.schema, dataSource, deps);
  }

  protected override async prepare(): Promise<void> {
    await this.dataSource.getRepository(ToolProfileRecord).upsert(BUILT_IN_TOOL_PROFILES, ['name']);
    if (this.deps.config.seedDemoData) {
      await this.dataSource.createQueryBuilder().insert().into(AgentRecord).values(DEMO_AGENTS).orIgnore().execute();
    }
    this.logger.log(`policy set ${this.bundle.version} loaded (${Object.keys(this.bundle.policies).length} policies)`);
  }

  private async agent(manager: EntityManager, id: string): Promise<AgentIdentity | undefined> {
    const row = await manager.findOne(AgentRecord, { where: { id } });
    return row ? { id: row.id, version: row.version, owner: row.owner, tier: row.tier, status: row.status } : undefined;
  }

  protected handlers(): EventHandlers {
    const { metrics, config } = this.deps;
    return {
      [EventTypes.IntentSubmitted]: async (event, ctx) => {
        const intent = event.data;
        const agent = await this.agent(ctx.manager, intent.agentId);
        const decision = decideIntent(this.bundle, intent.agentId, agent, intent);
        await ctx.manager.insert(DecisionRecord, {
      id: randomUUID(),
          runId: intent.intentId,
          stepId: null,
          subject: 'intent',
          agentId: intent.agentId,
          effect: decision.effect,
          reasons: decision.reasons,
          policyVersion: decision.policyVersion,
          grantId: null,
        });
        metrics.policyDecisions.inc({ service: this.service, effect: decision.effect, subject: 'intent' });
        ctx.emit(EventTypes.IntentDecided, {
          runId: intent.intentId,
          agentId: intent.agentId,
          ...(agent ? { agentVersion: agent.version, tier: agent.tier } : {}),
          effect: decision.effect,
          reasons: decision.reasons,
          policyVersion: decision.policyVersion,
          intent,
        });
      },
      [EventTypes.ActionProposed]: async (event, ctx) => {
        const action = event.data;
        const agent = await this.agent(ctx.manager, action.agentId);
        const profile = await ctx.manager.findOne(ToolProfileRecord, { where: { name: action.tool } });
        const decision = decideAction(this.bundle, action.agentId, agent, profile ?? undefined, action.tool);
        const grant =
          decision.effect === 'allow'
            ? grantForAction(
                config.grantSecret,
                { agentId: action.agentId, agentVersion: agent?.version, tool: action.tool, arguments: action.arguments, policyVersion: decision.policyVersion },
                randomUUID(),
                new Date(),
                GRANT_TTL_SECONDS,
              )
            : undefined;
        await ctx.manager.insert(DecisionRecord, {
      id: randomUUID(),
          runId: action.runId,
          stepId: action.stepId,
          subject: 'action',
          agentId: action.agentId,
          effect: decision.effect,
          reasons: decision.reasons,
          policyVersion: decision.policyVersion,
          grantId: grant?.grantId ?? null,
        });
        metrics.policyDecisions.inc({ service: this.service, effect: decision.effect, subject: 'action' });
        ctx.emit(EventTypes.ActionDecided, {
          runId: action.runId,
          stepId: action.stepId,
          effect: decision.effect,
          reasons: decision.reasons,
          policyVersion: decision.policyVersion,
          ...(grant ? { grant } : {}),
        });
      },
    };
  }
}
