import { BadRequestException, Body, Controller, Get, HttpCode, NotFoundException, Param, Post } from '@nestjs/common';
import { ApiCreatedResponse, ApiOkResponse, ApiOperation, ApiParam, ApiTags } from '@nestjs/swagger';
import { Type, type Static } from '@sinclair/typebox';
import { ConnectionId } from '@govmesh/contracts';
import { ApiJsonBody, ApiRefusals, CurrentPrincipal, Roles, validateRequest, type FieldProblem, type Principal } from '@govmesh/nest-runtime';
import { AUTH_METHODS, CONNECTION_KINDS, type ConnectionAuth } from './connection.entity';
import { EgressAllowList, type EgressPolicy } from '../connectors/egress-policy';
import { ConnectionMapService } from '../registry/connection-map.service';
import { ConnectionsService, type NewConnection } from './connections.service';

const literals = <T extends string>(values: readonly T[]) => Type.Union(values.map((v) => Type.Literal(v)));

const SecretText = Type.String({ minLength: 1, maxLength: 8192, description: 'The secret: API key, token, password or client secret. Write-only: no answer shows it.' });
const Reason = Type.String({ minLength: 1, maxLength: 2000 });

/** Every auth parameter in one closed object; which ones a method needs is checked after, naming the field. */
const AuthBody = Type.Object(
  {
    method: literals(AUTH_METHODS),
    header: Type.Optional(Type.String({ minLength: 1, maxLength: 128, description: 'api_key_header: the header that carries the key, e.g. x-api-key' })),
    username: Type.Optional(Type.String({ minLength: 1, maxLength: 256, description: 'basic: the user name (the secret is the password)' })),
    tokenUrl: Type.Optional(Type.String({ minLength: 1, maxLength: 2048, description: 'oauth2_client_credentials: the token endpoint (http or https)' })),
    clientId: Type.Optional(Type.String({ minLength: 1, maxLength: 256, description: 'oauth2_client_credentials: the client id (the secret is the client secret)' })),
    scopes: Type.Optional(Type.Array(Type.String({ pattern: '^[\\x21\\x23-\\x5B\\x5D-\\x7E]{1,200}$' }), { maxItems: 50, description: 'oauth2_client_credentials: scopes to request' })),
    clientAuthentication: Type.Optional(Type.Union([Type.Literal('basic'), Type.Literal('body')], { description: 'oauth2_client_credentials: client secret as HTTP Basic (default) or in the form body' })),
  },
  { additionalProperties: false },
);

const CreateBody = Type.Object(
  {
    id: ConnectionId,
    kind: literals(CONNECTION_KINDS),
    endpoint: Type.Optional(Type.String({ minLength: 1, maxLength: 2048, description: 'Base URL (http) or endpoint (mcp): http or https, no credentials, query or fragment. Required but for the sandbox.' })),
    description: Type.Optional(Type.String({ maxLength: 1000 })),
    auth: AuthBody,
    egress: Type.Optional(
      Type.Object(
        {
          allow: Type.Array(
            Type.Object(
              {
                host: Type.String({ minLength: 1, maxLength: 253, description: '`api.example.com`, `*.example.com` (any subdomain) or an IP literal' }),
                port: Type.Optional(Type.Integer({ minimum: 1, maximum: 65535 })),
                scheme: Type.Optional(Type.Union([Type.Literal('https'), Type.Literal('http')], { description: 'https by default; plain http must be named' })),
                paths: Type.Array(Type.String({ minLength: 1, maxLength: 512 }), { minItems: 1, maxItems: 50, description: '`/v1/` (prefix), `/v1/status` (exact), `/v1/*/items` or `/v1/**` (globs)' }),
                methods: Type.Optional(Type.Array(Type.String({ pattern: '^[A-Z]{3,7}$' }), { maxItems: 7 })),
                allowPrivateNetwork: Type.Optional(Type.Boolean({ description: 'allow loopback, private and link-local addresses (off by default)' })),
              },
              { additionalProperties: false },
            ),
            { minItems: 1, maxItems: 50 },
          ),
        },
        { additionalProperties: false, description: 'Required for http and mcp connections: where calls may go; a request, redirect or DNS answer outside it is refused' },
      ),
    ),
    secret: Type.Optional(SecretText),
  },
  { additionalProperties: false },
);
const RotateBody = Type.Object({ secret: SecretText, reason: Type.Optional(Reason) }, { additionalProperties: false });
const RevokeBody = Type.Object({ reason: Type.Optional(Reason) }, { additionalProperties: false });

