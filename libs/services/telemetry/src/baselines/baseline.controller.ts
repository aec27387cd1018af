import { BadRequestException, Body, Controller, Get, HttpCode, Inject, NotFoundException, Param, Post, Query } from '@nestjs/common';
import { ApiOkResponse, ApiOperation, ApiParam, ApiQuery, ApiTags } from '@nestjs/swagger';
import { Type } from '@sinclair/typebox';
import { BehaviourAnomalyKind } from '@govmesh/contracts';
import { ApiJsonBody, ApiRefusals, CurrentPrincipal, ENDPOINT_DEPS, Roles, validateRequest, type Principal, type ServiceEndpointDeps } from '@govmesh/nest-runtime';
import { judgeCost, parseWindow } from './baseline-statistics';
import { BaselineRepository } from './baseline.repository';

const DAY_MS = 86_400_000;
const AGENT_ID = /^[A-Za-z0-9][A-Za-z0-9._:-]{0,127}$/;
const WORKFLOW_ID = /^[a-z][a-z0-9-]{1,63}$/;

const AcknowledgeBody = Type.Object(
  { kind: BehaviourAnomalyKind, subject: Type.String({ minLength: 1, maxLength: 300 }) },
  { additionalProperties: false },
);

const share = (part: number, whole: number) => (whole > 0 ? Math.round((part / whole) * 10000) / 10000 : null);
/** A number to three decimals, null when there is none. */
const rounded = (n: number | null | undefined) => (n === null || n === undefined ? null : Math.round(Number(n) * 1000) / 1000);

function checkAgentId(id: string): void {
  if (!AGENT_ID.test(id)) throw new BadRequestException({ code: 'invalid_agent_id', message: 'an agent id is 1-128 letters, digits, . _ : - (starting with a letter or digit)', fields: [{ field: 'id', problem: 'is not an agent id' }] });
}

/**
 * Behaviour baselines per agent: what an agent usually does over the window (tools, egress
 * destinations, model tokens per run, deny and escalation rates), the alerts raised about it, and
 * their acknowledgement.
 */
@ApiTags('telemetry')
@ApiRefusals(401, 403)
@Controller('v1/agents')
export class BaselinesController {
  constructor(
    private readonly baselines: BaselineRepository,
    @Inject(ENDPOINT_DEPS) private readonly deps: ServiceEndpointDeps,
  ) {}

  @Get(':id/baseline')
  @Roles('auditor', 'operator')
  @ApiOperation({ summary: "An agent's behaviour baseline", description: 'Roles: auditor, operator. Over the last `GOVMESH_BASELINE_WINDOW_DAYS`: the tools and egress destinations the agent used (calls, share, last use), model tokens per completed run (mean, standard deviation, the outlier threshold), deny and escalation rates over the window and over the recent runs, whether it has warmed up, and the alerts raised about it.' })
  @ApiParam({ name: 'id', description: 'The agent id' })
  @ApiOkResponse({ description: 'The baseline and the alerts' })
  @ApiRefusals({ 400: 'The id is not an agent id (`invalid_agent_id`)', 404: 'Telemetry has seen nothing of this agent in the window (`baseline_not_found`)' })
  async baseline(@Param('id') id: string) {
    checkAgentId(id);
    const settings = this.deps.config.baseline;
    const now = new Date();
    const from = new Date(now.getTime() - settings.windowDays * DAY_MS);
    const { usage, runs, recent, alerts } = await this.baselines.baselineOf(id, from, settings.recentRuns);
    const completed = Number(runs?.n ?? 0);
    if (completed === 0 && usage.length === 0 && alerts.length === 0) throw new NotFoundException({ code: 'baseline_not_found', message: `telemetry has no runs or tool calls of agent "${id}" in the last ${settings.windowDays} days` });
    const toolCalls = usage.filter((u) => u.dimension === 'tool').reduce((n, u) => n + Number(u.calls), 0);
    const egressCalls = usage.filter((u) => u.dimension === 'egress').reduce((n, u) => n + Number(u.calls), 0);
    const mean = Number(runs?.mean ?? 0);
    const stddev = Number(runs?.sd ?? 0);
    const recentRuns = Number(recent?.n ?? 0);
    return {
      agentId: id,
      windowDays: settings.windowDays,
      from: from.toISOString(),
      warmedUp: completed >= settings.minRuns,
      minRuns: settings.minRuns,
      completedRuns: completed,
      tools: usage.filter((u) => u.dimension === 'tool').map((u) => ({ tool: u.subject, calls: Number(u.calls), share: share(Number(u.calls), toolCalls), lastSeenAt: new Date(u.last_seen_at).toISOString() })),
      egress: usage.filter((u) => u.dimension === 'egress').map((u) => ({ destination: u.subject, calls: Number(u.calls), share: share(Number(u.calls), egressCalls), lastSeenAt: new Date(u.last_seen_at).toISOString() })),
      costPerRun: { unit: 'model_tokens', mean: rounded(mean), stddev: rounded(stddev), outlierAbove: rounded(judgeCost(0, { runs: completed, mean, stddev }, settings.costSigma, settings.minRuns).threshold), sigma: settings.costSigma },
      denyRate: { window: share(Number(runs?.denied ?? 0), completed), recent: share(Number(recent?.denied ?? 0), recentRuns), deniedRuns: Number(runs?.denied ?? 0) },
      escalationRate: { window: share(Number(runs?.escalated ?? 0), completed), recent: share(Number(recent?.escalated ?? 0), recentRuns), escalatedRuns: Number(runs?.escalated ?? 0) },
      recentRuns,
      alerts: alerts.map((a) => ({
        kind: a.kind,
        subject: a.subject,
        runId: a.run_id,
        observed: a.observed,
        expected: a.expected,
        raisedAt: new Date(a.raised_at).toISOString(),
        acknowledgedAt: a.acknowledged_at ? new Date(a.acknowledged_at).toISOString() : null,
        acknowledgedBy: a.acknowledged_by,
      })),
    };
  }

