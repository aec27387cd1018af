import { randomUUID } from 'node:crypto';
import { Inject, Injectable } from '@nestjs/common';
import { EventTypes } from '@govmesh/contracts';
import { HandlesEvents, type BatchEventHandler, type Consumed, type UnitOfWork } from '@govmesh/messaging';
import { ENDPOINT_DEPS, type ServiceEndpointDeps } from '@govmesh/nest-runtime';
import { ESCALATION_CONFIDENCE, routeByRisk } from './builtin-provider';
import { MODEL_ROUTER_SERVICE } from './database';

export interface ModelCall {
  runId: string;
  stepId: string;
  model: string;
  provider: string;
  risk: string;
  routingReason: string;
  confidence: number;
  inputTokens: number;
  outputTokens: number;
}

/** The model-call ledger. */
@Injectable()
export class ModelCallsRepository {
  async record(uow: UnitOfWork, calls: readonly ModelCall[]): Promise<void> {
    await uow.insertMany(
      'model_calls',
      calls.map((c) => ({
        id: randomUUID(),
        run_id: c.runId,
        step_id: c.stepId,
        model: c.model,
        provider: c.provider,
        risk: c.risk,
        routing_reason: c.routingReason,
        confidence: c.confidence,
        input_tokens: c.inputTokens,
        output_tokens: c.outputTokens,
      })),
    );
  }
}

/** Layer 3: routes each model call by risk and escalates to the strong model when unsure. */
@Injectable()
@HandlesEvents(MODEL_ROUTER_SERVICE, [EventTypes.ModelRequested])
export class ModelRequestsHandler implements BatchEventHandler<typeof EventTypes.ModelRequested> {
  constructor(
    private readonly ledger: ModelCallsRepository,
    @Inject(ENDPOINT_DEPS) private readonly deps: ServiceEndpointDeps,
  ) {}

  async handle(batch: ReadonlyArray<Consumed<typeof EventTypes.ModelRequested>>, uow: UnitOfWork): Promise<void> {
    const calls: ModelCall[] = [];
    for (const { event } of batch) {
      const request = event.data;
      const call = (model: string, provider: string, reason: string, answer: { confidence: number; usage: { inputTokens: number; outputTokens: number } }) =>
        calls.push({ runId: request.runId, stepId: request.stepId, model, provider, risk: request.risk, routingReason: reason, confidence: answer.confidence, ...answer.usage });
      let route = routeByRisk(request.risk);
      let answer = route.provider.complete(route.model, request);
      if (answer.confidence < ESCALATION_CONFIDENCE && route.model !== 'builtin-large') {
        call(route.model, route.provider.name, route.reason, answer);
        route = { ...routeByRisk('high'), reason: `escalated: ${route.model} confidence ${answer.confidence} below ${ESCALATION_CONFIDENCE}` };
        answer = route.provider.complete(route.model, request);
      }
      call(route.model, route.provider.name, route.reason, answer);
      uow.emit(
        EventTypes.ModelCompleted,
        { runId: request.runId, stepId: request.stepId, model: route.model, provider: route.provider.name, confidence: answer.confidence, proposal: answer.proposal, usage: answer.usage, ...(answer.output ? { output: answer.output } : {}) },
        { cause: event },
      );
    }
    await this.ledger.record(uow, calls);
    const { metrics } = this.deps;
    uow.afterCommit(() => {
      for (const c of calls) metrics.modelCalls.inc({ service: MODEL_ROUTER_SERVICE, model: c.model, provider: c.provider });
    });
  }
}
