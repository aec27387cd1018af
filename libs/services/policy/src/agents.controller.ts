import { BadRequestException, Body, ConflictException, Controller, Get, HttpCode, NotFoundException, Param, Post, Put } from '@nestjs/common';
import { Type, type Static } from '@sinclair/typebox';
import { AgentId, AgentStatus, AutonomyTier, Classification, EventTypes, type AgentChangedV1 } from '@govmesh/contracts';
import type { UnitOfWork } from '@govmesh/messaging';
import { ApiOkResponse, ApiCreatedResponse, ApiOperation, ApiParam, ApiTags } from '@nestjs/swagger';
import { ApiJsonBody, ApiKeyStore, ApiRefusals, CurrentPrincipal, Roles, ServiceBus, validateRequest, type Principal } from '@govmesh/nest-runtime';
import { loadPublicKey } from '@govmesh/signing';
import { PolicyRepository } from './policy.repository';
import type { AgentRecord } from './entities';

const Version = Type.String({ pattern: '^[A-Za-z0-9][A-Za-z0-9._+-]{0,63}$', description: '1-64 letters, digits, . _ + -' });
const PublicKey = Type.String({ pattern: '^[A-Za-z0-9_-]{43}$', description: 'Ed25519 public key: base64url of the raw 32 bytes' });
const Reason = Type.String({ minLength: 1, maxLength: 2000 });

const RegisterBody = Type.Object(
  {
    owner: Type.String({ minLength: 1, maxLength: 128 }),
    tier: AutonomyTier,
    version: Type.Optional(Version),
    publicKey: Type.Optional(PublicKey),
    clearance: Type.Optional(Classification),
    purpose: Type.Optional(Type.String({ maxLength: 2000 })),
    status: Type.Optional(AgentStatus),
  },
  { additionalProperties: false },
);
const StatusBody = Type.Object({ status: AgentStatus, reason: Type.Optional(Reason) }, { additionalProperties: false });
const VersionBody = Type.Object({ version: Version, publicKey: Type.Optional(PublicKey), makeCurrent: Type.Optional(Type.Boolean()) }, { additionalProperties: false });
const RevokeBody = Type.Object({ reason: Type.Optional(Reason) }, { additionalProperties: false });

const ID = new RegExp(AgentId.pattern!);
const AgentIdParam = () => ApiParam({ name: 'id', description: 'The agent id: 1-128 letters, digits, . _ : -', schema: { type: 'string', pattern: AgentId.pattern } });

/** Which status changes are allowed: active and suspended go both ways; retired is final. */
const TRANSITIONS: Record<AgentRecord['status'], ReadonlyArray<AgentRecord['status']>> = {
  active: ['suspended', 'retired'],
  suspended: ['active', 'retired'],
  retired: [],
};

function checkedKey(publicKey: string | undefined): string | null {
  if (publicKey === undefined) return null;
  try {
    loadPublicKey(publicKey);
    return publicKey;
  } catch (err) {
    throw new BadRequestException({ code: 'invalid_public_key', message: `publicKey is not an Ed25519 public key: ${(err as Error).message}`, fields: [{ field: '/publicKey', problem: 'is not an Ed25519 public key' }] });
  }
}

/**
 * The agent registry: non-human identities with an owner team, purpose, autonomy tier, data
 * clearance, status and versions, each version with its own Ed25519 public key. Operators make
 * every change; each is a `govmesh.agent.changed.v1` event keyed by the agent id, carrying the
 * acting principal, written in the same transaction and audited.
 */
@ApiTags('agents')
@ApiRefusals(401, 403)
@Controller('v1/agents')
@Roles('operator')
export class AgentsController {
  constructor(
    private readonly repository: PolicyRepository,
    private readonly bus: ServiceBus,
    private readonly apiKeys: ApiKeyStore,
  ) {}

  @Get()
  @Roles('operator', 'auditor')
  @ApiOperation({ summary: 'List the registered agents', description: 'Roles: operator, auditor.' })
  @ApiOkResponse({ description: 'Every agent with its owner, tier, status, clearance, purpose and current version' })
  list() {
    return this.repository.list();
  }

  @Get(':id')
  @AgentIdParam()
  @Roles('operator', 'auditor')
  @ApiOperation({ summary: 'Get one agent with its versions', description: 'Roles: operator, auditor.' })
  @ApiOkResponse({ description: 'The agent' })
  @ApiRefusals({ 404: 'No agent with this id is registered' })
  async get(@Param('id') id: string) {
    const agent = ID.test(id) ? await this.repository.find(id) : null;
    if (!agent) throw new NotFoundException({ code: 'agent_not_registered', message: `agent "${id}" is not registered` });
    return agent;
  }

