import { randomUUID } from 'node:crypto';
import { Inject, Injectable } from '@nestjs/common';
import { InjectDataSource } from '@nestjs/typeorm';
import type { DataSource } from 'typeorm';
import { EventTypes } from '@govmesh/contracts';
import type { EventHandlers } from '@govmesh/messaging';
import { ENDPOINT_DEPS, ServiceEndpoint, type ServiceEndpointDeps } from '@govmesh/nest-runtime';
import { ESCALATION_CONFIDENCE, routeByRisk } from './builtin-provider';
import { MODEL_ROUTER_DATABASE, MODEL_ROUTER_SERVICE } from './database';
import { ModelCallRecord } from './entities';

/** Layer 3: routes each model call by risk and escalates to the strong model when unsure. */
@Injectable()
export class ModelRouterEndpoint extends ServiceEndpoint {
  constructor(@InjectDataSource(MODEL_ROUTER_SERVICE) dataSource: DataSource, @Inject(ENDPOINT_DEPS) deps: ServiceEndpointDeps) {
    super(MODEL_ROUTER_SERVICE, MODEL_ROUTER_DATABASE.schema, dataSource, deps);
  }

  protected handlers(): EventHandlers {
    return {
      [EventTypes.ModelRequested]: async (event, ctx) => {
        const request = event.data;
        let route = routeByRisk(request.risk);
        let answer = route.provider.complete(route.model, request);
        if (answer.confidence < ESCALATION_CONFIDENCE && route.model !== 'builtin-large') {
          await this.record(ctx.manager, request, route.model, route.provider.name, route.reason, answer);
          route = { ...routeByRisk('high'), reason: `escalated: ${route.model} confidence ${answer.confidence} below ${ESCALATION_CONFIDENCE}` };
          answer = route.provider.complete(route.model, request);
        }
        await this.record(ctx.manager, request, route.model, route.provider.name, route.reason, answer);
        ctx.emit(EventTypes.ModelCompleted, {
          runId: request.runId,
          stepId: request.stepId,
          model: route.model,
          provider: route.provider.name,
          confidence: answer.confidence,
          proposal: answer.proposal,
          usage: answer.usage,
        });
      },
    };
  }

  private async record(
    manager: import('typeorm').EntityManager,
    request: { runId: string; stepId: string; risk: string },
    model: string,
    provider: string,
    reason: string,
    answer: { confidence: number; usage: { inputTokens: number; outputTokens: number } },
  ): Promise<void> {
    await manager.insert(ModelCallRecord, {
      id: randomUUID(),
      runId: request.runId,
      stepId: request.stepId,
      model,
      provider,
      risk: request.risk,
      routingReason: reason,
      confidence: answer.confidence,
      inputTokens: answer.usage.inputTokens,
      outputTokens: answer.usage.outputTokens,
    });
    this.deps.metrics.modelCalls.inc({ service: this.service, model, provider });
  }
}
