import { BadRequestException, Body, Controller, Get, HttpCode, HttpException, Logger, NotFoundException, Param, Post, Query } from '@nestjs/common';
import { ApiOkResponse, ApiOperation, ApiParam, ApiQuery, ApiTags } from '@nestjs/swagger';
import { Type } from '@sinclair/typebox';
import { ApiJsonBody, ApiRefusals, CurrentPrincipal, hasRole, Roles, validateRequest, type Principal } from '@govmesh/nest-runtime';
import type { ReviewDecision } from '@govmesh/workflow';
import { RunsRepository, type ReviewItemRow } from './runs/runs.repository';
import { RunsService } from './runs/runs.service';

const DecisionBody = Type.Object(
  {
    decision: Type.Union(['approve', 'reject', 'edit', 'supply', 'take_over', 'retry', 'abort'].map((d) => Type.Literal(d))),
    reason: Type.Optional(Type.String({ minLength: 1, maxLength: 2000 })),
    /** edit of an action approval: the arguments to approve instead (policy decides them again). */
    arguments: Type.Optional(Type.Record(Type.String({ maxLength: 64 }), Type.Unknown(), { maxProperties: 64 })),
    /** edit of a checkpoint, supplied model output, or the outcome of a step taken over. */
    output: Type.Optional(Type.Record(Type.String({ maxLength: 64 }), Type.Unknown(), { maxProperties: 64 })),
    /** supplied missing input fields. */
    input: Type.Optional(Type.Record(Type.String({ maxLength: 64 }), Type.Unknown(), { maxProperties: 64 })),
  },
  { additionalProperties: false },
);

const STATUSES = ['pending', 'approved', 'rejected', 'edited', 'supplied', 'taken_over', 'aborted', 'expired', 'withdrawn'];
const MAX_DECISION_BYTES = 64 * 1024;

function summary(r: ReviewItemRow, path: string) {
  return {
    id: r.id,
    kind: r.kind,
    ...(r.escalation_case ? { case: r.escalation_case } : {}),
    status: r.status,
    runId: r.run_id,
    agentId: r.agent_id,
    requester: r.requester,
    step: r.step_id,
    execution: r.exec_id,
    level: r.level,
    groups: r.eligible_groups,
    ...(r.digest ? { digest: r.digest } : {}),
    reasons: r.reasons,
    decisions: r.decisions,
    requestedAt: new Date(r.requested_at).toISOString(),
    dueAt: r.due_at ? new Date(r.due_at).toISOString() : null,
    expiresAt: r.expires_at ? new Date(r.expires_at).toISOString() : null,
    ...(r.decided_at ? { decidedAt: new Date(r.decided_at).toISOString(), decision: r.decision, decidedBy: r.decided_by, decisionReason: r.decision_reason } : {}),
    links: { self: `${path}/${r.id}`, decide: `${path}/${r.id}/decision`, run: `/v1/runs/${encodeURIComponent(r.run_id)}` },
  };
}

/**
 * What humans decide: action approvals and checkpoints at /v1/approvals, escalated edge cases at
 * /v1/escalations. A reviewer sees the items of their groups; operators and auditors see all and
 * decide none. Each decision goes through the run's interpreter under the run's lock.
 */
abstract class ReviewItemsController {
  private readonly logger = new Logger('orchestrator');

  protected constructor(
    private readonly kind: 'approval' | 'escalation',
    private readonly path: string,
    private readonly runs: RunsService,
    private readonly repository: RunsRepository,
  ) {}

