import { randomUUID } from 'node:crypto';
import { Inject, Injectable, Logger } from '@nestjs/common';
import { EventTypes, newestPerTool, type ModelCompletedV1 } from '@govmesh/contracts';
import { HandlesEvents, type BatchEventHandler, type Consumed, type UnitOfWork } from '@govmesh/messaging';
import { ENDPOINT_DEPS, type ServiceEndpointDeps } from '@govmesh/nest-runtime';
import { ESCALATION_CONFIDENCE, modelCostUsd, routeByRisk, type ModelAnswer, type ModelRequest } from './builtin-provider';
import { MODEL_ROUTER_SERVICE } from './database';
import { traceModelCall } from './model-call-span';
import { callMeasures } from './model-cost';
import { quotedTool, refusedAnswer, toolChangeOf, ToolOffer, ToolSchemas, type ProposalRefusal, type RouterToolChange, type ToolEventRefusal } from './tool-catalog';
import { RouterToolsRepository } from './tools.repository';

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
  toolsOffered: number;
  toolCatalog: string;
  proposalRefused: string | null;
  /** How long the provider took (not stored: the latency histogram's). */
  seconds?: number;
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
        tools_offered: c.toolsOffered,
        tool_catalog: c.toolCatalog,
        proposal_refused: c.proposalRefused,
      })),
    );
  }
}

/** A refused proposal, to count and log once the batch committed. */
interface Refused {
  runId: string;
  stepId: string;
  model: string;
  tool: string;
  refusal: ProposalRefusal;
}

/**
 * Layer 3: routes each model call by risk and escalates to the strong model when unsure. Every
 * call is offered the tool catalog's active tools (as the tool manifest's events taught the
 * router), and every tool-call proposal is checked before it leaves: the tool must be in the
 * catalog and active, and the arguments must match its input schema. A proposal that fails is
 * escalated to the strong model like a low confidence; if the strong model's fails too, the
 * router answers no action with confidence 0 and the reason, counted and logged without the
 * arguments.
 */
@Injectable()
@HandlesEvents(MODEL_ROUTER_SERVICE, [EventTypes.ModelRequested])
export class ModelRequestsHandler implements BatchEventHandler<typeof EventTypes.ModelRequested> {
  private readonly logger = new Logger(MODEL_ROUTER_SERVICE);

  constructor(
    private readonly ledger: ModelCallsRepository,
    private readonly tools: RouterToolsRepository,
    private readonly schemas: ToolSchemas,
    @Inject(ENDPOINT_DEPS) private readonly deps: ServiceEndpointDeps,
  ) {}