const ID = new RegExp(ConnectionId.pattern!);
const IdParam = () => ApiParam({ name: 'id', description: 'The connection id: 1-64 lowercase letters, digits, . _ - (a slug)', schema: { type: 'string', pattern: ConnectionId.pattern } });
/** Header names an API key may not take: the request's framing and routing are not the connection's to set. */
const RESERVED_HEADERS = new Set(['host', 'content-length', 'content-type', 'transfer-encoding', 'connection', 'upgrade', 'te', 'trailer', 'keep-alive', 'proxy-connection', 'expect']);
const HEADER_NAME = /^[A-Za-z0-9!#$%&'*+.^_`|~-]+$/;

function invalid(code: string, fields: FieldProblem[]): BadRequestException {
  return new BadRequestException({ code, message: fields.map((f) => `${f.field} ${f.problem}`).join('; '), fields });
}

/** A URL problem, or null: http(s) only, no user info (credentials belong in the secret), and for a base URL no query or fragment. */
function urlProblem(text: string, base: boolean): string | null {
  let url: URL;
  try {
    url = new URL(text);
  } catch {
    return 'is not a valid URL';
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') return `must be an http or https URL (got ${url.protocol})`;
  if (url.username || url.password) return 'must not carry credentials: put them in the secret';
  if (base && (url.search || url.hash)) return 'must not have a query or fragment: keys belong in the secret';
  return null;
}

/** Checks what the schema cannot say: the parameters each auth method needs and takes, the endpoint, the secret. */
function connectionSpec(body: Static<typeof CreateBody>): NewConnection {
  const problems: FieldProblem[] = [];
  const { auth } = body;
  const needs: Record<ConnectionAuth['method'], ReadonlyArray<keyof typeof auth>> = {
    none: [],
    api_key_header: ['header'],
    bearer: [],
    basic: ['username'],
    oauth2_client_credentials: ['tokenUrl', 'clientId'],
  };
  const optional: Record<ConnectionAuth['method'], ReadonlyArray<keyof typeof auth>> = {
    none: [],
    api_key_header: [],
    bearer: [],
    basic: [],
    oauth2_client_credentials: ['scopes', 'clientAuthentication'],
  };
  for (const field of needs[auth.method]) if (auth[field] === undefined) problems.push({ field: `/auth/${field}`, problem: `is required for auth method ${auth.method}` });
  for (const field of Object.keys(auth) as Array<keyof typeof auth>) {
    if (field !== 'method' && !needs[auth.method].includes(field) && !optional[auth.method].includes(field)) problems.push({ field: `/auth/${field}`, problem: `is not used by auth method ${auth.method}` });
  }
  if (auth.method === 'api_key_header' && auth.header !== undefined) {
    if (!HEADER_NAME.test(auth.header)) problems.push({ field: '/auth/header', problem: 'is not a valid HTTP header name' });
    else if (RESERVED_HEADERS.has(auth.header.toLowerCase())) problems.push({ field: '/auth/header', problem: `cannot be ${auth.header.toLowerCase()}` });
  }
  if (auth.method === 'basic' && auth.username?.includes(':')) problems.push({ field: '/auth/username', problem: 'must not contain ":"' });
  if (auth.method === 'oauth2_client_credentials' && auth.tokenUrl !== undefined) {
    const problem = urlProblem(auth.tokenUrl, false);
    if (problem) problems.push({ field: '/auth/tokenUrl', problem });
  }
  if (body.endpoint !== undefined) {
    const problem = urlProblem(body.endpoint, true);
    if (problem) problems.push({ field: '/endpoint', problem });
  } else if (body.kind !== 'sandbox') {
    problems.push({ field: '/endpoint', problem: `is required for a connection of kind ${body.kind}` });
  }
  if (body.egress !== undefined) {
    if (body.kind === 'sandbox') problems.push({ field: '/egress', problem: 'is not used by a sandbox connection' });
    try {
      const allowList = new EgressAllowList(body.egress as EgressPolicy);
      // The token request goes out under the same list: a token URL off it could never be reached.
      if (auth.method === 'oauth2_client_credentials' && auth.tokenUrl !== undefined && !urlProblem(auth.tokenUrl, false)) {
        const decision = allowList.check('POST', auth.tokenUrl);
        if (!decision.allowed) problems.push({ field: '/auth/tokenUrl', problem: `is not on the connection's egress allow-list (${decision.reason.code}); add its host, port and path for POST` });
      }
    } catch (err) {
      problems.push({ field: '/egress/allow', problem: (err as Error).message.slice(0, 300) });
    }
  } else if (body.kind !== 'sandbox') {
    problems.push({ field: '/egress', problem: `is required for a connection of kind ${body.kind}: list the hosts and paths calls may reach` });
  }
  if (auth.method === 'none' && body.secret !== undefined) problems.push({ field: '/secret', problem: 'is not used by auth method none' });
  if (auth.method !== 'none' && body.secret === undefined) problems.push({ field: '/secret', problem: `is required for auth method ${auth.method}` });
  const secretProblem = body.secret === undefined ? null : checkSecret(body.secret);
  if (secretProblem) problems.push(secretProblem);
  if (problems.length > 0) throw invalid('invalid_connection', problems);
  return { id: body.id, kind: body.kind, endpoint: body.endpoint, description: body.description, auth: normalisedAuth(auth), egress: body.egress as EgressPolicy | undefined, secret: body.secret };
}

/** The auth parameters of a checked body, with the defaults filled in (every required one is present by now). */
function normalisedAuth(auth: Static<typeof AuthBody>): ConnectionAuth {
  const { method, header = '', username = '', tokenUrl = '', clientId = '' } = auth;
  switch (method) {
    case 'api_key_header':
      return { method, header };
    case 'basic':
      return { method, username };
    case 'oauth2_client_credentials':
      return { method, tokenUrl, clientId, scopes: auth.scopes ?? [], clientAuthentication: auth.clientAuthentication ?? 'basic' };
    default:
      return { method };
  }
}

/** A secret goes into a header: no control characters (they would split or end it). Never says what it is. */
function checkSecret(secret: string): FieldProblem | null {
  // eslint-disable-next-line no-control-regex
  return /[\u0000-\u001f\u007f]/.test(secret) ? { field: '/secret', problem: 'must not contain control characters (line breaks included)' } : null;
}

/**
 * Connections to the systems tools act on, with their credentials encrypted at rest. Operators
 * create, rotate and revoke (each change a `govmesh.connection.changed.v1` event, audited);
 * operators and auditors read. No answer, event or log line carries a secret.
 */
@ApiTags('connections')
@ApiRefusals(401, 403)
@Controller('v1/connections')
@Roles('operator')
export class ConnectionsController {
  constructor(
    private readonly connections: ConnectionsService,
    private readonly connectionMap: ConnectionMapService,
  ) {}

  @Get()
  @Roles('operator', 'auditor')
  @ApiOperation({ summary: 'List the connections', description: 'Roles: operator, auditor. Never with a secret: `secret` says whether one is set, under which master key, and since when.' })
  @ApiOkResponse({ description: '`{ items }`: every connection with its kind, endpoint, auth method and parameters, status, version and history' })
  async list() {
    return { items: await this.connections.list() };
  }

  @Get('map')
  @Roles('operator', 'auditor')
  @ApiOperation({
    summary: 'The connection map: what each agent can touch',
    description:
      'Roles: operator, auditor. Every agent with its granted tools (and tools it asked for without a grant, `granted: false`), each tool\'s side effect, classification and connection, with call counts (calls, succeeded, refused) and last use; and the connections each agent reaches.',
  })
  @ApiOkResponse({ description: '`{ agents: [{ agentId, status, tools, connections }], generatedAt }`' })
  async map() {
    return this.connectionMap.map();
  }

  @Get(':id')
  @IdParam()
  @Roles('operator', 'auditor')
  @ApiOperation({ summary: 'Get one connection', description: 'Roles: operator, auditor. Never with its secret.' })
  @ApiOkResponse({ description: 'The connection' })
  @ApiRefusals({ 404: 'No connection has this id (`connection_not_found`)' })
  async get(@Param('id') id: string) {
    const connection = ID.test(id) ? await this.connections.get(id) : null;
    if (!connection) throw new NotFoundException({ code: 'connection_not_found', message: `connection "${id}" does not exist` });
    return connection;
  }

  @Post()
  @HttpCode(201)
  @ApiOperation({
    summary: 'Create a connection',
    description:
      'Role: operator. `auth.method` is `none`, `api_key_header` (`header`), `bearer`, `basic` (`username`) or `oauth2_client_credentials` (`tokenUrl`, `clientId`, optional `scopes`, `clientAuthentication`); `secret` is required for all but `none`, encrypted at rest and never shown again.',
  })
  @ApiJsonBody(CreateBody)
  @ApiCreatedResponse({ description: 'The connection, without its secret' })
  @ApiRefusals({ 400: 'The body is invalid (`invalid_connection`, naming each field)', 409: 'A connection with this id exists (`connection_exists`)' })
  async create(@Body() body: unknown, @CurrentPrincipal() principal: Principal) {
    const spec = connectionSpec(validateRequest(CreateBody, body, 'invalid_connection'));
    return this.connections.create(spec, principal);
  }

  @Post(':id/rotate')
  @IdParam()
  @HttpCode(200)
  @ApiOperation({ summary: "Rotate a connection's secret", description: 'Role: operator. One call: a new secret under a new data key, `version` + 1; the next call uses it. Re-activates a revoked connection.' })
  @ApiJsonBody(RotateBody)
  @ApiOkResponse({ description: 'The connection, without its secret' })
  @ApiRefusals({ 400: 'The body is invalid (`invalid_rotation`)', 404: 'No connection has this id', 409: 'The connection authenticates with no secret (`connection_has_no_secret`)' })
  async rotate(@Param('id') id: string, @Body() body: unknown, @CurrentPrincipal() principal: Principal) {
    this.checkId(id, 'invalid_rotation');
    const spec = validateRequest(RotateBody, body, 'invalid_rotation');
    const problem = checkSecret(spec.secret);
    if (problem) throw invalid('invalid_rotation', [problem]);
    return this.connections.rotate(id, spec.secret, principal, spec.reason);
  }

  @Post(':id/revoke')
  @IdParam()
  @HttpCode(200)
  @ApiOperation({ summary: 'Revoke a connection', description: 'Role: operator. One call: the secret is erased and every call from the next one on, in-flight runs included, is refused `connection_revoked`. Revoking twice changes nothing.' })
  @ApiJsonBody(RevokeBody)
  @ApiOkResponse({ description: 'The connection, revoked' })
  @ApiRefusals({ 400: 'The body is invalid (`invalid_revocation`)', 404: 'No connection has this id' })
  async revoke(@Param('id') id: string, @Body() body: unknown, @CurrentPrincipal() principal: Principal) {
    this.checkId(id, 'invalid_revocation');
    const spec = validateRequest(RevokeBody, body ?? {}, 'invalid_revocation');
    return this.connections.revoke(id, principal, spec.reason);
  }

  private checkId(id: string, code: string): void {
    if (!ID.test(id)) throw invalid(code, [{ field: 'id', problem: 'is not a valid connection id (1-64 lowercase letters, digits, . _ -)' }]);
  }
}
