import { randomUUID } from 'node:crypto';
import { BadRequestException, Body, Controller, Get, Headers, HttpCode, HttpException, HttpStatus, Inject, Logger, NotFoundException, Param, Post, Res } from '@nestjs/common';
import type { Response } from 'express';
import { createEvent, encodeEvent, EventTypes, findUnstorableText, maxMessageBytesFor, Topics, validateEventData, type IntentSubmittedV1 } from '@govmesh/contracts';
import { CurrentPrincipal, GOVMESH_CONFIG, hasRole, Roles, type GovmeshConfig, type Principal } from '@govmesh/nest-runtime';
import { INTENT_SIGNATURE_HEADER } from '@govmesh/signing';
import { ApiOkResponse, ApiOperation, ApiParam, ApiTags } from '@nestjs/swagger';
import { ApiRefusals } from '@govmesh/nest-runtime';
import type { RunState } from './runs/run-state';
import type { RunView } from './runs/runs.repository';
import { RunsService } from './runs/runs.service';

export function runView(run: RunState, view?: Pick<RunView, 'timeline' | 'steps'>) {
  return {
    runId: run.runId,
    agentId: run.agentId,
    status: run.status,
    outcome: run.outcome,
    currentStep: run.cursor?.stepId ?? null,
    currentExecution: run.cursor?.execId || null,
    reasons: run.reasons,
    result: run.result,
    workflow: { id: run.workflowId, version: run.workflowVersion },
    ...(run.review ? { review: { id: run.review.id, kind: run.review.kind, level: run.review.level, dueAt: run.review.dueAt, expiresAt: run.review.expiresAt, link: `/v1/${run.review.kind === 'escalation' ? 'escalations' : 'approvals'}/${run.review.id}` } } : {}),
    paused: run.paused,
    createdAt: run.createdAt,
    deadlineAt: run.deadlineAt,
    completedAt: run.completedAt,
    ...(view ? { steps: view.steps, timeline: view.timeline.map((t) => ({ at: t.at, step: t.stepId, kind: t.kind, eventType: t.eventType, eventId: t.eventId, detail: t.detail })) } : {}),
  };
}

const SIGNATURE = /^[A-Za-z0-9_-]{86}$/;

/** HTTP ingress: the same path an agent takes through Kafka, for producers that speak HTTP. */
@ApiTags('runs')
@ApiRefusals(401, 403)
@Controller('v1')
export class RunsController {
  private readonly logger = new Logger('orchestrator');

  constructor(
    private readonly runs: RunsService,
    @Inject(GOVMESH_CONFIG) private readonly config: GovmeshConfig,
  ) {}

  /** A refused request says why to the caller, and is logged and counted for operators. */
  private refuse(code: string, message: string, status: HttpStatus = HttpStatus.BAD_REQUEST): never {
    this.runs.recordRejectedIntent(code);
    this.logger.warn(`intent refused at the HTTP ingress: ${code}: ${message}`);
    throw new HttpException({ code, message }, status);
  }

