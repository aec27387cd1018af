import { BadRequestException, Body, ConflictException, Controller, Get, HttpCode, NotFoundException, Param, Post } from '@nestjs/common';
import { Type } from '@sinclair/typebox';
import { ApiCreatedResponse, ApiOkResponse, ApiOperation, ApiParam, ApiTags } from '@nestjs/swagger';
import { ApiJsonBody, ApiRefusals, CurrentPrincipal, Roles, ServiceBus, validateRequest, type Principal } from '@govmesh/nest-runtime';
import { GOVMESH_CEDAR_SCHEMA, PolicyError, reevaluate, validatePolicySet, type PolicyBundle, type RecordedRequest } from '@govmesh/policy-engine';
import { PolicyRepository } from './policy.repository';
import { PolicySets } from './policy-sets.service';

const Policies = Type.Record(Type.String({ pattern: '^[A-Za-z0-9][A-Za-z0-9._:-]{0,127}$' }), Type.String({ minLength: 1, maxLength: 20000 }), { minProperties: 1, maxProperties: 1000 });
const UploadBody = Type.Object({ policies: Policies, description: Type.Optional(Type.String({ maxLength: 2000 })) }, { additionalProperties: false });
const SimulateBody = Type.Object(
  {
    policies: Type.Optional(Policies),
    version: Type.Optional(Type.String({ pattern: '^[0-9a-f]{16}$' })),
    limit: Type.Optional(Type.Integer({ minimum: 1, maximum: 5000 })),
  },
  { additionalProperties: false },
);
const VERSION = /^[0-9a-f]{16}$/;

/**
 * Cedar policy sets as managed artefacts: candidates are validated against govmesh's Cedar
 * schema before they are stored (Cedar's own diagnostics on a 400), activation and rollback swap
 * the set in every policy instance without a restart, and impact analysis replays recent
 * decisions under a candidate before anyone activates it.
 */
@ApiTags('policies')
@ApiRefusals(401, 403)
@Controller('v1/policies')
@Roles('operator')
export class PoliciesController {
  constructor(
    private readonly repository: PolicyRepository,
    private readonly sets: PolicySets,
    private readonly bus: ServiceBus,
  ) {}

  @Get()
  @Roles('operator', 'auditor')
  @ApiOperation({ summary: 'List the policy sets', description: 'Roles: operator, auditor.' })
  @ApiOkResponse({ description: 'Every stored set with its status (candidate, active, superseded)' })
  list() {
    return this.repository.policySets();
  }

  /** The Cedar schema policies are validated against. */
  @Get('schema')
  @Roles('operator', 'auditor')
  @ApiOperation({ summary: 'The Cedar schema policies are validated against', description: 'Roles: operator, auditor.' })
  @ApiOkResponse({ description: "govmesh's Cedar schema (JSON form)" })
  schema() {
    return GOVMESH_CEDAR_SCHEMA;
  }

  @Get(':version')
  @Roles('operator', 'auditor')
  @ApiOperation({ summary: 'Get one policy set with its policies', description: 'Roles: operator, auditor.' })
  @ApiParam({ name: 'version', description: 'The set version: 16 hex digits' })
  @ApiOkResponse({ description: 'The policy set' })
  @ApiRefusals({ 404: 'No policy set with this version' })
  async get(@Param('version') version: string) {
    const set = VERSION.test(version) ? await this.repository.policySet(version) : null;
    if (!set) throw new NotFoundException({ code: 'policy_set_not_found', message: `no policy set version "${version}"` });
    return set;
  }

  /** Uploads a candidate set: parsed, validated against the schema, stored; not yet active. */
  @Post()
  @ApiOperation({ summary: 'Upload a candidate policy set', description: "Role: operator. Parsed and validated against the govmesh Cedar schema, stored, not activated. Uploading the same set again answers `created: false`." })
  @ApiJsonBody(UploadBody)
  @ApiCreatedResponse({ description: 'The version of the stored set, its status and whether it was new' })
  @ApiRefusals({ 400: "The body is invalid (`invalid_policy_set`) or the set does not validate (`policy_invalid`, with Cedar's diagnostics)" })
  async upload(@Body() body: unknown, @CurrentPrincipal() principal: Principal) {
    const spec = validateRequest(UploadBody, body, 'invalid_policy_set');
    const bundle = this.validated(spec.policies);
    const { created } = await this.bus.transaction((uow) => this.repository.addCandidate(uow, bundle.version, bundle.policies, spec.description ?? '', principal.id));
    const stored = await this.repository.policySet(bundle.version);
    return { version: bundle.version, status: stored!.status, created, policies: Object.keys(bundle.policies).length };
  }

  @Post(':version/activate')
  @HttpCode(200)
  @ApiOperation({ summary: 'Activate a stored policy set', description: 'Role: operator. Every policy instance switches to it without a restart.' })
  @ApiParam({ name: 'version', description: 'The set version: 16 hex digits' })
  @ApiOkResponse({ description: 'The active version, the one before it, and the change (`activated` or `unchanged`)' })
  @ApiRefusals({ 400: 'The stored set no longer validates (`policy_invalid`)', 404: 'No policy set with this version' })
  async activate(@Param('version') version: string, @CurrentPrincipal() principal: Principal) {
    if (!VERSION.test(version)) throw new NotFoundException({ code: 'policy_set_not_found', message: `no policy set version "${version}"` });
    return this.switchTo(() => Promise.resolve(version), 'activated', principal);
  }

