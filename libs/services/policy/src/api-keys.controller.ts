import { BadRequestException, Body, Controller, Get, HttpCode, NotFoundException, Param, Post } from '@nestjs/common';
import { Type } from '@sinclair/typebox';
import { AgentId } from '@govmesh/contracts';
import { ApiCreatedResponse, ApiOkResponse, ApiOperation, ApiParam, ApiTags } from '@nestjs/swagger';
import { ApiJsonBody, ApiKeyStore, ApiRefusals, CurrentPrincipal, Roles, validateRequest, type Principal } from '@govmesh/nest-runtime';
import { PolicyRepository } from './policy.repository';

const GroupName = Type.String({ pattern: '^[A-Za-z0-9][A-Za-z0-9._:@/-]{0,127}$' });

const NewApiKeyBody = Type.Object(
  {
    name: Type.String({ minLength: 1, maxLength: 128 }),
    role: Type.Union([Type.Literal('operator'), Type.Literal('reviewer'), Type.Literal('auditor'), Type.Literal('agent')]),
    groups: Type.Optional(Type.Array(GroupName, { maxItems: 32, uniqueItems: true })),
    agentId: Type.Optional(AgentId),
  },
  { additionalProperties: false },
);

const KEY_ID = /^[a-z0-9]{12}$/;

/**
 * API keys, managed by operators. A key is shown once, in the answer that creates it; govmesh
 * keeps only its hash. An agent key acts for exactly one registered agent.
 */
@ApiTags('api-keys')
@ApiRefusals(401, 403)
@Controller('v1/api-keys')
@Roles('operator')
export class ApiKeysController {
  constructor(
    private readonly keys: ApiKeyStore,
    private readonly agents: PolicyRepository,
  ) {}

  @Post()
  @ApiOperation({ summary: 'Create an API key', description: 'Role: operator. The key is in this answer only; govmesh keeps its hash. An agent key names one registered, non-retired agent.' })
  @ApiJsonBody(NewApiKeyBody)
  @ApiCreatedResponse({ description: 'The key record with the key itself (`key`), shown once' })
  @ApiRefusals({ 400: 'The body is invalid (`invalid_api_key`), or the agent is not registered or retired' })
  async create(@Body() body: unknown, @CurrentPrincipal() principal: Principal) {
    const spec = validateRequest(NewApiKeyBody, body, 'invalid_api_key');
    if (spec.role === 'agent') {
      if (!spec.agentId) throw new BadRequestException({ code: 'invalid_api_key', message: 'an agent key must name its agent (agentId)', fields: [{ field: '/agentId', problem: 'is required for the agent role' }] });
      const agent = await this.agents.find(spec.agentId);
      if (!agent) throw new BadRequestException({ code: 'agent_not_registered', message: `agent "${spec.agentId}" is not registered` });
      if (agent.status === 'retired') throw new BadRequestException({ code: 'agent_retired', message: `agent "${spec.agentId}" is retired and can hold no key` });
    } else if (spec.agentId) {
      throw new BadRequestException({ code: 'invalid_api_key', message: 'only agent keys name an agent', fields: [{ field: '/agentId', problem: `is not allowed for the ${spec.role} role` }] });
    }
    const { key, record } = await this.keys.create(spec, principal.id);
    return { ...record, key, note: 'the key is shown once; store it now' };
  }

  @Get()
  @ApiOperation({ summary: 'List the API keys', description: 'Role: operator. Never their secrets or hashes.' })
  @ApiOkResponse({ description: 'Every key, live and revoked' })
  list() {
    return this.keys.list();
  }

  @Post(':id/revoke')
  @HttpCode(200)
  @ApiOperation({ summary: 'Revoke an API key', description: 'Role: operator. Refused from the next request on; revoking twice is a no-op.' })
  @ApiParam({ name: 'id', description: 'The key id: the 12 characters after `gm_`' })
  @ApiOkResponse({ description: 'The key record, revoked' })
  @ApiRefusals({ 404: 'No API key with this id' })
  async revoke(@Param('id') id: string, @CurrentPrincipal() principal: Principal) {
    const record = KEY_ID.test(id) ? await this.keys.revoke(id, principal.id) : undefined;
    if (!record) throw new NotFoundException({ code: 'api_key_not_found', message: `no API key with id "${id}"` });
    return record;
  }
}
