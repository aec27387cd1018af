import { randomUUID } from 'node:crypto';
import { BadRequestException, Body, Controller, Get, Headers, HttpCode, Logger, NotFoundException, Param, Post, Res } from '@nestjs/common';
import type { Response } from 'express';
import { validateEventData, EventTypes, type IntentSubmittedV1 } from '@govmesh/contracts';
import { OrchestratorEndpoint } from './orchestrator.endpoint';
import type { RunRecord, RunTimelineEntry } from './entities';

function runView(run: RunRecord, timeline?: RunTimelineEntry[]) {
  return {
    runId: run.id,
    agentId: run.agentId,
    status: run.status,
    outcome: run.outcome,
    currentStep: run.currentStep,
    reasons: run.reasons,
    result: run.result,
    workflow: { id: run.workflowId, version: run.workflowVersion },
    createdAt: run.createdAt,
    completedAt: run.completedAt,
    ...(timeline
      ? { timeline: timeline.map((t) => ({ at: t.at, step: t.stepId, kind: t.kind, eventType: t.eventType, eventId: t.eventId, detail: t.detail })) }
      : {}),
  };
}

/** HTTP ingress: the same path an agent takes through Kafka, for producers that speak HTTP. */
@Controller('v1')
export class RunsController {
  private readonly logger = new Logger('orchestrator');

  constructor(private readonly orchestrator: OrchestratorEndpoint) {}

  /** A refused request says why to the caller, and is logged and counted for operators. */
  private refuse(code: string, message: string): never {
    this.orchestrator.recordRejectedIntent(code);
    this.logger.warn(`intent refused at the HTTP ingress: ${code}: ${message}`);
    throw new BadRequestException({ code, message });
  }

  @Post('intents')
  @HttpCode(202)
  async submit(@Body() body: unknown, @Headers('traceparent') traceparent: string | undefined, @Res({ passthrough: true }) res: Response) {
    if (!body || typeof body !== 'object' || Array.isArray(body)) {
      this.refuse('invalid_intent', 'the body must be a JSON object');
    }
    const intent = { intentId: randomUUID(), submittedAt: new Date().toISOString(), ...(body as Record<string, unknown>) } as IntentSubmittedV1;
    const invalid = validateEventData(EventTypes.IntentSubmitted, intent);
    if (invalid) this.refuse('invalid_intent', invalid.message);
    const { run, created } = await this.orchestrator.submitIntent(intent, traceparent);
    if (!created) res.status(200);
    return { runId: run.id, status: run.status, created, links: { run: `/v1/runs/${encodeURIComponent(run.id)}` } };
  }

  @Get('runs/:id')
  async get(@Param('id') id: string) {
    const found = await this.orchestrator.findRun(id);
    if (!found) throw new NotFoundException({ code: 'run_not_found', message: `no run with id "${id}"` });
    return runView(found.run, found.timeline);
  }
}
