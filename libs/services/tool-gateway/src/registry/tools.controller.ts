import { BadGatewayException, BadRequestException, Body, Controller, Get, HttpCode, NotFoundException, Param, Post, Query, Res } from '@nestjs/common';
import { ApiCreatedResponse, ApiOkResponse, ApiOperation, ApiParam, ApiQuery, ApiTags } from '@nestjs/swagger';
import { Type } from '@sinclair/typebox';
import type { Response } from 'express';
import { ArgumentConstraints, ConnectionId, ToolManifest, ToolName } from '@govmesh/contracts';
import { ApiJsonBody, ApiRefusals, CurrentPrincipal, Roles, validateRequest, type Principal } from '@govmesh/nest-runtime';
import { ConnectionRefusal, ConnectionsService } from '../connections';
import { manifestFromMcpTool, McpConnectorError } from '../connectors/mcp-connector';
import { McpConnections } from './mcp-connections';
import { ToolGrantsService } from './tool-grants.service';
import { ToolRegistry } from './tool-registry.service';

const NAME = new RegExp(ToolName.pattern!);
const CONNECTION = new RegExp(ConnectionId.pattern!);
const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;
const ReasonText = Type.String({ minLength: 1, maxLength: 2000 });
const RetireBody = Type.Object({ reason: Type.Optional(ReasonText) }, { additionalProperties: false });
const ImportBody = Type.Object(
  {
    /** Register the imported tools (each as a new tool or a higher version); without it, the drafts are only shown. */
    register: Type.Optional(Type.Boolean()),
    /** Import only these tools of the server (by their name there). */
    tools: Type.Optional(Type.Array(Type.String({ minLength: 1, maxLength: 128 }), { maxItems: 200 })),
    classification: Type.Optional(Type.Union([Type.Literal('public'), Type.Literal('internal'), Type.Literal('confidential'), Type.Literal('restricted')])),
  },
  { additionalProperties: false },
);
const GrantBody = Type.Object(
  {
    agentId: Type.String({ pattern: '^[A-Za-z0-9][A-Za-z0-9._:-]{0,127}$' }),
    agentVersion: Type.Optional(Type.String({ minLength: 1, maxLength: 64, description: 'one version, or `*` (the default) for every version' })),
    tool: ToolName,
    constraints: Type.Optional(ArgumentConstraints),
    reason: Type.Optional(ReasonText),
  },
  { additionalProperties: false },
);

/**
 * The tool manifest: every tool, its JSON Schemas, side effect, data classification,
 * connector and connection, limits, retries and verification checks. Operators register and
 * retire tools; operators and auditors read.
 */
@ApiTags('tools')
@ApiRefusals(401, 403)
@Controller('v1/tools')
@Roles('operator')
export class ToolsController {
  constructor(
    private readonly registry: ToolRegistry,
    private readonly connections: ConnectionsService,
    private readonly mcp: McpConnections,
  ) {}

  @Get()
  @Roles('operator', 'auditor')
  @ApiOperation({ summary: 'List the tools of the manifest', description: 'Roles: operator, auditor. Active and retired tools with their current manifest.' })
  @ApiOkResponse({ description: '`{ items }`' })
  async list() {
    return { items: await this.registry.list() };
  }

  @Get(':name')
  @Roles('operator', 'auditor')
  @ApiParam({ name: 'name', schema: { type: 'string', pattern: ToolName.pattern } })
  @ApiOperation({ summary: 'Get one tool', description: 'Roles: operator, auditor.' })
  @ApiOkResponse({ description: 'The tool and its manifest' })
  @ApiRefusals({ 404: 'No tool has this name (`tool_not_found`)' })
  async get(@Param('name') name: string) {
    const tool = NAME.test(name) ? await this.registry.get(name) : null;
    if (!tool) throw new NotFoundException({ code: 'tool_not_found', message: `no tool ${name} in the manifest` });
    return tool;
  }