  protected async listItems(principal: Principal, query: Record<string, unknown>) {
    const known = new Set(['status', 'runId', 'agentId', 'limit', 'cursor']);
    const unknown = Object.keys(query).filter((k) => !known.has(k));
    if (unknown.length > 0) throw new BadRequestException({ code: 'invalid_query', message: `unknown query parameter(s): ${unknown.join(', ')}`, fields: unknown.map((f) => ({ field: f, problem: 'is not a known parameter' })) });
    const one = (name: string): string | undefined => {
      const v = query[name];
      if (v === undefined) return undefined;
      if (typeof v !== 'string' || v.length === 0 || v.length > 200 || v.includes('\u0000')) throw new BadRequestException({ code: 'invalid_query', message: `${name} must be given once, 1 to 200 characters`, fields: [{ field: name, problem: 'is invalid' }] });
      return v;
    };
    const status = one('status') ?? 'pending';
    if (status !== 'all' && !STATUSES.includes(status)) throw new BadRequestException({ code: 'invalid_query', message: `status must be one of all, ${STATUSES.join(', ')}`, fields: [{ field: 'status', problem: 'is not a known status' }] });
    const limitText = one('limit') ?? '50';
    const limit = /^[0-9]{1,3}$/.test(limitText) ? Number(limitText) : NaN;
    if (!(limit >= 1 && limit <= 200)) throw new BadRequestException({ code: 'invalid_query', message: 'limit must be an integer from 1 to 200', fields: [{ field: 'limit', problem: 'is out of range' }] });
    const cursor = one('cursor');
    let after: { requestedAt: string; id: string } | undefined;
    if (cursor) {
      const [at, id] = Buffer.from(cursor, 'base64url').toString('utf8').split('|');
      if (!at || !id || Number.isNaN(Date.parse(at))) throw new BadRequestException({ code: 'invalid_query', message: 'cursor is not one this API gave out', fields: [{ field: 'cursor', problem: 'is invalid' }] });
      after = { requestedAt: at, id };
    }
    const groups = hasRole(principal, 'operator', 'auditor') ? null : principal.groups;
    const rows = await this.repository.reviews({ kind: this.kind, ...(status !== 'all' ? { status } : {}), groups, runId: one('runId'), agentId: one('agentId'), limit, after });
    const last = rows.at(-1);
    return {
      items: rows.map((r) => summary(r, this.path)),
      ...(rows.length === limit && last ? { next: `${this.path}?${new URLSearchParams({ status, limit: String(limit), cursor: Buffer.from(`${new Date(last.requested_at).toISOString()}|${last.id}`).toString('base64url') }).toString()}` } : {}),
    };
  }

  /** An item the principal may see: operators and auditors all, reviewers those of their groups (at any level). */
  protected async visibleItem(principal: Principal, id: string): Promise<ReviewItemRow> {
    const row = /^[A-Za-z0-9-]{1,64}$/.test(id) ? await this.repository.review(id) : null;
    const ofKind = row && (this.kind === 'escalation' ? row.kind === 'escalation' : row.kind !== 'escalation');
    const groups = row ? (row.levels as Array<{ groups?: string[] }>).flatMap((l) => l.groups ?? []) : [];
    const visible = row && ofKind && (hasRole(principal, 'operator', 'auditor') || principal.groups.some((g) => groups.includes(g)));
    if (!visible) throw new NotFoundException({ code: 'review_not_found', message: `no ${this.kind} "${id}" that you may see` });
    return row;
  }

  protected async getItem(principal: Principal, id: string) {
    const row = await this.visibleItem(principal, id);
    return { ...summary(row, this.path), state: row.state, levels: row.levels, policyApprovers: row.policy_approvers, history: row.history };
  }

  protected async decideItem(principal: Principal, id: string, body: unknown) {
    const row = await this.visibleItem(principal, id);
    if (JSON.stringify(body ?? null).length > MAX_DECISION_BYTES) throw new HttpException({ code: 'decision_too_large', message: `a decision is at most ${MAX_DECISION_BYTES} bytes of JSON` }, 413);
    const d = validateRequest(DecisionBody, body, 'invalid_decision');
    const result = await this.runs.decide(row.run_id, {
      reviewId: row.id,
      reviewer: { id: principal.id, name: principal.name, roles: principal.roles, groups: principal.groups, ...(principal.agentId ? { agentId: principal.agentId } : {}) },
      decision: d.decision as ReviewDecision,
      ...(d.reason ? { reason: d.reason } : {}),
      ...(d.arguments ? { arguments: d.arguments } : {}),
      ...(d.output ? { output: d.output } : {}),
      ...(d.input ? { input: d.input } : {}),
    });
    if ('refused' in result) {
      this.logger.warn(`decision on ${this.kind} ${row.id} by ${principal.id} refused: ${result.refused.code}`);
      throw new HttpException({ code: result.refused.code, message: result.refused.message, ...(result.refused.fields ? { fields: result.refused.fields } : {}) }, result.refused.status);
    }
    this.logger.log(`${this.kind} ${row.id} of run ${row.run_id}: ${d.decision} by ${principal.name} (${principal.id})`);
    return this.getItem(principal, id);
  }
}

const listDoc = (what: string) =>
  ApiOperation({ summary: `List ${what}`, description: 'Roles: reviewer (only items your groups may decide), operator, auditor. Newest first; `next` pages on.' });

