import { ServiceHarness } from '@govmesh/testing';
import { POLICY_DATABASE } from './database';
import { PolicyServiceModule } from './policy.module';

type Operation = { security?: Array<Record<string, string[]>>; summary?: string; tags?: string[]; responses?: Record<string, unknown>; requestBody?: { content: Record<string, { schema: Record<string, unknown> }> } };
type Document = { openapi: string; info: { title: string; version: string }; security?: Array<Record<string, string[]>>; paths: Record<string, Record<string, Operation>>; components: { securitySchemes: Record<string, { type: string; scheme?: string }> } };

const METHODS = ['get', 'put', 'post', 'delete', 'patch'];

describe('policy: the OpenAPI document and Swagger UI at /docs', () => {
  let h: ServiceHarness;

  beforeAll(async () => {
    h = await ServiceHarness.start({ modules: [PolicyServiceModule], schemas: [POLICY_DATABASE.schema], env: { GOVMESH_METRICS_TOKEN: 'metrics-token-of-this-test' } });
  });
  afterAll(async () => {
    await h?.close();
  });

  const refusals = async (reason: string) => (await h.metrics.httpRefusals.get()).values.find((v) => v.labels['reason'] === reason)?.value ?? 0;

  it.each(['/docs/openapi.json', '/docs/openapi.yaml', '/DOCS/OpenAPI.json', '/docs/openapi.json/'])('refuses %s without a credential: 401 with the guard\'s answer, counted', async (path) => {
    const before = await refusals('credential_missing');
    const res = await h.http('GET', path, { key: null });
    expect(res.status).toBe(401);
    expect(res.body).toEqual({ code: 'credential_missing', message: expect.any(String) });
    expect(await refusals('credential_missing')).toBe(before + 1);
  });

  it('refuses an unknown API key and a revoked one', async () => {
    expect((await h.http('GET', '/docs/openapi.json', { key: 'gm_aaaaaaaaaaaa_AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA' })).status).toBe(401);
    const key = await h.apiKey('auditor');
    expect((await h.http('GET', '/docs/openapi.json', { key })).status).toBe(200);
    await h.http('POST', `/v1/api-keys/${key.split('_')[1]}/revoke`);
    const res = await h.http('GET', '/docs/openapi.json', { key });
    expect(res.status).toBe(401);
    expect(res.body).toMatchObject({ code: 'credential_revoked' });
  });

  it('serves the document to any authenticated principal', async () => {
    for (const role of ['auditor', 'reviewer'] as const) expect((await h.http('GET', '/docs/openapi.json', { key: await h.apiKey(role) })).status).toBe(200);
  });

  describe('with the operator key', () => {
    let doc: Document;
    beforeAll(async () => {
      const res = await h.http<Document>('GET', '/docs/openapi.json');
      expect(res.status).toBe(200);
      doc = res.body;
    });

    it('describes this process and its routes', () => {
      expect(doc.openapi).toBe('3.1.0');
      expect(doc.info).toMatchObject({ title: 'govmesh service-test', version: expect.stringMatching(/^\d+\.\d+\.\d+/) });
      expect(Object.keys(doc.paths)).toEqual(
        expect.arrayContaining(['/health', '/metrics', '/v1/agents', '/v1/agents/{id}', '/v1/agents/{id}/status', '/v1/api-keys', '/v1/policies', '/v1/policies/simulate', '/v1/policies/{version}/activate']),
      );
    });

    it('declares the credentials the guard accepts and requires one on every route but /health', () => {
      expect(doc.components.securitySchemes['api-key']).toMatchObject({ type: 'http', scheme: 'bearer' });
      expect(doc.security).toEqual([{ 'api-key': [] }]);
      for (const [path, item] of Object.entries(doc.paths)) {
        for (const method of METHODS.filter((m) => item[m])) {
          const effective = item[method].security ?? doc.security ?? [];
          if (path === '/health') expect(item[method].security).toEqual([]);
          else if (path === '/metrics') expect(effective).toEqual([{ 'metrics-token': [] }]);
          else expect({ route: `${method} ${path}`, secured: effective.length > 0 && effective.every((r) => Object.keys(r).length > 0) }).toEqual({ route: `${method} ${path}`, secured: true });
          expect({ route: `${method} ${path}`, summary: typeof item[method].summary }).toEqual({ route: `${method} ${path}`, summary: 'string' });
        }
      }
    });

    it('documents request bodies by the schemas they are validated against', () => {
      const register = doc.paths['/v1/agents/{id}'].put.requestBody!.content['application/json'].schema;
      expect(register).toMatchObject({ type: 'object', additionalProperties: false, required: expect.arrayContaining(['owner', 'tier']) });
      expect(Object.keys(register['properties'] as object)).toEqual(expect.arrayContaining(['owner', 'tier', 'version', 'publicKey']));
      const simulate = doc.paths['/v1/policies/simulate'].post;
      expect(Object.keys(simulate.requestBody!.content['application/json'].schema['properties'] as object)).toEqual(['policies', 'version', 'limit']);
      expect(Object.keys(simulate.responses!)).toEqual(expect.arrayContaining(['200', '400', '401', '403', '404']));
    });

    it('serves the same document as YAML', async () => {
      const res = await h.http<string>('GET', '/docs/openapi.yaml');
      expect(res.status).toBe(200);
      expect(res.body).toContain('/v1/policies/simulate:');
    });
  });

  it('serves Swagger UI at /docs publicly, without the document in it', async () => {
    const page = await h.http<string>('GET', '/docs', { key: null });
    expect(page.status).toBe(200);
    expect(page.body).toContain('<div id="swagger-ui"></div>');
    expect(page.body).toContain('swagger-ui-init.js');
    for (const path of ['/docs/swagger-ui-init.js', '/docs/docs/swagger-ui-init.js']) {
      const init = await h.http<string>('GET', path, { key: null });
      expect(init.status).toBe(200);
      expect(init.body).toContain('"api-key"');
      expect(init.body).toContain('/docs/openapi.json');
      expect(init.body).not.toContain('/v1/agents');
    }
    expect((await h.http('GET', '/docs/swagger-ui-bundle.js', { key: null })).status).toBe(200);
  });

  it('leaves every API route closed', async () => {
    for (const path of ['/v1/agents', '/v1/api-keys', '/v1/policies', '/docs-json', '/docs-yaml']) {
      expect({ path, status: (await h.http('GET', path, { key: null })).status }).toEqual({ path, status: path.startsWith('/docs-') ? 404 : 401 });
    }
    expect((await h.http('GET', '/health', { key: null })).status).toBe(200);
  });
});