  /**
   * Registers an agent or updates its owner, tier, clearance, purpose or current version. A
   * status is changed only when given (and only along an allowed transition): omitting it never
   * reactivates anyone. A retired agent cannot be changed or registered again.
   */
  @Put(':id')
  @AgentIdParam()
  @ApiOperation({
    summary: 'Register an agent or update it',
    description: 'Role: operator. Registers (`version` required) or updates owner, tier, clearance, purpose or current version; `status` changes only along an allowed transition. A retired agent cannot change.',
  })
  @ApiJsonBody(RegisterBody)
  @ApiOkResponse({ description: 'The agent as it is now' })
  @ApiRefusals({ 400: 'The body is invalid (`invalid_agent`) or the public key is not an Ed25519 key (`invalid_public_key`)', 409: 'The agent is retired, the transition is not allowed, or the version already has another key or a revoked one' })
  async register(@Param('id') id: string, @Body() body: unknown, @CurrentPrincipal() principal: Principal) {
    this.checkId(id);
    const spec = validateRequest(RegisterBody, body, 'invalid_agent');
    const publicKey = checkedKey(spec.publicKey);
    const outcome = await this.bus.transaction(async (uow) => {
      const previous = await this.repository.lockAgent(uow, id);
      if (!previous) return this.registerNew(uow, id, spec, publicKey, principal);
      this.checkTransition(previous, spec.status);
      const version = spec.version ?? previous.version;
      const known = await this.repository.version(uow, id, version);
      if (known && publicKey && known.publicKey !== publicKey) {
        throw new ConflictException({ code: 'version_key_exists', message: `version ${version} of "${id}" already has a key; keys are immutable per version: register a new version` });
      }
      if (known?.keyStatus === 'revoked') throw new ConflictException({ code: 'version_revoked', message: `version ${version} of "${id}" has a revoked key and cannot become current` });
      if (!known) await this.repository.addVersion(uow, id, version, publicKey, principal.id);
      const agent = await this.repository.saveAgent(uow, {
        id,
        version,
        owner: spec.owner,
        tier: spec.tier,
        status: spec.status ?? previous.status,
        clearance: spec.clearance ?? previous.clearance,
        purpose: spec.purpose ?? previous.purpose,
      });
      await this.emitChange(uow, agent, previous.status !== agent.status ? 'status_changed' : 'updated', principal, previous);
      return { agent, created: false };
    });
    await this.afterStatusChange(outcome.agent, principal);
    return this.repository.find(id);
  }

  private async registerNew(uow: UnitOfWork, id: string, spec: Static<typeof RegisterBody>, publicKey: string | null, principal: Principal) {
    if (!spec.version) throw new BadRequestException({ code: 'invalid_agent', message: '/version is required to register an agent', fields: [{ field: '/version', problem: 'is required' }] });
    if (spec.status === 'retired') throw new BadRequestException({ code: 'invalid_agent', message: 'an agent cannot be registered retired', fields: [{ field: '/status', problem: 'must be active or suspended' }] });
    await this.repository.addVersion(uow, id, spec.version, publicKey, principal.id);
    const agent = await this.repository.saveAgent(uow, {
      id,
      version: spec.version,
      owner: spec.owner,
      tier: spec.tier,
      status: spec.status ?? 'active',
      clearance: spec.clearance ?? 'internal',
      purpose: spec.purpose ?? '',
    });
    await this.emitChange(uow, agent, 'registered', principal);
    return { agent, created: true };
  }

  /** An explicit lifecycle transition: active ⇄ suspended, or → retired (final). */
  @Post(':id/status')
  @AgentIdParam()
  @HttpCode(200)
  @ApiOperation({ summary: 'Change the lifecycle status of an agent', description: 'Role: operator. active ⇄ suspended, or → retired (final: its API keys are revoked with it).' })
  @ApiJsonBody(StatusBody)
  @ApiOkResponse({ description: 'The agent as it is now' })
  @ApiRefusals({ 400: 'The body is invalid (`invalid_status_change`)', 404: 'No agent with this id is registered', 409: 'The agent is retired or the transition is not allowed' })
  async setStatus(@Param('id') id: string, @Body() body: unknown, @CurrentPrincipal() principal: Principal) {
    this.checkId(id);
    const spec = validateRequest(StatusBody, body, 'invalid_status_change');
    const agent = await this.bus.transaction(async (uow) => {
      const previous = await this.existing(uow, id);
      this.checkTransition(previous, spec.status);
      if (previous.status === spec.status) return previous;
      const updated = await this.repository.saveAgent(uow, { ...previous, status: spec.status });
      await this.emitChange(uow, updated, 'status_changed', principal, previous, spec.reason);
      return updated;
    });
    await this.afterStatusChange(agent, principal);
    return this.repository.find(id);
  }