@ApiTags('approvals')
@ApiRefusals(401, 403)
@Controller('v1/approvals')
export class ApprovalsController extends ReviewItemsController {
  constructor(runs: RunsService, repository: RunsRepository) {
    super('approval', '/v1/approvals', runs, repository);
  }

  @Get()
  @listDoc('action approvals and checkpoints')
  @ApiQuery({ name: 'status', required: false, description: 'pending (default), all, or how items ended' })
  @ApiQuery({ name: 'runId', required: false })
  @ApiQuery({ name: 'agentId', required: false })
  @ApiQuery({ name: 'limit', required: false, description: '1-200, default 50' })
  @ApiQuery({ name: 'cursor', required: false })
  @ApiOkResponse({ description: '`{ items, next? }`' })
  @ApiRefusals({ 400: 'An unknown or invalid query parameter' })
  @Roles('reviewer', 'operator', 'auditor')
  list(@CurrentPrincipal() principal: Principal, @Query() query: Record<string, unknown>) {
    return this.listItems(principal, query);
  }

  @Get(':id')
  @ApiOperation({ summary: 'One approval with its full state', description: 'Inputs, retrieved context with citations, model rationale and confidence, the proposed action and its digest, policy reasons and version, the requester, the history.' })
  @ApiParam({ name: 'id' })
  @ApiRefusals({ 404: 'No such item that you may see' })
  @Roles('reviewer', 'operator', 'auditor')
  get(@CurrentPrincipal() principal: Principal, @Param('id') id: string) {
    return this.getItem(principal, id);
  }

  @Post(':id/decision')
  @HttpCode(200)
  @ApiOperation({
    summary: 'Decide an approval',
    description:
      'Role: reviewer in a group of the item\'s level or above (and within policy\'s approvers); never the agent or the principal that submitted the work. `approve`, `reject`, or `edit` with `arguments` (an action: policy decides the edited action again) or `output` (a checkpoint).',
  })
  @ApiParam({ name: 'id' })
  @ApiJsonBody(DecisionBody)
  @ApiRefusals({ 400: 'Invalid decision', 403: 'Not a reviewer of this item, the agent, or the requester', 404: 'No such item that you may see', 409: 'The item was decided, moved on, withdrawn or expired' })
  @Roles('reviewer')
  decide(@CurrentPrincipal() principal: Principal, @Param('id') id: string, @Body() body: unknown) {
    return this.decideItem(principal, id, body);
  }
}

@ApiTags('escalations')
@ApiRefusals(401, 403)
@Controller('v1/escalations')
export class EscalationsController extends ReviewItemsController {
  constructor(runs: RunsService, repository: RunsRepository) {
    super('escalation', '/v1/escalations', runs, repository);
  }

  @Get()
  @listDoc('escalated edge cases')
  @ApiQuery({ name: 'status', required: false })
  @ApiQuery({ name: 'runId', required: false })
  @ApiQuery({ name: 'agentId', required: false })
  @ApiQuery({ name: 'limit', required: false })
  @ApiQuery({ name: 'cursor', required: false })
  @ApiRefusals({ 400: 'An unknown or invalid query parameter' })
  @Roles('reviewer', 'operator', 'auditor')
  list(@CurrentPrincipal() principal: Principal, @Query() query: Record<string, unknown>) {
    return this.listItems(principal, query);
  }

  @Get(':id')
  @ApiOperation({ summary: 'One escalation with its full state' })
  @ApiParam({ name: 'id' })
  @ApiRefusals({ 404: 'No such item that you may see' })
  @Roles('reviewer', 'operator', 'auditor')
  get(@CurrentPrincipal() principal: Principal, @Param('id') id: string) {
    return this.getItem(principal, id);
  }

  @Post(':id/decision')
  @HttpCode(200)
  @ApiOperation({ summary: 'Resolve an escalation', description: 'Role: reviewer of the item\'s groups. `supply` (missing `input`, or a model step\'s `output`), `take_over` (record the step\'s `output` yourself), `retry`, `approve` (accept a low-confidence answer), `abort`; the allowed ones are listed on the item.' })
  @ApiParam({ name: 'id' })
  @ApiJsonBody(DecisionBody)
  @ApiRefusals({ 400: 'Invalid decision', 403: 'Not a reviewer of this item, the agent, or the requester', 404: 'No such item that you may see', 409: 'The item was decided, moved on, withdrawn or expired' })
  @Roles('reviewer')
  decide(@CurrentPrincipal() principal: Principal, @Param('id') id: string, @Body() body: unknown) {
    return this.decideItem(principal, id, body);
  }
}