  @Post()
  @ApiOperation({
    summary: 'Register a tool (or a new version of one)',
    description:
      'Role: operator. The body is a tool manifest: `name`, `version` (semver), `description`, `inputSchema` (and optional `outputSchema`), `sideEffect`, `classification`, `idempotent`, `operation` (`{connector: "http", method, path, query?, body?, headers?}` or `{connector: "mcp", tool}`), `connection`, and optional `maxTier`, `rateLimit`, `timeoutMs`, `retry`, `resource`, `verification`. A changed tool needs a higher version; the same version with the same manifest answers 200 and changes nothing.',
  })
  @ApiJsonBody(ToolManifest)
  @ApiCreatedResponse({ description: 'The registered tool' })
  @ApiRefusals({ 400: 'The manifest is invalid (`invalid_tool`, naming each field)', 409: 'A built-in tool (`tool_built_in`) or not a higher version (`tool_version_not_newer`)' })
  async register(@Body() body: unknown, @CurrentPrincipal() principal: Principal, @Res({ passthrough: true }) res: Response) {
    const manifest = validateRequest(ToolManifest, body, 'invalid_tool');
    const { tool, created } = await this.registry.register(manifest, principal);
    res.status(created ? 201 : 200);
    return tool;
  }

  @Post(':name/retire')
  @HttpCode(200)
  @ApiParam({ name: 'name', schema: { type: 'string', pattern: ToolName.pattern } })
  @ApiOperation({ summary: 'Retire a tool', description: 'Role: operator. From the next request on, nothing executes it. Retiring twice changes nothing.' })
  @ApiJsonBody(RetireBody)
  @ApiOkResponse({ description: 'The retired tool' })
  @ApiRefusals({ 400: 'Invalid name or body (`invalid_retirement`)', 404: 'No tool has this name', 409: 'A built-in tool (`tool_built_in`)' })
  async retire(@Param('name') name: string, @Body() body: unknown, @CurrentPrincipal() principal: Principal) {
    if (!NAME.test(name)) throw new BadRequestException({ code: 'invalid_retirement', message: `${name.slice(0, 130)} is not a tool name` });
    const spec = validateRequest(RetireBody, body ?? {}, 'invalid_retirement');
    return this.registry.retire(name, principal, spec.reason);
  }

  @Post('import/:connection')
  @HttpCode(200)
  @ApiParam({ name: 'connection', description: 'An mcp connection', schema: { type: 'string', pattern: ConnectionId.pattern } })
  @ApiOperation({
    summary: "Import an MCP server's tools into the manifest",
    description:
      "Role: operator. Lists the server's tools (through the connection, with its credentials and egress allow-list) and answers a manifest draft for each (`<connection>.<tool>`, schemas as the server gives them, side effect from its hints: read-only → read, destructive → destructive, open-world → external_send, else write). With `register: true` each draft is registered and governed like any other tool (nothing is granted to any agent).",
  })
  @ApiJsonBody(ImportBody)
  @ApiOkResponse({ description: '`{ items: [{ name, manifest, registered?, problem? }] }`' })
  @ApiRefusals({ 404: 'No such connection', 400: 'Invalid body (`invalid_import`), not an mcp connection (`connection_not_mcp`), a revoked connection', 502: 'The server could not be listed (`mcp_unavailable`, with the reason)' })
  async importMcp(@Param('connection') connectionId: string, @Body() body: unknown, @CurrentPrincipal() principal: Principal) {
    if (!CONNECTION.test(connectionId)) throw new BadRequestException({ code: 'invalid_import', message: 'not a connection id' });
    const spec = validateRequest(ImportBody, body ?? {}, 'invalid_import');
    let credentials;
    try {
      credentials = await this.connections.credentialsFor(connectionId);
    } catch (err) {
      if (err instanceof ConnectionRefusal) {
        if (err.code === 'connection_not_found') throw new NotFoundException({ code: err.code, message: err.message });
        throw new BadRequestException({ code: err.code, message: err.message });
      }
      throw err;
    }
    if (credentials.kind !== 'mcp') throw new BadRequestException({ code: 'connection_not_mcp', message: `connection "${connectionId}" is a ${credentials.kind} connection` });
    let listed;
    try {
      listed = await this.mcp.listTools(credentials, AbortSignal.timeout(30_000));
    } catch (err) {
      const message = err instanceof McpConnectorError ? err.message : 'the server could not be listed';
      throw new BadGatewayException({ code: 'mcp_unavailable', message: message.slice(0, 500) });
    }
    if ('reason' in listed) throw new BadRequestException({ code: listed.reason.code, message: listed.reason.message });
    const wanted = spec.tools ? new Set(spec.tools) : null;
    const items = [];
    for (const tool of listed) {
      if (wanted && !wanted.has(tool.name)) continue;
      const draft = manifestFromMcpTool(connectionId, tool, spec.classification ? { classification: spec.classification } : {});
      if (!draft.ok) {
        items.push({ tool: tool.name, problem: draft.reason });
        continue;
      }
      if (!spec.register) {
        items.push({ tool: tool.name, name: draft.manifest.name, manifest: draft.manifest });
        continue;
      }
      try {
        const existing = await this.registry.get(draft.manifest.name);
        const manifest = existing ? { ...draft.manifest, version: nextPatch(existing.version) } : draft.manifest;
        const registered = await this.registry.register(manifest, principal);
        items.push({ tool: tool.name, name: manifest.name, manifest: registered.tool.manifest, registered: registered.created });
      } catch (err) {
        const response = (err as { getResponse?: () => unknown }).getResponse?.();
        items.push({ tool: tool.name, name: draft.manifest.name, problem: response ?? { code: 'import_failed', message: 'could not be registered' } });
      }
    }
    return { items };
  }
}