  /** Returns to the set that was active before the current one. */
  @Post('rollback')
  @HttpCode(200)
  @ApiOperation({ summary: 'Roll back to the previously active policy set', description: 'Role: operator.' })
  @ApiOkResponse({ description: 'The active version, the one before it, and the change (`rolled_back` or `unchanged`)' })
  @ApiRefusals({ 400: 'The previous set no longer validates (`policy_invalid`)', 409: 'No set was active before the current one (`nothing_to_roll_back`)' })
  async rollback(@CurrentPrincipal() principal: Principal) {
    return this.switchTo(async (uow) => {
      const previous = await this.repository.previousActivation(uow);
      if (!previous) throw new ConflictException({ code: 'nothing_to_roll_back', message: 'no policy set was active before the current one' });
      return previous;
    }, 'rolled_back', principal);
  }

  private async switchTo(target: (uow: Parameters<Parameters<ServiceBus['transaction']>[0]>[0]) => Promise<string>, change: 'activated' | 'rolled_back', principal: Principal) {
    return this.bus.transaction(async (uow) => {
      await this.repository.lockPolicySets(uow);
      const version = await target(uow);
      const set = await this.repository.policySet(version, uow);
      if (!set) throw new NotFoundException({ code: 'policy_set_not_found', message: `no policy set version "${version}"` });
      const active = await this.repository.activeVersion(uow);
      if (active === version) return { version, previousVersion: null, change: 'unchanged' };
      // Stored sets were validated on upload; loading again guards against a schema change since.
      const bundle = this.validated(set.policies);
      const previous = await this.repository.activate(uow, version, principal.id, change);
      this.sets.emitActivated(uow, bundle, previous, change, principal);
      return { version, previousVersion: previous, change };
    });
  }

  /**
   * Impact analysis: evaluates a candidate (given inline or by version) against the most recent
   * recorded decisions and answers which would change, and how. Nothing is stored.
   */
  @Post('simulate')
  @HttpCode(200)
  @ApiOperation({
    summary: 'Impact analysis of a candidate policy set',
    description: 'Role: operator. Re-evaluates the most recent recorded decisions (`limit`, default 500) under a candidate given inline (`policies`) or by `version`, and answers which would change. Nothing is stored.',
  })
  @ApiJsonBody(SimulateBody)
  @ApiOkResponse({ description: 'How many decisions were evaluated, and each that would change with its recorded and candidate effect' })
  @ApiRefusals({ 400: 'The body is invalid or gives neither or both of policies and version (`invalid_simulation`), or the candidate does not validate (`policy_invalid`)', 404: 'No policy set with this version' })
  async simulate(@Body() body: unknown) {
    const spec = validateRequest(SimulateBody, body, 'invalid_simulation');
    if ((spec.policies === undefined) === (spec.version === undefined)) {
      throw new BadRequestException({ code: 'invalid_simulation', message: 'give either policies (a candidate set) or version (a stored set)', fields: [{ field: '/', problem: 'needs exactly one of policies, version' }] });
    }
    let policies = spec.policies;
    if (spec.version) {
      const stored = await this.repository.policySet(spec.version);
      if (!stored) throw new NotFoundException({ code: 'policy_set_not_found', message: `no policy set version "${spec.version}"` });
      policies = stored.policies;
    }
    const candidate = this.validated(policies!);
    const recent = await this.repository.recentDecisions(spec.limit ?? 500);
    const changed = [];
    for (const d of recent) {
      const now = reevaluate(candidate, d.request as unknown as RecordedRequest);
      if (now.effect === d.effect) continue;
      changed.push({
        decisionId: d.id,
        runId: d.run_id,
        stepId: d.step_id,
        subject: d.subject,
        agentId: d.agent_id,
        decidedAt: d.decided_at,
        recorded: { effect: d.effect, policyVersion: d.policy_version },
        candidate: { effect: now.effect, reasons: now.reasons, determiningPolicies: now.determiningPolicies, approvers: now.approvers },
      });
    }
    return { candidateVersion: candidate.version, activeVersion: this.sets.active?.version, evaluated: recent.length, changed: changed.length, unchanged: recent.length - changed.length, changes: changed };
  }

  /** A loaded set, or a 400 carrying Cedar's own diagnostics. */
  private validated(policies: Record<string, string>): PolicyBundle {
    const check = validatePolicySet(policies);
    if (!check.ok) throw new BadRequestException({ code: 'policy_invalid', message: `the policy set does not validate against the govmesh Cedar schema (${check.diagnostics.length} problem(s))`, diagnostics: check.diagnostics });
    try {
      return this.sets.load(policies);
    } catch (err) {
      if (err instanceof PolicyError) throw new BadRequestException({ code: 'policy_invalid', message: err.message });
      throw err;
    }
  }
}
