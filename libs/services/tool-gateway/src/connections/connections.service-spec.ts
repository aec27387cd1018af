import { randomBytes, randomUUID } from 'node:crypto';
import { createServer, type IncomingMessage as HttpRequest, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { inspect } from 'node:util';
import { getDataSourceToken } from '@nestjs/typeorm';
import type { DataSource } from 'typeorm';
import { EventTypes, TOPIC_REGISTRY } from '@govmesh/contracts';
import { GOVMESH_CONFIG, ServiceBus } from '@govmesh/nest-runtime';
import { ServiceHarness } from '@govmesh/testing';
import { TOOL_GATEWAY_DATABASE, TOOL_GATEWAY_SERVICE } from '../database';
import { ToolGatewayServiceModule } from '../tool-gateway.module';
import { EnvKeyProvider } from './crypto';
import { CONNECTION_KEY_PROVIDER } from './key-provider';
import { ConnectionRefusal, ConnectionsService, type ConnectionView } from './connections.service';

const SCHEMA = TOOL_GATEWAY_DATABASE.schema;
/** Every secret of this file starts with this: a search for it finds any of them. */
const PLANTED = 'planted-s3cr3t';
const planted = (label: string) => `${PLANTED}-${label}-${randomUUID()}`;
const MASTER_KEY = { id: 'kid1', key: randomBytes(32) };

type Res = { status: number; body: Record<string, unknown> };

describe('tool gateway: connections and their encrypted credentials', () => {
  let h: ServiceHarness;
  let service: ConnectionsService;
  const logs: string[] = [];
  const responses: Res[] = [];
  const restore: Array<() => void> = [];

  beforeAll(async () => {
    // Every log line of the run, at the most verbose level, is searched for the secrets at the end.
    for (const stream of [process.stdout, process.stderr]) {
      const original = stream.write.bind(stream);
      stream.write = ((chunk: unknown, ...rest: unknown[]) => {
        logs.push(String(chunk));
        // The service's own log lines are kept for the search, not printed (debug level is loud).
        if (String(chunk).includes('[Nest]')) return true;
        return (original as (...args: unknown[]) => boolean)(chunk, ...rest);
      }) as typeof stream.write;
      restore.push(() => (stream.write = original));
    }
    for (const method of ['log', 'warn', 'error', 'info', 'debug'] as const) {
      const spy = jest.spyOn(console, method).mockImplementation((...args: unknown[]) => void logs.push(args.map((a) => (typeof a === 'string' ? a : inspect(a, { depth: 10 }))).join(' ')));
      restore.push(() => spy.mockRestore());
    }
    h = await ServiceHarness.start({
      modules: [ToolGatewayServiceModule],
      schemas: [SCHEMA],
      env: { LOG_LEVEL: 'debug', GOVMESH_CONNECTION_KEYS: `${MASTER_KEY.id}:${MASTER_KEY.key.toString('base64')}` },
    });
    service = h.app.get(ConnectionsService);
  });

  afterAll(async () => {
    await h?.close();
    for (const undo of restore) undo();
  });

  /** An HTTP call whose answer is kept for the final search. */
  async function call(method: string, path: string, options: { key?: string | null; body?: unknown } = {}): Promise<Res> {
    const res = await h.http<Record<string, unknown>>(method, path, options);
    responses.push(res);
    return res;
  }

  const create = (body: Record<string, unknown>, key?: string | null) => call('POST', '/v1/connections', { body, key });
  const bearer = (id: string, secret: string) => ({ id, kind: 'http', endpoint: 'https://erp.example.com/api', auth: { method: 'bearer' }, egress: { allow: [{ host: '*.example.com', paths: ['/**'] }] }, secret });
  const refusal = async (id: string) => {
    try {
      await service.credentialsFor(id);
    } catch (err) {
      expect(err).toBeInstanceOf(ConnectionRefusal);
      expect((err as Error).message).not.toContain(PLANTED);
      return (err as ConnectionRefusal).code;
    }
    throw new Error(`credentials for ${id} were given`);
  };
  const changes = (id: string) => h.emitted(EventTypes.ConnectionChanged).filter((e) => e.data.connectionId === id);

  it('creates a connection and shows it without its secret: only whether one is set, under which key, since when', async () => {
    const secret = planted('erp');
    const res = await create({ ...bearer('erp', secret), description: 'the ERP' });
    expect(res.status).toBe(201);
    expect(res.body).toMatchObject({ id: 'erp', kind: 'http', endpoint: 'https://erp.example.com/api', auth: { method: 'bearer' }, status: 'active', version: 1, createdBy: expect.stringMatching(/^key:/) });
    expect(res.body['secret']).toEqual({ set: true, keyId: 'kid1', rotatedAt: res.body['createdAt'] });
    expect(JSON.stringify(res.body)).not.toContain(secret);
    const got = await call('GET', '/v1/connections/erp');
    expect(got).toEqual({ status: 200, body: res.body });
    const listed = await call('GET', '/v1/connections');
    expect((listed.body['items'] as ConnectionView[]).find((c) => c.id === 'erp')).toEqual(res.body);
    await h.settle();
    expect(changes('erp').map((e) => e.data)).toEqual([
      {
        connectionId: 'erp',
        change: 'created',
        connection: { kind: 'http', endpoint: 'https://erp.example.com/api', authMethod: 'bearer', status: 'active', version: 1, keyId: 'kid1' },
        actor: { kind: 'operator', id: expect.stringMatching(/^key:/), name: expect.any(String) },
      },
    ]);
    expect(changes('erp')[0].subject).toBe('erp');
  });

  it('injects each auth method into a request at execution time, and the credentials print as redacted', async () => {
    const key = planted('crm');
    const password = planted('mail');
    await create({ id: 'crm', kind: 'mcp', endpoint: 'https://crm.example.com/mcp', egress: { allow: [{ host: '*.example.com', paths: ['/**'] }] }, auth: { method: 'api_key_header', header: 'X-Api-Key' }, secret: key });
    await create({ id: 'mail', kind: 'http', endpoint: 'http://mail.internal:8025', egress: { allow: [{ host: 'mail.internal', port: 8025, scheme: 'http', paths: ['/**'], allowPrivateNetwork: true }] }, auth: { method: 'basic', username: 'govmesh' }, secret: password });
    await create({ id: 'sandbox', kind: 'sandbox', auth: { method: 'none' } });
    const crm = await service.credentialsFor('crm');
    expect(await crm.inject({ accept: 'application/json', 'x-api-key': 'from the model' })).toEqual({ accept: 'application/json', 'x-api-key': key });
    expect(await (await service.credentialsFor('mail')).headers()).toEqual({ authorization: `Basic ${Buffer.from(`govmesh:${password}`).toString('base64')}` });
    expect(await (await service.credentialsFor('sandbox')).headers()).toEqual({});
    for (const shown of [JSON.stringify(crm), String(crm), inspect(crm, { depth: 10 }), inspect({ crm }, { showHidden: true, depth: 10 })]) expect(shown).not.toContain(PLANTED);
    expect(JSON.parse(JSON.stringify(crm))).toEqual({ connectionId: 'crm', version: 1, method: 'api_key_header', secret: '[redacted]' });
  });

  it('rotates in one call: a new data key, version + 1, and the next credentials carry the new secret', async () => {
    const old = planted('tickets-1');
    const fresh = planted('tickets-2');
    await create(bearer('tickets', old));
    const [before] = await h.query<{ secret_wrapped_key: string; secret_ciphertext: string }>(`SELECT secret_wrapped_key, secret_ciphertext FROM "${SCHEMA}"."connections" WHERE id = 'tickets'`);
    const res = await call('POST', '/v1/connections/tickets/rotate', { body: { secret: fresh, reason: 'quarterly rotation' } });
    expect(res.status).toBe(200);
    expect(res.body).toMatchObject({ version: 2, status: 'active', rotatedBy: expect.stringMatching(/^key:/), secret: { set: true, keyId: 'kid1', rotatedAt: res.body['rotatedAt'] } });
    const [after] = await h.query<{ secret_wrapped_key: string; secret_ciphertext: string }>(`SELECT secret_wrapped_key, secret_ciphertext FROM "${SCHEMA}"."connections" WHERE id = 'tickets'`);
    expect(after.secret_wrapped_key).not.toBe(before.secret_wrapped_key);
    expect(after.secret_ciphertext).not.toBe(before.secret_ciphertext);
    const credentials = await service.credentialsFor('tickets');
    expect(credentials.version).toBe(2);
    expect(await credentials.headers()).toEqual({ authorization: `Bearer ${fresh}` });
    await h.settle();
    expect(changes('tickets').map((e) => [e.data.change, e.data.connection.version, e.data.reason])).toEqual([
      ['created', 1, undefined],
      ['rotated', 2, 'quarterly rotation'],
    ]);
  });

  it('revokes in one call: the secret is erased and the very next call is refused connection_revoked; a rotation re-activates it', async () => {
    await create(bearer('payments', planted('payments')));
    expect(await (await service.credentialsFor('payments')).headers()).toHaveProperty('authorization');
    const res = await call('POST', '/v1/connections/payments/revoke', { body: { reason: 'key leaked' } });
    expect(res.status).toBe(200);
    expect(res.body).toMatchObject({ status: 'revoked', version: 1, secret: { set: false }, revokedBy: expect.stringMatching(/^key:/), revokedAt: expect.any(String) });
    expect(await refusal('payments')).toBe('connection_revoked');
    const [row] = await h.query(`SELECT secret_key_id, secret_wrapped_key, secret_iv, secret_tag, secret_ciphertext FROM "${SCHEMA}"."connections" WHERE id = 'payments'`);
    expect(row).toEqual({ secret_key_id: null, secret_wrapped_key: null, secret_iv: null, secret_tag: null, secret_ciphertext: null });
    // Revoking again changes nothing and emits nothing.
    expect((await call('POST', '/v1/connections/payments/revoke')).body).toMatchObject({ status: 'revoked' });
    await h.settle();
    expect(changes('payments').map((e) => [e.data.change, e.data.connection.status, e.data.connection.keyId, e.data.reason])).toEqual([
      ['created', 'active', 'kid1', undefined],
      ['revoked', 'revoked', undefined, 'key leaked'],
    ]);
    const replacement = planted('payments-2');
    expect((await call('POST', '/v1/connections/payments/rotate', { body: { secret: replacement } })).body).toMatchObject({ status: 'active', version: 2, secret: { set: true } });
    expect(await (await service.credentialsFor('payments')).headers()).toEqual({ authorization: `Bearer ${replacement}` });
  });

  it('refuses a secret altered in the database, moved from another row or under an unknown master key with a code, never a 500', async () => {
    await create(bearer('tamper-a', planted('tamper-a')));
    await create(bearer('tamper-b', planted('tamper-b')));
    const table = `"${SCHEMA}"."connections"`;
    const original = (await h.query<Record<string, string>>(`SELECT * FROM ${table} WHERE id = 'tamper-a'`))[0];
    const reset = () => h.query(`UPDATE ${table} SET secret_key_id = $2, secret_wrapped_key = $3, secret_iv = $4, secret_tag = $5, secret_ciphertext = $6 WHERE id = $1`, ['tamper-a', original['secret_key_id'], original['secret_wrapped_key'], original['secret_iv'], original['secret_tag'], original['secret_ciphertext']]);
    const flip = (b64: string) => {
      const bytes = Buffer.from(b64, 'base64');
      bytes[0] ^= 1;
      return bytes.toString('base64');
    };
    for (const column of ['secret_ciphertext', 'secret_tag', 'secret_iv', 'secret_wrapped_key']) {
      await h.query(`UPDATE ${table} SET ${column} = $2 WHERE id = $1`, ['tamper-a', flip(original[column])]);
      expect({ column, code: await refusal('tamper-a') }).toEqual({ column, code: 'connection_secret_unreadable' });
      await reset();
    }
    await h.query(`UPDATE ${table} a SET secret_key_id = b.secret_key_id, secret_wrapped_key = b.secret_wrapped_key, secret_iv = b.secret_iv, secret_tag = b.secret_tag, secret_ciphertext = b.secret_ciphertext FROM ${table} b WHERE a.id = 'tamper-a' AND b.id = 'tamper-b'`);
    expect(await refusal('tamper-a')).toBe('connection_secret_unreadable');
    await reset();
    await h.query(`UPDATE ${table} SET secret_key_id = 'kid-gone' WHERE id = 'tamper-a'`);
    expect(await refusal('tamper-a')).toBe('connection_key_unknown');
    await h.query(`UPDATE ${table} SET secret_ciphertext = NULL WHERE id = 'tamper-a'`);
    expect(await refusal('tamper-a')).toBe('connection_secret_unreadable');
    await reset();
    expect(await (await service.credentialsFor('tamper-a')).headers()).toHaveProperty('authorization');
    expect(await refusal('no-such-connection')).toBe('connection_not_found');
    // The API still answers for the tampered row: it never decrypts to show it.
    expect((await call('GET', '/v1/connections/tamper-a')).status).toBe(200);
  });

  it('re-wraps the secrets under a new master key; the old key can then go', async () => {
    await create(bearer('rewrap', planted('rewrap')));
    const expected = await (await service.credentialsFor('rewrap')).headers();
    const kid2 = { id: 'kid2', key: randomBytes(32) };
    const rotated = new ConnectionsService(h.app.get<DataSource>(getDataSourceToken(TOOL_GATEWAY_SERVICE)), h.app.get(ServiceBus), new EnvKeyProvider([kid2, MASTER_KEY]), h.app.get(GOVMESH_CONFIG));
    const { rewrapped, failed } = await rotated.rewrapAll();
    expect(rewrapped).toBeGreaterThanOrEqual(1);
    expect(failed).toEqual([]);
    expect((await rotated.get('rewrap'))?.secret).toMatchObject({ set: true, keyId: 'kid2' });
    const onlyNew = new ConnectionsService(h.app.get<DataSource>(getDataSourceToken(TOOL_GATEWAY_SERVICE)), h.app.get(ServiceBus), new EnvKeyProvider([kid2]), h.app.get(GOVMESH_CONFIG));
    expect(await (await onlyNew.credentialsFor('rewrap')).headers()).toEqual(expected);
    // This process still holds kid1 only: it says which key it lacks instead of failing obscurely.
    expect(await refusal('rewrap')).toBe('connection_key_unknown');
    expect(await h.app.get<EnvKeyProvider>(CONNECTION_KEY_PROVIDER).currentKeyId).toBe('kid1');
    expect((await rotated.rewrapAll()).rewrapped).toBe(0);
    // Back under kid1 for the cases after this one.
    await new ConnectionsService(h.app.get<DataSource>(getDataSourceToken(TOOL_GATEWAY_SERVICE)), h.app.get(ServiceBus), new EnvKeyProvider([MASTER_KEY, kid2]), h.app.get(GOVMESH_CONFIG)).rewrapAll();
    expect(await (await service.credentialsFor('rewrap')).headers()).toEqual(expected);
  });

  describe('OAuth2 client credentials', () => {
    let server: Server;
    let tokenUrl: string;
    let tokenPort: number;
    let egress: Record<string, unknown>;
    const requests: Array<{ authorization?: string; body: string }> = [];
    let refuse = false;

    beforeAll(async () => {
      server = createServer((req: HttpRequest, res) => {
        let body = '';
        req.on('data', (c: Buffer) => (body += c.toString('utf8')));
        req.on('end', () => {
          requests.push({ authorization: req.headers.authorization, body });
          res.setHeader('content-type', 'application/json');
          if (refuse) {
            res.statusCode = 401;
            res.end(JSON.stringify({ error: 'invalid_client', error_description: 'bad secret' }));
            return;
          }
          res.end(JSON.stringify({ access_token: `${PLANTED}-token-${requests.length}`, token_type: 'Bearer', expires_in: 3600 }));
        });
      });
      await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
      tokenPort = (server.address() as AddressInfo).port;
      tokenUrl = `http://127.0.0.1:${tokenPort}/oauth/token`;
      // The token endpoint is reached under the connection's allow-list like any call.
      egress = { allow: [{ host: '*.example.com', paths: ['/**'] }, { host: '127.0.0.1', port: tokenPort, scheme: 'http', paths: ['/oauth/token'], methods: ['POST'], allowPrivateNetwork: true }] };
    });

    afterAll(async () => {
      await new Promise((resolve) => server.close(resolve));
    });

    it('fetches a token with the client secret, caches it per version, and a rotation or revocation stops its use', async () => {
      const secret = planted('oauth-1');
      const created = await create({ id: 'ledger', kind: 'http', endpoint: 'https://ledger.example.com', egress, auth: { method: 'oauth2_client_credentials', tokenUrl, clientId: 'govmesh-gw', scopes: ['ledger.read', 'ledger.write'] }, secret });
      expect(created.status).toBe(201);
      expect(created.body['auth']).toEqual({ method: 'oauth2_client_credentials', tokenUrl, clientId: 'govmesh-gw', scopes: ['ledger.read', 'ledger.write'], clientAuthentication: 'basic' });
      const first = await (await service.credentialsFor('ledger')).headers();
      expect(first).toEqual({ authorization: `Bearer ${PLANTED}-token-1` });
      expect(requests).toHaveLength(1);
      expect(requests[0].authorization).toBe(`Basic ${Buffer.from(`govmesh-gw:${encodeURIComponent(secret)}`).toString('base64')}`);
      expect(Object.fromEntries(new URLSearchParams(requests[0].body))).toEqual({ grant_type: 'client_credentials', scope: 'ledger.read ledger.write' });
      // Cached: no second request for the same version.
      expect(await (await service.credentialsFor('ledger')).headers()).toEqual(first);
      expect(requests).toHaveLength(1);
      const rotatedSecret = planted('oauth-2');
      await call('POST', '/v1/connections/ledger/rotate', { body: { secret: rotatedSecret } });
      expect(await (await service.credentialsFor('ledger')).headers()).toEqual({ authorization: `Bearer ${PLANTED}-token-2` });
      expect(requests[1].authorization).toBe(`Basic ${Buffer.from(`govmesh-gw:${encodeURIComponent(rotatedSecret)}`).toString('base64')}`);
      await call('POST', '/v1/connections/ledger/revoke');
      expect(await refusal('ledger')).toBe('connection_revoked');
      expect(requests).toHaveLength(2);
    });

    it('says oauth2_token_failed when the token endpoint refuses, with its error code and never the secret', async () => {
      await create({ id: 'ledger-refused', kind: 'http', endpoint: 'https://ledger.example.com', egress, auth: { method: 'oauth2_client_credentials', tokenUrl, clientId: 'x', clientAuthentication: 'body' }, secret: planted('oauth-3') });
      refuse = true;
      try {
        const credentials = await service.credentialsFor('ledger-refused');
        await expect(credentials.headers()).rejects.toMatchObject({ code: 'oauth2_token_failed', message: expect.stringContaining('answered 401') });
        expect(Object.fromEntries(new URLSearchParams(requests[requests.length - 1].body))).toMatchObject({ grant_type: 'client_credentials', client_id: 'x', client_secret: expect.stringContaining(PLANTED) });
      } finally {
        refuse = false;
      }
      // Not cached after a failure: the next call asks again.
      expect(await (await service.credentialsFor('ledger-refused')).headers()).toEqual({ authorization: expect.stringMatching(/^Bearer /) });
    });

    it('never sends the client secret to a token endpoint outside the connection\'s allow-list', async () => {
      const before = requests.length;
      const outside = { allow: [{ host: '*.example.com', paths: ['/**'] }] };
      const offPath = { allow: [{ host: '127.0.0.1', port: tokenPort, scheme: 'http' as const, paths: ['/other'], allowPrivateNetwork: true }] };
      // The API refuses such a connection, naming the field.
      for (const [id, egress, code] of [['ledger-outside', outside, 'egress_host_not_allowed'], ['ledger-path', offPath, 'egress_path_not_allowed']] as const) {
        const res = await create({ id, kind: 'http', endpoint: 'https://ledger.example.com', egress, auth: { method: 'oauth2_client_credentials', tokenUrl, clientId: 'x' }, secret: planted(`oauth-${id}`) });
        expect(res.status).toBe(400);
        expect(res.body['fields']).toEqual([{ field: '/auth/tokenUrl', problem: expect.stringContaining(code) }]);
      }
      // A connection stored another way (an older release, a direct call) is refused at the token request.
      const operator = { id: 'key:test', kind: 'api_key' as const, name: 'test', roles: ['operator' as const], groups: [] };
      await service.create({ id: 'ledger-outside', kind: 'http', endpoint: 'https://ledger.example.com', egress: outside, auth: { method: 'oauth2_client_credentials', tokenUrl, clientId: 'x', scopes: [], clientAuthentication: 'basic' }, secret: planted('oauth-4') }, operator);
      await expect((await service.credentialsFor('ledger-outside')).headers()).rejects.toMatchObject({ code: 'oauth2_token_failed', message: expect.stringContaining('egress_host_not_allowed') });
      await service.create({ id: 'ledger-path', kind: 'http', endpoint: 'https://ledger.example.com', egress: offPath, auth: { method: 'oauth2_client_credentials', tokenUrl, clientId: 'x', scopes: [], clientAuthentication: 'basic' }, secret: planted('oauth-5') }, operator);
      await expect((await service.credentialsFor('ledger-path')).headers()).rejects.toMatchObject({ code: 'oauth2_token_failed', message: expect.stringContaining('egress_path_not_allowed') });
      expect(requests).toHaveLength(before);
    });
  });

  describe('who may do what', () => {
    it('refuses a caller without a credential (401), and agents and reviewers everything (403)', async () => {
      expect((await create(bearer('nobody', planted('nobody')), null)).status).toBe(401);
      expect((await call('GET', '/v1/connections', { key: null })).status).toBe(401);
      for (const role of ['agent', 'reviewer'] as const) {
        const key = await h.apiKey(role, role === 'agent' ? { agentId: 'support-assistant' } : {});
        expect({ role, status: (await create(bearer(`by-${role}`, planted(role)), key)).status }).toEqual({ role, status: 403 });
        expect({ role, status: (await call('POST', '/v1/connections/erp/rotate', { key, body: { secret: planted(role) } })).status }).toEqual({ role, status: 403 });
        expect({ role, status: (await call('POST', '/v1/connections/erp/revoke', { key })).status }).toEqual({ role, status: 403 });
        expect({ role, status: (await call('GET', '/v1/connections', { key })).status }).toEqual({ role, status: 403 });
      }
      expect((await call('GET', '/v1/connections/erp')).body['status']).toBe('active');
    });

    it('lets auditors read but not change', async () => {
      const key = await h.apiKey('auditor');
      expect((await call('GET', '/v1/connections', { key })).status).toBe(200);
      expect((await call('GET', '/v1/connections/erp', { key })).status).toBe(200);
      expect((await create(bearer('by-auditor', planted('auditor')), key)).status).toBe(403);
      expect((await call('POST', '/v1/connections/erp/revoke', { key })).status).toBe(403);
    });
  });

  describe('input', () => {
    const base = { id: 'bad', kind: 'http', endpoint: 'https://x.example.com', egress: { allow: [{ host: '*.example.com', paths: ['/**'] }] }, auth: { method: 'bearer' }, secret: 'ignored-not-planted' };

    it.each([
      ['an id that is not a slug', { ...base, id: 'Bad Id' }, '/id'],
      ['an unknown kind', { ...base, kind: 'ftp' }, '/kind'],
      ['an unknown auth method', { ...base, auth: { method: 'kerberos' } }, '/auth/method'],
      ['api_key_header without its header', { ...base, auth: { method: 'api_key_header' } }, '/auth/header'],
      ['a header name with a space', { ...base, auth: { method: 'api_key_header', header: 'x api key' } }, '/auth/header'],
      ['a reserved header', { ...base, auth: { method: 'api_key_header', header: 'Host' } }, '/auth/header'],
      ['basic without a username', { ...base, auth: { method: 'basic' } }, '/auth/username'],
      ['a parameter the method does not use', { ...base, auth: { method: 'bearer', username: 'u' } }, '/auth/username'],
      ['oauth2 without a token URL and client id', { ...base, auth: { method: 'oauth2_client_credentials' } }, '/auth/tokenUrl'],
      ['oauth2 with a token URL that is not http(s)', { ...base, auth: { method: 'oauth2_client_credentials', tokenUrl: 'file:///etc/passwd', clientId: 'c' } }, '/auth/tokenUrl'],
      ['a scope with a space', { ...base, auth: { method: 'oauth2_client_credentials', tokenUrl: 'https://idp.example.com/token', clientId: 'c', scopes: ['a b'] } }, '/auth/scopes/0'],
      ['an http connection without an endpoint', { ...base, endpoint: undefined }, '/endpoint'],
      ['an endpoint with credentials in it', { ...base, endpoint: 'https://user:pw@x.example.com' }, '/endpoint'],
      ['an endpoint with a query', { ...base, endpoint: 'https://x.example.com/api?key=abc' }, '/endpoint'],
      ['an endpoint that is not a URL', { ...base, endpoint: 'not a url' }, '/endpoint'],
      ['a method that needs a secret without one', { ...base, secret: undefined }, '/secret'],
      ['a secret for method none', { ...base, auth: { method: 'none' } }, '/secret'],
      ['a secret with a line break', { ...base, secret: 'abc\r\nx-injected: 1' }, '/secret'],
      ['an empty secret', { ...base, secret: '' }, '/secret'],
      ['an unknown field', { ...base, password: 'x' }, '/password'],
    ])('refuses %s with 400 naming the field', async (_, body, field) => {
      const res = await create(body);
      expect(res.status).toBe(400);
      expect(res.body).toMatchObject({ code: 'invalid_connection' });
      expect((res.body['fields'] as Array<{ field: string }>).map((f) => f.field)).toContain(field);
      expect(JSON.stringify(res.body)).not.toContain('ignored-not-planted');
    });

    it('refuses a body that is not JSON, or not an object', async () => {
      expect((await call('POST', '/v1/connections', { body: '{"id": ' })).status).toBe(400);
      expect((await create([] as unknown as Record<string, unknown>)).status).toBe(400);
    });

    it('answers 409 for an id taken, 404 for an unknown one, 400 for a bad rotation, 409 when there is no secret to rotate', async () => {
      const again = await create(bearer('erp', planted('erp-again')));
      expect(again).toMatchObject({ status: 409, body: { code: 'connection_exists' } });
      for (const [method, path, body] of [
        ['GET', '/v1/connections/unknown', undefined],
        ['GET', '/v1/connections/NOT%20A%20SLUG', undefined],
        ['POST', '/v1/connections/unknown/rotate', { secret: planted('unknown') }],
        ['POST', '/v1/connections/unknown/revoke', {}],
      ] as const) {
        expect({ path, res: await call(method, path, { body }) }).toMatchObject({ path, res: { status: 404, body: { code: 'connection_not_found' } } });
      }
      expect(await call('POST', '/v1/connections/NOT%20A%20SLUG/rotate', { body: { secret: 'x' } })).toMatchObject({ status: 400, body: { code: 'invalid_rotation' } });
      expect(await call('POST', '/v1/connections/erp/rotate', { body: {} })).toMatchObject({ status: 400, body: { code: 'invalid_rotation', fields: [{ field: '/secret' }] } });
      expect(await call('POST', '/v1/connections/erp/rotate', { body: { secret: 'a\nb' } })).toMatchObject({ status: 400, body: { code: 'invalid_rotation' } });
      expect(await call('POST', '/v1/connections/erp/revoke', { body: { reason: 1 } })).toMatchObject({ status: 400, body: { code: 'invalid_revocation' } });
      expect(await call('POST', '/v1/connections/sandbox/rotate', { body: { secret: planted('none') } })).toMatchObject({ status: 409, body: { code: 'connection_has_no_secret' } });
    });
  });

  // Last: everything above planted secrets; none of them may show anywhere but encrypted in the database.
  it('never shows a planted secret: not in an API answer, an event, a published message, a log line or the database in clear', async () => {
    await h.settle();
    expect(responses.length).toBeGreaterThan(40);
    for (const res of responses) expect(JSON.stringify(res.body)).not.toContain(PLANTED);

    const messages = TOPIC_REGISTRY.flatMap((t) => h.published(t.name));
    expect(h.emitted(EventTypes.ConnectionChanged).length).toBeGreaterThanOrEqual(10);
    for (const m of messages) {
      expect(m.value?.toString('utf8') ?? '').not.toContain(PLANTED);
      expect(JSON.stringify(m.headers)).not.toContain(PLANTED);
    }

    const text = logs.join('');
    expect(text).toContain('connection "erp" created');
    expect(text).not.toContain(PLANTED);

    const columns = await h.query<{ table_schema: string; table_name: string; column_name: string }>(
      `SELECT c.table_schema, c.table_name, c.column_name FROM information_schema.columns c
       JOIN information_schema.tables t ON t.table_schema = c.table_schema AND t.table_name = c.table_name AND t.table_type = 'BASE TABLE'
       WHERE c.table_schema NOT IN ('pg_catalog', 'information_schema') AND c.data_type IN ('text', 'character varying', 'jsonb', 'json', 'bytea', 'ARRAY')`,
    );
    expect(columns.some((c) => c.table_name === 'connections' && c.column_name === 'secret_ciphertext')).toBe(true);
    const base64 = Buffer.from(PLANTED).toString('base64').slice(0, 12);
    for (const c of columns) {
      const [found] = await h.query<{ n: number }>(`SELECT count(*)::int AS n FROM "${c.table_schema}"."${c.table_name}" WHERE "${c.column_name}"::text LIKE $1 OR "${c.column_name}"::text LIKE $2`, [`%${PLANTED}%`, `%${base64}%`]);
      expect({ column: `${c.table_schema}.${c.table_name}.${c.column_name}`, rows: found.n }).toEqual({ column: `${c.table_schema}.${c.table_name}.${c.column_name}`, rows: 0 });
    }
    const [stored] = await h.query<{ n: number }>(`SELECT count(*)::int AS n FROM "${SCHEMA}"."connections" WHERE secret_ciphertext IS NOT NULL`);
    expect(stored.n).toBeGreaterThanOrEqual(8);
  });
});
