import { BadRequestException, Body, Controller, Get, NotFoundException, Param, Put } from '@nestjs/common';
import { EventTypes } from '@govmesh/contracts';
import { ServiceBus } from '@govmesh/nest-runtime';
import { PolicyRepository } from './policy.repository';
import type { AgentRecord } from './entities';

const TIERS = ['assist', 'prepare', 'execute_low', 'execute_high'];
const STATUSES = ['active', 'suspended', 'retired'];
const ID = /^[A-Za-z0-9][A-Za-z0-9._:-]{0,127}$/;

const text = (value: unknown, max: number): value is string => typeof value === 'string' && value.length > 0 && value.length <= max && !value.includes('\u0000');

/**
 * The agent registry: operators register non-human identities and change their tier or status.
 * Every change is an `govmesh.agent.changed.v1` event keyed by the agent id, written in the same
 * transaction, so it is audited like run events.
 */
@Controller('v1/agents')
export class AgentsController {
  constructor(
    private readonly repository: PolicyRepository,
    private readonly bus: ServiceBus,
  ) {}

  @Get()
  list() {
    return this.repository.list();
  }

  @Get(':id')
  async get(@Param('id') id: string) {
    const agent = await this.repository.find(id);
    if (!agent) throw new NotFoundException({ code: 'agent_not_registered', message: `agent "${id}" is not registered` });
    return agent;
  }

  @Put(':id')
  async register(@Param('id') id: string, @Body() body: unknown) {
    const b = (body && typeof body === 'object' && !Array.isArray(body) ? body : {}) as Record<string, unknown>;
    const problems: string[] = [];
    if (!ID.test(id)) problems.push('id must be 1-128 letters, digits, . _ : -');
    if (!text(b['version'], 64)) problems.push('version is required (1-64 characters)');
    if (!text(b['owner'], 128)) problems.push('owner is required (1-128 characters)');
    if (!TIERS.includes(b['tier'] as string)) problems.push(`tier must be one of ${TIERS.join(', ')}`);
    const status = (b['status'] as string | undefined) ?? 'active';
    if (!STATUSES.includes(status)) problems.push(`status must be one of ${STATUSES.join(', ')}`);
    const description = b['description'] === undefined ? '' : b['description'];
    if (typeof description !== 'string' || description.length > 2000 || description.includes('\u0000')) problems.push('description must be text of at most 2000 characters');
    if (problems.length) throw new BadRequestException({ code: 'invalid_agent', message: problems.join('; ') });
    return this.bus.transaction(async (uow) => {
      const previous = await this.repository.lockAgent(uow, id);
      const agent = await this.repository.upsertAgent(uow, {
        id,
        version: b['version'] as string,
        owner: b['owner'] as string,
        tier: b['tier'] as AgentRecord['tier'],
        status: status as AgentRecord['status'],
        description: description as string,
      });
      uow.emit(EventTypes.AgentChanged, {
        agentId: id,
        change: previous ? 'updated' : 'registered',
        agent: { version: agent.version, owner: agent.owner, tier: agent.tier, status: agent.status },
        ...(previous ? { previous: { version: previous.version, tier: previous.tier, status: previous.status } } : {}),
        // Until principals authenticate (next release), registry changes are attributed to no one.
        actor: { kind: 'operator', id: 'unauthenticated' },
      });
      return agent;
    });
  }
}