  /** Adds a version with its public key; by default it becomes the current version. */
  @Post(':id/versions')
  @AgentIdParam()
  @HttpCode(201)
  @ApiOperation({ summary: 'Add a version with its public key', description: 'Role: operator. The new version becomes current unless `makeCurrent` is false.' })
  @ApiJsonBody(VersionBody)
  @ApiCreatedResponse({ description: 'The agent with the new version' })
  @ApiRefusals({ 400: 'The body is invalid (`invalid_version`) or the public key is not an Ed25519 key', 404: 'No agent with this id is registered', 409: 'The agent is retired or the version exists already' })
  async addVersion(@Param('id') id: string, @Body() body: unknown, @CurrentPrincipal() principal: Principal) {
    this.checkId(id);
    const spec = validateRequest(VersionBody, body, 'invalid_version');
    const publicKey = checkedKey(spec.publicKey);
    await this.bus.transaction(async (uow) => {
      const previous = await this.existing(uow, id);
      if (previous.status === 'retired') throw new ConflictException({ code: 'agent_retired', message: `agent "${id}" is retired; nothing about it changes any more` });
      if (await this.repository.version(uow, id, spec.version)) throw new ConflictException({ code: 'version_exists', message: `version ${spec.version} of "${id}" is already registered; keys are immutable per version` });
      await this.repository.addVersion(uow, id, spec.version, publicKey, principal.id);
      const agent = spec.makeCurrent === false ? previous : await this.repository.saveAgent(uow, { ...previous, version: spec.version });
      await this.emitChange(uow, agent, 'version_added', principal, previous);
    });
    return this.repository.find(id);
  }

  /** Revokes a version's key: its signed intents are refused and its outstanding grants stop working. */
  @Post(':id/versions/:version/revoke')
  @AgentIdParam()
  @HttpCode(200)
  @ApiOperation({ summary: "Revoke a version's key", description: 'Role: operator. Its signed intents are refused and its outstanding grants stop working. Revoking twice is a no-op.' })
  @ApiParam({ name: 'version', description: 'The version whose key is revoked' })
  @ApiJsonBody(RevokeBody)
  @ApiOkResponse({ description: 'The agent as it is now' })
  @ApiRefusals({ 400: 'The body is invalid (`invalid_revocation`)', 404: 'No such agent, or it has no such version' })
  async revokeVersion(@Param('id') id: string, @Param('version') version: string, @Body() body: unknown, @CurrentPrincipal() principal: Principal) {
    this.checkId(id);
    const spec = validateRequest(RevokeBody, body ?? {}, 'invalid_revocation');
    await this.bus.transaction(async (uow) => {
      const agent = await this.existing(uow, id);
      const known = await this.repository.version(uow, id, version);
      if (!known) throw new NotFoundException({ code: 'version_not_found', message: `agent "${id}" has no version "${version}"` });
      if (known.keyStatus === 'revoked') return;
      await this.repository.revokeVersion(uow, id, version);
      await this.emitChange(uow, agent, 'key_revoked', principal, agent, spec.reason ?? `key of version ${version} revoked`);
    });
    return this.repository.find(id);
  }

  private checkId(id: string): void {
    if (!ID.test(id)) throw new BadRequestException({ code: 'invalid_agent', message: 'the agent id must be 1-128 letters, digits, . _ : -', fields: [{ field: 'id', problem: 'is not a valid agent id' }] });
  }

  private async existing(uow: UnitOfWork, id: string): Promise<AgentRecord> {
    const agent = await this.repository.lockAgent(uow, id);
    if (!agent) throw new NotFoundException({ code: 'agent_not_registered', message: `agent "${id}" is not registered` });
    return agent;
  }

  private checkTransition(previous: AgentRecord, next: AgentRecord['status'] | undefined): void {
    if (previous.status === 'retired') throw new ConflictException({ code: 'agent_retired', message: `agent "${previous.id}" is retired; retirement is final and nothing re-activates it` });
    if (next === undefined || next === previous.status) return;
    if (!TRANSITIONS[previous.status].includes(next)) {
      throw new ConflictException({ code: 'invalid_transition', message: `agent "${previous.id}" cannot go from ${previous.status} to ${next}` });
    }
  }

  private async emitChange(uow: UnitOfWork, agent: AgentRecord, change: AgentChangedV1['change'], principal: Principal, previous?: AgentRecord, reason?: string): Promise<void> {
    uow.emit(EventTypes.AgentChanged, {
      agentId: agent.id,
      change,
      agent: { version: agent.version, owner: agent.owner, tier: agent.tier, status: agent.status, clearance: agent.clearance, revokedVersions: await this.repository.revokedVersions(uow, agent.id) },
      ...(previous ? { previous: { version: previous.version, tier: previous.tier, status: previous.status, clearance: previous.clearance } } : {}),
      ...(reason ? { reason } : {}),
      actor: { kind: 'operator', id: principal.id, name: principal.name.slice(0, 200) },
    });
  }

  /** A retired agent's API keys are revoked with it. */
  private async afterStatusChange(agent: AgentRecord, principal: Principal): Promise<void> {
    if (agent.status === 'retired') await this.apiKeys.revokeAgentKeys(agent.id, principal.id);
  }
}