  @Post(':id/baseline/acknowledge')
  @HttpCode(200)
  @Roles('operator')
  @ApiOperation({ summary: 'Acknowledge a behaviour alert', description: 'Role: operator. The next anomaly of the same kind and subject raises an alert again at once, instead of after the window.' })
  @ApiParam({ name: 'id', description: 'The agent id' })
  @ApiJsonBody(AcknowledgeBody, 'The alert: its kind and subject')
  @ApiOkResponse({ description: 'The alert acknowledged' })
  @ApiRefusals({ 400: 'A malformed id or body (`invalid_agent_id`, `invalid_acknowledgement`)', 404: 'No such alert (`alert_not_found`)' })
  async acknowledge(@Param('id') id: string, @Body() body: unknown, @CurrentPrincipal() principal: Principal) {
    checkAgentId(id);
    const { kind, subject } = validateRequest(AcknowledgeBody, body, 'invalid_acknowledgement');
    const alert = await this.baselines.acknowledge(id, kind, subject, principal.id);
    if (!alert) throw new NotFoundException({ code: 'alert_not_found', message: `no ${kind} alert about "${subject.slice(0, 300)}" for agent "${id}"` });
    return { agentId: id, kind, subject, runId: alert.runId, raisedAt: new Date(alert.raisedAt).toISOString(), acknowledged: true };
  }
}

/**
 * Outcome KPIs per workflow, from the cases (runs) telemetry saw complete: how many and how they
 * ended, cycle time, and how often a human overrode the agent or the case was escalated.
 * `/v1/workflows/:id/kpis` sits beside the orchestrator's `/v1/workflows/:id` and
 * `/v1/workflows/:id/versions/:v` without overlapping them (as `/v1/runs/:id/timeline` does
 * beside `/v1/runs/:id`).
 */
@ApiTags('telemetry')
@ApiRefusals(401, 403)
@Controller('v1/workflows')
export class WorkflowKpisController {
  constructor(private readonly baselines: BaselineRepository) {}

  @Get(':id/kpis')
  @Roles('auditor', 'operator')
  @ApiOperation({ summary: "A workflow's outcome KPIs", description: 'Roles: auditor, operator. Cases completed in the window (by outcome), cycle time (mean, p50, p90, max seconds, from the run\'s start to its result), the human override rate (a reviewer rejected or edited a proposed action or checkpoint, or resolved an escalation by supplying the output, taking over or aborting) and the escalation rate, both per completed case.' })
  @ApiParam({ name: 'id', description: 'The workflow id' })
  @ApiQuery({ name: 'window', required: false, description: '`<n>h` or `<n>d`, from 1h to 90d (default 7d)', schema: { type: 'string', pattern: '^[1-9][0-9]{0,3}[hd]$', default: '7d' } })
  @ApiOkResponse({ description: 'The KPIs over the window' })
  @ApiRefusals({ 400: 'A malformed workflow id or window (`invalid_workflow_id`, `invalid_query`)' })
  async kpis(@Param('id') id: string, @Query('window') window?: string) {
    if (!WORKFLOW_ID.test(id)) throw new BadRequestException({ code: 'invalid_workflow_id', message: 'a workflow id is 2-64 lowercase letters, digits and -, starting with a letter', fields: [{ field: 'id', problem: 'is not a workflow id' }] });
    const parsed = parseWindow(window);
    if (!parsed) throw new BadRequestException({ code: 'invalid_query', message: 'window must be <n>h or <n>d, from 1h to 90d (e.g. 7d)', fields: [{ field: 'window', problem: 'is not a window from 1h to 90d' }] });
    const to = new Date();
    const from = new Date(to.getTime() - parsed.ms);
    const { totals, outcomes } = await this.baselines.workflowKpis(id, from, to);
    const cases = Number(totals?.cases ?? 0);
    const overridden = Number(totals?.overridden ?? 0);
    const escalated = Number(totals?.escalated ?? 0);
    return {
      workflowId: id,
      window: parsed.text,
      from: from.toISOString(),
      to: to.toISOString(),
      casesCompleted: cases,
      byOutcome: Object.fromEntries(outcomes.map((o) => [o.outcome ?? 'unknown', Number(o.n)])),
      cycleTimeSeconds: { mean: rounded(totals?.mean), p50: rounded(totals?.p50), p90: rounded(totals?.p90), max: rounded(totals?.max) },
      overrides: overridden,
      overrideRate: share(overridden, cases),
      escalations: escalated,
      escalationRate: share(escalated, cases),
    };
  }
}
