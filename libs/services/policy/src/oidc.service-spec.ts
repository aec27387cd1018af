import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { ServiceHarness } from '@govmesh/testing';
import { POLICY_DATABASE } from './database';
import { PolicyServiceModule } from './policy.module';

/**
 * Bearer JWTs from an OIDC provider, verified on every request against the provider's JWKS
 * (served here by a local HTTP server, as a real provider serves it), with roles, groups and the
 * agent id read from configured claims.
 */
type SigningKey = Awaited<ReturnType<(typeof import('jose'))['generateKeyPair']>>['privateKey'];

describe('OIDC bearer tokens', () => {
  let h: ServiceHarness;
  let jwks: Server;
  let issuer: string;
  let jose: typeof import('jose');
  let signingKey: SigningKey;
  let strangerKey: SigningKey;

  beforeAll(async () => {
    jose = await import('jose');
    const pair = await jose.generateKeyPair('ES256');
    signingKey = pair.privateKey;
    strangerKey = (await jose.generateKeyPair('ES256')).privateKey;
    const publicJwk = { ...(await jose.exportJWK(pair.publicKey)), kid: 'k1', alg: 'ES256', use: 'sig' };
    jwks = createServer((_, res) => {
      res.setHeader('content-type', 'application/json');
      res.end(JSON.stringify({ keys: [publicJwk] }));
    });
    await new Promise<void>((resolve) => jwks.listen(0, '127.0.0.1', resolve));
    issuer = `http://127.0.0.1:${(jwks.address() as AddressInfo).port}`;
    h = await ServiceHarness.start({
      modules: [PolicyServiceModule],
      schemas: [POLICY_DATABASE.schema],
      env: { GOVMESH_OIDC_ISSUER: issuer, GOVMESH_OIDC_JWKS_URL: `${issuer}/jwks`, GOVMESH_OIDC_AUDIENCE: 'govmesh', GOVMESH_OIDC_ROLES_CLAIM: 'realm_access.roles', GOVMESH_METRICS_TOKEN: 'scrape-token-0123456789' },
    });
  });
  afterAll(async () => {
    await h?.close();
    await new Promise((resolve) => jwks?.close(resolve));
  });

  async function token(claims: Record<string, unknown>, options: { key?: SigningKey; issuer?: string; audience?: string; expiresIn?: string } = {}): Promise<string> {
    return new jose.SignJWT(claims)
      .setProtectedHeader({ alg: 'ES256', kid: 'k1' })
      .setSubject('alice@example.com')
      .setIssuer(options.issuer ?? issuer)
      .setAudience(options.audience ?? 'govmesh')
      .setIssuedAt(Math.floor(Date.now() / 1000) - 120)
      .setExpirationTime(options.expiresIn ?? '5m')
      .sign(options.key ?? signingKey);
  }

  it('admits a token whose configured roles claim holds the route\'s role', async () => {
    const operator = await token({ realm_access: { roles: ['operator'] }, groups: ['platform'] });
    expect((await h.http('GET', '/v1/agents', { key: operator })).status).toBe(200);
    const changed = await h.http<{ owner: string }>('PUT', '/v1/agents/oidc-made', { key: operator, body: { owner: 'platform', tier: 'assist', version: '1.0.0' } });
    expect(changed.status).toBe(200);
  });

  it('serves the OpenAPI document to a valid token, declaring the OIDC scheme, and refuses an expired one', async () => {
    const auditor = await token({ realm_access: { roles: ['auditor'] } });
    const doc = await h.http<{ security: unknown[]; components: { securitySchemes: Record<string, unknown> } }>('GET', '/docs/openapi.json', { key: auditor });
    expect(doc.status).toBe(200);
    expect(doc.body.components.securitySchemes['oidc']).toMatchObject({ type: 'http', scheme: 'bearer', bearerFormat: 'JWT' });
    expect(doc.body.security).toEqual([{ 'api-key': [] }, { oidc: [] }]);
    const expired = await token({ realm_access: { roles: ['operator'] } }, { expiresIn: '-5m' });
    expect(await h.http('GET', '/docs/openapi.json', { key: expired })).toMatchObject({ status: 401, body: { code: 'token_expired' } });
  });

  it('keeps /metrics behind GOVMESH_METRICS_TOKEN when it is set, and /health open', async () => {
    expect(await h.http('GET', '/metrics', { key: null })).toMatchObject({ status: 401, body: { code: 'credential_missing' } });
    expect(await h.http('GET', '/metrics', { key: 'wrong-token-0123456789' })).toMatchObject({ status: 401, body: { code: 'credential_invalid' } });
    expect((await h.http('GET', '/metrics', { key: 'scrape-token-0123456789' })).status).toBe(200);
    expect((await h.http('GET', '/health', { key: null })).status).toBe(200);
  });

  it.each([
    { name: 'a role the route does not admit', make: () => token({ realm_access: { roles: ['reviewer'] }, groups: ['finance-ops'] }), status: 403, code: 'role_forbidden' },
    { name: 'no govmesh role at all', make: () => token({ realm_access: { roles: ['admin', 'superuser'] } }), status: 403, code: 'role_forbidden' },
    { name: 'an expired token', make: () => token({ realm_access: { roles: ['operator'] } }, { expiresIn: '-5m' }), status: 401, code: 'token_expired' },
    { name: 'another issuer', make: () => token({ realm_access: { roles: ['operator'] } }, { issuer: 'https://evil.example' }), status: 401, code: 'token_invalid' },
    { name: 'another audience', make: () => token({ realm_access: { roles: ['operator'] } }, { audience: 'someone-else' }), status: 401, code: 'token_invalid' },
    { name: 'a key the provider does not publish', make: () => token({ realm_access: { roles: ['operator'] } }, { key: strangerKey }), status: 401, code: 'token_invalid' },
    { name: 'an agent role without an agent id', make: () => token({ realm_access: { roles: ['agent'] } }), status: 401, code: 'token_invalid' },
    { name: 'a token that is not a JWT', make: async () => 'eyJhbGciOiJub25lIn0.eyJzdWIiOiJ4In0.', status: 401, code: 'token_invalid' },
  ])('refuses $name ($status $code), counted', async ({ make, status, code }) => {
    const before = (await h.metrics.httpRefusals.get()).values.find((v) => v.labels['reason'] === code)?.value ?? 0;
    expect(await h.http('GET', '/v1/agents', { key: await make() })).toMatchObject({ status, body: { code } });
    expect((await h.metrics.httpRefusals.get()).values.find((v) => v.labels['reason'] === code)?.value).toBe(before + 1);
  });
});