  async handle(batch: ReadonlyArray<Consumed<typeof EventTypes.ModelRequested>>, uow: UnitOfWork): Promise<void> {
    const offer = new ToolOffer(await this.tools.active(uow), this.schemas);
    const check = async (answer: ModelAnswer): Promise<ProposalRefusal | null> => {
      const p = answer.proposal;
      const retired = p.kind === 'tool_call' && !offer.knows(p.tool) ? await this.tools.retired(uow, [p.tool]) : new Set<string>();
      return offer.check(p, (name) => retired.has(name));
    };
    const calls: ModelCall[] = [];
    const refused: Refused[] = [];
    for (const { event } of batch) {
      const data = event.data;
      const request: ModelRequest = { ...data, tools: offer.offered };
      const complete = (routed: ReturnType<typeof routeByRisk>) => {
        const started = process.hrtime.bigint();
        const answer = traceModelCall(uow.traceContextOf(event), { model: routed.model, provider: routed.provider.name, risk: data.risk, runId: data.runId, stepId: data.stepId }, () => routed.provider.complete(routed.model, request));
        return { answer, seconds: Number(process.hrtime.bigint() - started) / 1e9 };
      };
      const call = (model: string, provider: string, reason: string, answer: ModelAnswer, refusal: ProposalRefusal | null, seconds: number) => {
        calls.push({
          seconds,
          runId: data.runId,
          stepId: data.stepId,
          model,
          provider,
          risk: data.risk,
          routingReason: reason,
          confidence: answer.confidence,
          ...answer.usage,
          toolsOffered: offer.offered.length,
          toolCatalog: offer.digest,
          proposalRefused: refusal?.code ?? null,
        });
        if (refusal && answer.proposal.kind === 'tool_call') refused.push({ runId: data.runId, stepId: data.stepId, model, tool: answer.proposal.tool, refusal });
      };
      let route = routeByRisk(data.risk);
      let { answer, seconds } = complete(route);
      let refusal = await check(answer);
      let escalatedFrom: ModelCompletedV1['escalatedFrom'];
      if ((refusal || answer.confidence < ESCALATION_CONFIDENCE) && route.model !== 'builtin-large') {
        call(route.model, route.provider.name, route.reason, answer, refusal, seconds);
        escalatedFrom = { model: route.model, provider: route.provider.name, confidence: answer.confidence, usage: answer.usage, ...callMeasures(route.model, answer.usage, seconds) };
        const why = refusal ? `${route.model} proposal refused (${refusal.code})` : `${route.model} confidence ${answer.confidence} below ${ESCALATION_CONFIDENCE}`;
        route = { ...routeByRisk('high'), reason: `escalated: ${why}` };
        ({ answer, seconds } = complete(route));
        refusal = await check(answer);
      }
      call(route.model, route.provider.name, route.reason, answer, refusal, seconds);
      const completed: ModelCompletedV1 = {
        runId: data.runId,
        stepId: data.stepId,
        model: route.model,
        provider: route.provider.name,
        confidence: answer.confidence,
        proposal: answer.proposal,
        usage: answer.usage,
        ...callMeasures(route.model, answer.usage, seconds),
        ...(escalatedFrom ? { escalatedFrom } : {}),
        ...(answer.output ? { output: answer.output } : {}),
      };
      uow.emit(EventTypes.ModelCompleted, refusal ? { ...completed, ...refusedAnswer(refusal) } : completed, { cause: event });
    }
    await this.ledger.record(uow, calls);
    const { metrics } = this.deps;
    const unusable = offer.unusable;
    uow.afterCommit(() => {
      for (const c of calls) {
        const labels = { service: MODEL_ROUTER_SERVICE, model: c.model, provider: c.provider };
        metrics.modelCalls.inc(labels);
        metrics.modelTokens.inc({ ...labels, direction: 'input' }, c.inputTokens);
        metrics.modelTokens.inc({ ...labels, direction: 'output' }, c.outputTokens);
        metrics.modelCost.inc(labels, modelCostUsd(c.model, c));
        if (c.seconds !== undefined) metrics.modelCallDuration.observe(labels, c.seconds);
      }
      for (const r of refused) {
        metrics.modelProposalsRefused.inc({ service: MODEL_ROUTER_SERVICE, model: r.model, reason: r.refusal.code });
        // The run, the step, the tool and where the arguments failed: never the arguments' values.
        const where = r.refusal.paths.length > 0 ? ` at ${r.refusal.paths.join(', ')}` : '';
        this.logger.warn(`refused the proposal of ${r.model} on run ${r.runId} step ${JSON.stringify(r.stepId)}: ${r.refusal.code} (tool ${quotedTool(r.tool)}${where})`);
      }
      for (const u of unusable) this.logger.warn(`tool ${u.name} ${u.version} is not offered: its input schema does not compile (${u.problem})`);
    });
  }
}

/**
 * Learns tools from the tool manifest: `govmesh.tool.registered.v1`, keyed by the tool name, is
 * the only source of the tools the router offers models and checks their proposals against. Each
 * tool keeps its newest version, and of one version the latest event, so an event arriving late
 * never undoes a newer one; a retired tool is no longer offered.
 *
 * Nothing is trusted because it arrived on an internal topic: an event whose source is not the
 * tool gateway (or whose manifest describes another tool than it names) teaches nothing, and is
 * counted and logged. The source is what the producer says, so this catches a stray or
 * misconfigured producer; it is no signature: the topic's ACL (only the tool gateway and policy
 * produce to govmesh.registry) is what keeps a forger out.
 */
@Injectable()
@HandlesEvents(MODEL_ROUTER_SERVICE, [EventTypes.ToolRegistered])
export class ToolRegistryHandler implements BatchEventHandler<typeof EventTypes.ToolRegistered> {
  private readonly logger = new Logger(MODEL_ROUTER_SERVICE);

  constructor(
    private readonly tools: RouterToolsRepository,
    @Inject(ENDPOINT_DEPS) private readonly deps: ServiceEndpointDeps,
  ) {}

  async handle(batch: ReadonlyArray<Consumed<typeof EventTypes.ToolRegistered>>, uow: UnitOfWork): Promise<void> {
    const changes: RouterToolChange[] = [];
    const ignored: Array<{ id: string; source: string; name: string; reason: ToolEventRefusal }> = [];
    for (const { event } of batch) {
      const learned = toolChangeOf(event);
      if ('refused' in learned) ignored.push({ id: event.id, source: event.source, name: event.data.name, reason: learned.refused });
      else changes.push(learned.change);
    }
    const applied = await this.tools.save(uow, newestPerTool(changes));
    uow.afterCommit(() => {
      for (const i of ignored) {
        this.deps.metrics.toolEventsRefused.inc({ service: MODEL_ROUTER_SERVICE, reason: i.reason });
        this.logger.warn(`ignored ${EventTypes.ToolRegistered} ${i.id} (tool ${i.name}) from ${JSON.stringify(i.source.slice(0, 256))}: ${i.reason === 'untrusted_source' ? 'only the tool gateway registers tools' : 'its manifest describes another tool'}`);
      }
      for (const c of applied) this.logger.log(`tool ${c.name} ${c.version} is ${c.status === 'active' ? 'offered to models' : 'retired'}`);
    });
  }
}
