import { BadRequestException, Body, Controller, Get, NotFoundException, Param, Put } from '@nestjs/common';
import { InjectDataSource } from '@nestjs/typeorm';
import type { DataSource } from 'typeorm';
import { POLICY_SERVICE } from './database';
import { AgentRecord } from './entities';

const TIERS = ['assist', 'prepare', 'execute_low', 'execute_high'];
const STATUSES = ['active', 'suspended', 'retired'];
const ID = /^[A-Za-z0-9][A-Za-z0-9._:-]{0,127}$/;

/** The agent registry: operators register non-human identities and change their tier or status. */
@Controller('v1/agents')
export class AgentsController {
  constructor(@InjectDataSource(POLICY_SERVICE) private readonly dataSource: DataSource) {}

  @Get()
  list() {
    return this.dataSource.getRepository(AgentRecord).find({ order: { id: 'ASC' } });
  }

  @Get(':id')
  async get(@Param('id') id: string) {
    const agent = await this.dataSource.getRepository(AgentRecord).findOne({ where: { id } });
    if (!agent) throw new NotFoundException({ code: 'agent_not_registered', message: `agent "${id}" is not registered` });
    return agent;
  }

  @Put(':id')
  async register(@Param('id') id: string, @Body() body: Record<string, unknown>) {
    const problems: string[] = [];
    if (!ID.test(id)) problems.push('id must be 1-128 letters, digits, . _ : -');
    if (typeof body['version'] !== 'string' || !body['version']) problems.push('version is required');
    if (typeof body['owner'] !== 'string' || !body['owner']) problems.push('owner is required');
    if (!TIERS.includes(body['tier'] as string)) problems.push(`tier must be one of ${TIERS.join(', ')}`);
    const status = (body['status'] as string | undefined) ?? 'active';
    if (!STATUSES.includes(status)) problems.push(`status must be one of ${STATUSES.join(', ')}`);
    if (problems.length) throw new BadRequestException({ code: 'invalid_agent', message: problems.join('; ') });
    const repo = this.dataSource.getRepository(AgentRecord);
    await repo.upsert(
      { id, version: body['version'] as string, owner: body['owner'] as string, tier: body['tier'] as AgentRecord['tier'], status: status as AgentRecord['status'], description: String(body['description'] ?? '') },
      ['id'],
    );
    return repo.findOneByOrFail({ id });
  }
}