function nextPatch(version: string): string {
  const [major, minor, patch] = version.split('.').map(Number);
  return `${major}.${minor}.${patch + 1}`;
}

/**
 * Least privilege: which agent (version) may use which tool, with optional argument constraints.
 * Nothing executes for an agent without an active grant of the tool, whatever policy signed.
 */
@ApiTags('tools')
@ApiRefusals(401, 403)
@Controller('v1/tool-grants')
@Roles('operator')
export class ToolGrantsController {
  constructor(private readonly grants: ToolGrantsService) {}

  @Get()
  @Roles('operator', 'auditor')
  @ApiQuery({ name: 'agentId', required: false })
  @ApiQuery({ name: 'tool', required: false })
  @ApiOperation({ summary: 'List tool grants', description: 'Roles: operator, auditor. Active and withdrawn grants, filtered by agent or tool.' })
  @ApiOkResponse({ description: '`{ items }`' })
  @ApiRefusals({ 400: 'Invalid filter (`invalid_query`)' })
  async list(@Query('agentId') agentId?: unknown, @Query('tool') tool?: unknown) {
    for (const [name, value] of [['agentId', agentId], ['tool', tool]] as const) {
      if (value !== undefined && (typeof value !== 'string' || value.length === 0 || value.length > 128)) throw new BadRequestException({ code: 'invalid_query', message: `${name} must be one string of 1-128 characters` });
    }
    return { items: await this.grants.list({ ...(agentId ? { agentId: agentId as string } : {}), ...(tool ? { tool: tool as string } : {}) }) };
  }

  @Post()
  @ApiOperation({
    summary: 'Grant a tool to an agent (version)',
    description:
      'Role: operator. `agentVersion` is one version or `*` (every version; the default). `constraints.schema` is a JSON Schema the arguments must also match; `constraints.condition` a CEL expression over `arguments` that must be true (e.g. `arguments.amount <= 5000`). Granting again replaces the constraints; the same grant twice answers 200 and changes nothing.',
  })
  @ApiJsonBody(GrantBody)
  @ApiCreatedResponse({ description: 'The grant' })
  @ApiRefusals({ 400: 'Invalid body, an unknown tool, a schema or condition that cannot be enforced (`invalid_tool_grant`)' })
  async grant(@Body() body: unknown, @CurrentPrincipal() principal: Principal, @Res({ passthrough: true }) res: Response) {
    const spec = validateRequest(GrantBody, body, 'invalid_tool_grant');
    const { grant, created } = await this.grants.grant({ ...spec, agentVersion: spec.agentVersion ?? '*' }, principal);
    res.status(created ? 201 : 200);
    return grant;
  }

  @Post(':id/withdraw')
  @HttpCode(200)
  @ApiParam({ name: 'id', schema: { type: 'string', format: 'uuid' } })
  @ApiOperation({ summary: 'Withdraw a tool grant', description: 'Role: operator. From the next request on, the agent cannot use the tool. Withdrawing twice changes nothing.' })
  @ApiJsonBody(RetireBody)
  @ApiOkResponse({ description: 'The withdrawn grant' })
  @ApiRefusals({ 400: 'Invalid id or body (`invalid_withdrawal`)', 404: 'No such grant (`tool_grant_not_found`)' })
  async withdraw(@Param('id') id: string, @Body() body: unknown, @CurrentPrincipal() principal: Principal) {
    if (!UUID.test(id)) throw new BadRequestException({ code: 'invalid_withdrawal', message: 'the grant id is not a UUID' });
    const spec = validateRequest(RetireBody, body ?? {}, 'invalid_withdrawal');
    return this.grants.withdraw(id, principal, spec.reason);
  }
}