  /**
   * An agent submits an intent as itself: its credential names the agent, and an intent naming
   * another is refused. A `govmesh-signature` header carries the agent's own signature of the
   * intent as sent; without one, the ingress attests the authenticated submission with its key.
   */
  @Post('intents')
  @ApiOperation({ summary: 'Submit an intent', description: 'Role: agent (the key names the agent). Body: an intent (`task`, `input`, optional `intentId`, `submittedAt`, `workflow`). Optional header `govmesh-signature`: the agent\'s Ed25519 signature of the intent as sent (see docs/signing.md).' })
  @ApiRefusals({ 400: 'The intent is invalid, names an unknown workflow or has an invalid signature header', 403: 'The key acts for another agent, or the workflow does not admit this agent', 413: 'The intent is too large' })
  @HttpCode(202)
  @Roles('agent')
  async submit(
    @Body() body: unknown,
    @CurrentPrincipal() principal: Principal,
    @Headers('traceparent') traceparent: string | undefined,
    @Headers(INTENT_SIGNATURE_HEADER) signature: string | undefined,
    @Res({ passthrough: true }) res: Response,
  ) {
    if (!body || typeof body !== 'object' || Array.isArray(body)) {
      this.refuse('invalid_intent', 'the body must be a JSON object');
    }
    const given = body as Record<string, unknown>;
    if (given['agentId'] !== undefined && given['agentId'] !== principal.agentId) {
      this.refuse('agent_mismatch', `this credential acts for agent "${principal.agentId}" and cannot submit an intent as "${String(given['agentId'])}"`, HttpStatus.FORBIDDEN);
    }
    if (signature !== undefined && !SIGNATURE.test(signature)) {
      this.refuse('invalid_signature_header', `${INTENT_SIGNATURE_HEADER} must be a base64url Ed25519 signature (86 characters)`);
    }
    // A signed intent is taken exactly as signed; an unsigned one gets an id and a time here.
    const intent = (signature ? { agentId: principal.agentId, ...given } : { intentId: randomUUID(), submittedAt: new Date().toISOString(), agentId: principal.agentId, ...given }) as IntentSubmittedV1;
    const invalid = validateEventData(EventTypes.IntentSubmitted, intent);
    if (invalid) this.refuse('invalid_intent', invalid.message);
    const workflow = await this.runs.workflowFor(intent.workflow);
    if (!workflow) this.refuse('workflow_unknown', `no workflow "${intent.workflow}" is published; GET /v1/workflows lists them`);
    const admitted = workflow.definition.agents;
    if (admitted && !admitted.includes(intent.agentId)) {
      this.refuse('workflow_not_allowed', `workflow "${workflow.definition.id}" runs only for agents ${admitted.join(', ')}`, HttpStatus.FORBIDDEN);
    }
    const unstorable = findUnstorableText(intent);
    if (unstorable) this.refuse('unstorable_text', `text at ${unstorable} contains U+0000, which cannot be stored`);
    // The intent travels on as events; refuse here what a consumer would refuse later.
    const bytes = encodeEvent(createEvent(EventTypes.IntentSubmitted, intent, { source: 'govmesh/orchestrator', subject: intent.intentId, correlationId: intent.intentId })).length;
    const limit = maxMessageBytesFor(Topics.intents, this.config.maxMessageBytes);
    if (bytes > limit) this.refuse('intent_too_large', `the intent's event would be ${bytes} bytes, above the limit of ${limit}`, HttpStatus.PAYLOAD_TOO_LARGE);
    const { run, created } = await this.runs.submitIntent(intent, { requester: principal.id, workflow, traceparent, agentSignature: signature });
    if (!created) res.status(200);
    return { runId: run.runId, status: run.status, created, workflow: { id: run.workflowId, version: run.workflowVersion }, links: { run: `/v1/runs/${encodeURIComponent(run.runId)}` } };
  }

  /** Operators, reviewers and auditors read any run; an agent only its own (others are not found). */
  @Get('runs/:id')
  @ApiOperation({ summary: 'A run with its step executions and timeline', description: 'Roles: operator, reviewer, auditor; an agent only its own runs.' })
  @ApiParam({ name: 'id', description: 'The run id (= intent id)' })
  @ApiOkResponse({ description: 'The run' })
  @ApiRefusals({ 404: 'No such run (or not yours)' })
  @Roles('operator', 'reviewer', 'auditor', 'agent')
  async get(@Param('id') id: string, @CurrentPrincipal() principal: Principal) {
    const found = await this.runs.view(id);
    if (!found || !this.mayAccess(principal, found.run)) throw new NotFoundException({ code: 'run_not_found', message: `no run with id "${id}"` });
    return runView(found.run, found);
  }

  private mayAccess(principal: Principal, run: RunState): boolean {
    return hasRole(principal, 'operator', 'reviewer', 'auditor') || run.agentId === principal.agentId;
  }

  /** A signal: cancels a run that has not ended; it ends `cancelled` with the reason given. */
  @Post('runs/:id/cancel')
  @ApiOperation({ summary: 'Cancel a run', description: 'Roles: operator, or the agent that submitted it. Body: `{ reason? }`. The run ends `cancelled`; an open review item is withdrawn.' })
  @ApiParam({ name: 'id', description: 'The run id' })
  @ApiRefusals({ 400: 'Invalid reason', 404: 'No such run (or not yours)' })
  @HttpCode(200)
  @Roles('operator', 'agent')
  async cancel(@Param('id') id: string, @Body() body: unknown, @CurrentPrincipal() principal: Principal) {
    const reason = body && typeof body === 'object' && !Array.isArray(body) ? (body as Record<string, unknown>)['reason'] : undefined;
    if (reason !== undefined && (typeof reason !== 'string' || reason.length === 0 || reason.length > 2000 || reason.includes('\u0000'))) {
      throw new BadRequestException({ code: 'invalid_reason', message: 'reason must be a string of 1 to 2000 characters' });
    }
    const found = await this.runs.view(id);
    const mine = found !== null && (hasRole(principal, 'operator') || found.run.agentId === principal.agentId);
    const by = `${principal.name} (${principal.id})`;
    const run = mine ? await this.runs.signal(id, { kind: 'cancel', reason: { code: 'cancelled', message: `${(reason as string | undefined) ?? 'cancelled by request'} — by ${by}` } }) : null;
    if (!run) throw new NotFoundException({ code: 'run_not_found', message: `no run with id "${id}"` });
    return runView(run);
  }
}
