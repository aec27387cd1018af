import { ServiceHarness } from '@govmesh/testing';
import { ORCHESTRATOR_DATABASE } from './database';
import { OrchestratorServiceModule } from './orchestrator.module';

const SCHEMA = ORCHESTRATOR_DATABASE.schema;
const YAML = { 'content-type': 'application/yaml' };

type Published = { id: string; version: number; digest: string; created: boolean };
type Refusal = { code: string; message: string; line?: number; column?: number; problems?: Array<{ line: number; column: number; problem: string }>; fields?: Array<{ field: string }> };

/** A definition as JSON and the same definition as YAML, written the way a person would. */
function probe(id: string) {
  const json = {
    id,
    description: 'yes: a probe',
    deadlineSeconds: 60,
    escalation: { levels: [{ name: 'ops', groups: ['operations'], slaSeconds: 60 }] },
    steps: [
      { id: 'look', kind: 'context' },
      { id: 'route', kind: 'branch', cases: [{ when: 'input.amount > 10', next: 'end' }], default: 'look-again' },
      { id: 'look-again', kind: 'context' },
    ],
  };
  const yaml = `# ${id}: written by hand
id: ${id}
description: "yes: a probe"
deadlineSeconds: 60
escalation:
  levels:
    - name: ops
      groups: [operations]
      slaSeconds: 60
steps:
  - id: look
    kind: context
  - id: route
    kind: branch
    cases:
      - when: input.amount > 10
        next: end
    default: look-again
  - {id: look-again, kind: context}
`;
  return { json, yaml };
}

describe('workflow definitions published as YAML as well as JSON', () => {
  let h: ServiceHarness;
  let reviewer: string;
  let agent: string;

  beforeAll(async () => {
    h = await ServiceHarness.start({ modules: [OrchestratorServiceModule], schemas: [SCHEMA] });
    reviewer = await h.apiKey('reviewer', { groups: ['operations'] });
    agent = await h.apiKey('agent', { agentId: 'support-assistant' });
  });
  afterAll(async () => {
    await h?.close();
  });

  it('the same definition as YAML or JSON is the same version with the same digest, in either order', async () => {
    const { json, yaml } = probe('yaml-first');
    const first = await h.http<Published>('POST', '/v1/workflows', { body: yaml, headers: YAML });
    expect(first).toMatchObject({ status: 201, body: { id: 'yaml-first', version: 1, created: true } });
    const again = await h.http<Published>('POST', '/v1/workflows', { body: json });
    expect(again).toMatchObject({ status: 200, body: { version: 1, created: false, digest: first.body.digest } });
    // Every YAML media type, with a charset, in another layout (flow style, other key order, an anchor): still the same.
    const reordered = `steps: [{kind: context, id: look}, {id: route, kind: branch, cases: [{next: end, when: "input.amount > 10"}], default: look-again}, {id: look-again, kind: context}]
escalation: {levels: &levels [{name: ops, groups: [operations], slaSeconds: 60}]}
deadlineSeconds: 0x3c
description: 'yes: a probe'
id: yaml-first
`;
    for (const type of ['application/yaml; charset=utf-8', 'application/x-yaml', 'text/yaml', 'Application/YAML']) {
      expect(await h.http('POST', '/v1/workflows', { body: reordered, headers: { 'content-type': type } })).toMatchObject({ status: 200, body: { version: 1, created: false, digest: first.body.digest } });
    }
    // A change is the next version, whichever form it comes in.
    expect(await h.http('POST', '/v1/workflows', { body: yaml.replace('deadlineSeconds: 60', 'deadlineSeconds: 120'), headers: YAML })).toMatchObject({ status: 201, body: { version: 2, created: true } });

    const { json: json2, yaml: yaml2 } = probe('json-first');
    const viaJson = await h.http<Published>('POST', '/v1/workflows', { body: json2 });
    expect(viaJson).toMatchObject({ status: 201, body: { version: 1 } });
    expect(await h.http('POST', '/v1/workflows', { body: yaml2, headers: YAML })).toMatchObject({ status: 200, body: { version: 1, created: false, digest: viaJson.body.digest } });
    const stored = await h.query<{ definition: unknown }>(`SELECT definition FROM "${SCHEMA}"."workflow_definitions" WHERE id = 'json-first'`);
    expect(stored).toEqual([{ definition: json2 }]);
  });

  it('YAML goes through the same validation as JSON: every problem by path', async () => {
    const { json, yaml } = probe('bad-cel');
    const broken = yaml.replace('when: input.amount > 10', 'when: "input.amount >"').replace('default: look-again', 'default: nowhere');
    const fromYaml = await h.http<Refusal>('POST', '/v1/workflows', { body: broken, headers: YAML });
    const fromJson = await h.http<Refusal>('POST', '/v1/workflows', { body: { ...json, steps: [json.steps[0], { ...json.steps[1], cases: [{ when: 'input.amount >', next: 'end' }], default: 'nowhere' }, json.steps[2]] } });
    expect(fromYaml.status).toBe(400);
    expect(fromYaml.body).toEqual(fromJson.body);
    expect(fromYaml.body.fields?.map((f) => f.field).sort()).toEqual(['/steps/1/cases/0/when', '/steps/1/default']);
    // What YAML 1.1 would have made a boolean stays a string, which the schema then checks as such.
    expect(await h.http<Refusal>('POST', '/v1/workflows', { body: yaml.replace('deadlineSeconds: 60', 'deadlineSeconds: yes'), headers: YAML })).toMatchObject({ status: 400, body: { code: 'invalid_workflow', fields: [{ field: '/deadlineSeconds' }] } });
    // A merge key is not expanded: it is an unknown field.
    expect(await h.http<Refusal>('POST', '/v1/workflows', { body: `${yaml}<<: {tier: assist}\n`, headers: YAML })).toMatchObject({ status: 400, body: { code: 'invalid_workflow', fields: [{ field: '/<<' }] } });
    // A scalar or a list is a document, not a definition.
    expect(await h.http('POST', '/v1/workflows', { body: '- a\n- b\n', headers: YAML })).toMatchObject({ status: 400, body: { code: 'invalid_workflow' } });
  });

  it.each([
    ['malformed syntax', 'id: x\nsteps:\n  - id: a\n kind: context\n', 4],
    ['a duplicate key', 'id: dup-flow\ndeadlineSeconds: 60\nid: other-flow\n', 3],
    ['a language tag', 'id: tagged\ndescription: !!js/function "function () { process.exit(1) }"\n', 2],
    ['a custom tag', 'id: tagged\ndescription: !foo bar\n', 2],
    ['a core tag', 'id: tagged\ndeadlineSeconds: !!int "60"\n', 2],
    ['two documents', 'id: one\n---\nid: two\n', 2],
    ['an alias bomb', ['a: &a ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]', ...'bcdefghi'.split('').map((n, i) => `${n}: &${n} [${Array(9).fill(`*${'abcdefghi'[i]}`).join(',')}]`)].join('\n'), 2],
    ['an alias of its own collection', 'id: &x [*x]\n', 1],
    ['a number JSON has not', 'id: x\ndeadlineSeconds: .inf\n', 2],
    ['deep nesting', `id: ${'['.repeat(5000)}`, 1],
  ])('refuses %s with 400 workflow_yaml_invalid and where it is', async (_what, body, line) => {
    const res = await h.http<Refusal>('POST', '/v1/workflows', { body, headers: YAML });
    expect(res).toMatchObject({ status: 400, body: { code: 'workflow_yaml_invalid', line, column: expect.any(Number), problems: expect.any(Array) } });
    expect(res.body.message).toContain(`line ${line}, column ${res.body.column}`);
  });

  it('refuses an empty YAML body, a body over the limit, and aliases that expand past it, never with a 500', async () => {
    expect(await h.http<Refusal>('POST', '/v1/workflows', { body: '', headers: YAML })).toMatchObject({ status: 400, body: { code: 'workflow_yaml_invalid' } });
    expect(await h.http<Refusal>('POST', '/v1/workflows', { body: '# nothing\n', headers: YAML })).toMatchObject({ status: 400, body: { code: 'workflow_yaml_invalid', line: 1 } });
    const oversized = `id: big\ndescription: "${'x'.repeat(300 * 1024)}"\n`;
    expect(await h.http<Refusal>('POST', '/v1/workflows', { body: oversized, headers: YAML })).toMatchObject({ status: 413, body: { code: 'request_too_large' } });
    // JSON over the same limit is refused with the same code, counted like every refusal.
    expect(await h.http<Refusal>('POST', '/v1/workflows', { body: { id: 'big', description: 'x'.repeat(300 * 1024) } })).toMatchObject({ status: 413, body: { code: 'request_too_large' } });
    // The JSON limit, not a YAML one: just under it is read (and then refused by the schema as too long a description).
    const under = `id: big\ndescription: "${'x'.repeat(255 * 1024)}"\n`;
    expect(await h.http<Refusal>('POST', '/v1/workflows', { body: under, headers: YAML })).toMatchObject({ status: 400, body: { code: 'invalid_workflow' } });
    const expanding = `id: big\nx: &x "${'x'.repeat(20 * 1024)}"\ny: [${Array(19).fill('*x').join(', ')}]\n`;
    expect(await h.http<Refusal>('POST', '/v1/workflows', { body: expanding, headers: YAML })).toMatchObject({ status: 413, body: { code: 'workflow_too_large' } });
    const refused = (await h.metrics.httpRefusals.get()).values.map((v) => v.labels['reason']);
    expect(refused).toEqual(expect.arrayContaining(['workflow_yaml_invalid', 'request_too_large', 'workflow_too_large']));
  });

  it('refuses other media types with 415, and YAML on every other route as before', async () => {
    const { yaml } = probe('media-probe');
    const plain = await h.http<Refusal>('POST', '/v1/workflows', { body: yaml, headers: { 'content-type': 'text/plain' } });
    expect(plain).toMatchObject({ status: 415, body: { code: 'unsupported_media_type', message: expect.stringContaining('application/yaml') } });
    expect(await h.http('POST', '/v1/workflows', { body: 'id=x', headers: { 'content-type': 'application/x-www-form-urlencoded' } })).toMatchObject({ status: 415, body: { code: 'unsupported_media_type' } });
    expect(await h.http('POST', '/v1/workflows', { body: yaml, headers: { 'content-type': 'application/yaml; charset=latin1' } })).toMatchObject({ status: 415, body: { code: 'unsupported_media_type' } });
    // YAML is taken on this route only: an intent, a cancellation or an API key as YAML is still 415.
    for (const path of ['/v1/intents', '/v1/runs/r-1/cancel', '/v1/api-keys', '/v1/workflows/media-probe']) {
      expect(await h.http<Refusal>('POST', path, { key: agent, body: 'task: t\n', headers: YAML })).toMatchObject({ status: 415, body: { code: 'unsupported_media_type', message: 'request bodies must be application/json, not "application/yaml"' } });
    }
    expect((await h.http('GET', '/v1/workflows/media-probe')).status).toBe(404);
  });

  it('publishing as YAML takes an operator: 401 without a credential, 403 for a reviewer or an agent, before any YAML is parsed', async () => {
    const { yaml } = probe('auth-probe');
    expect(await h.http('POST', '/v1/workflows', { key: null, body: yaml, headers: YAML })).toMatchObject({ status: 401, body: { code: 'credential_missing' } });
    expect(await h.http('POST', '/v1/workflows', { key: 'gm_nobodynobody_' + 'x'.repeat(43), body: yaml, headers: YAML })).toMatchObject({ status: 401 });
    expect(await h.http('POST', '/v1/workflows', { key: reviewer, body: yaml, headers: YAML })).toMatchObject({ status: 403, body: { code: 'role_forbidden' } });
    expect(await h.http('POST', '/v1/workflows', { key: agent, body: yaml, headers: YAML })).toMatchObject({ status: 403, body: { code: 'role_forbidden' } });
    // Malformed YAML from someone refused is refused for who they are, not parsed.
    expect((await h.http('POST', '/v1/workflows', { key: null, body: 'a: [', headers: YAML })).status).toBe(401);
    expect((await h.http('POST', '/v1/workflows', { key: agent, body: 'a: [', headers: YAML })).status).toBe(403);
    expect((await h.http('GET', '/v1/workflows/auth-probe')).status).toBe(404);
  });

  it('answers a version as YAML when asked, and that YAML publishes back as the same definition', async () => {
    const { json } = probe('round-trip');
    const published = await h.http<Published>('POST', '/v1/workflows', { body: json });
    expect(published.status).toBe(201);
    const get = (accept?: string, key = h.operatorKey) => fetch(`${baseUrl}/v1/workflows/round-trip/versions/1`, { headers: { authorization: `Bearer ${key}`, ...(accept ? { accept } : {}) } });
    const baseUrl = await h.baseUrl();

    const asYaml = await get('application/yaml');
    expect(asYaml.status).toBe(200);
    expect(asYaml.headers.get('content-type')).toBe('application/yaml; charset=utf-8');
    expect(asYaml.headers.get('vary')).toMatch(/accept/i);
    const text = await asYaml.text();
    expect(text).toContain(`# workflow round-trip version 1\n# digest ${published.body.digest}\n`);
    expect(text).toMatch(/^id: round-trip$/m);
    expect(text).not.toMatch(/^version:/m);
    expect(await h.http('POST', '/v1/workflows', { body: text, headers: YAML })).toMatchObject({ status: 200, body: { version: 1, created: false, digest: published.body.digest } });

    expect((await get('text/yaml')).headers.get('content-type')).toBe('text/yaml; charset=utf-8');
    expect((await get('application/x-yaml', reviewer)).headers.get('content-type')).toBe('application/x-yaml; charset=utf-8');
    // JSON otherwise: no accept, */*, JSON preferred, or something neither.
    for (const accept of [undefined, '*/*', 'application/json', 'application/yaml;q=0.5, application/json', 'text/html']) {
      const res = await get(accept);
      expect(res.headers.get('content-type')).toMatch(/^application\/json/);
      expect(await res.json()).toMatchObject({ id: 'round-trip', version: 1, digest: published.body.digest, definition: { ...json, version: 1 } });
    }
    // Refusals stay JSON, and a YAML answer is for the same roles.
    const missing = await fetch(`${baseUrl}/v1/workflows/round-trip/versions/9`, { headers: { authorization: `Bearer ${h.operatorKey}`, accept: 'application/yaml' } });
    expect(missing.status).toBe(404);
    expect(await missing.json()).toMatchObject({ code: 'workflow_not_found' });
    expect((await get('application/yaml', agent)).status).toBe(403);
  });

  it('documents both request media types and the YAML answer in the OpenAPI document', async () => {
    const doc = await h.http<{ paths: Record<string, Record<string, { requestBody?: { content: Record<string, { schema: { $id?: string } }> }; responses: Record<string, { content?: Record<string, unknown> }> }>> }>('GET', '/docs/openapi.json');
    const publish = doc.body.paths['/v1/workflows'].post;
    expect(Object.keys(publish.requestBody!.content).sort()).toEqual(['application/json', 'application/x-yaml', 'application/yaml', 'text/yaml']);
    expect(publish.requestBody!.content['application/yaml'].schema.$id).toBe(publish.requestBody!.content['application/json'].schema.$id);
    expect(Object.keys(publish.responses)).toEqual(expect.arrayContaining(['400', '401', '403', '413', '415']));
    expect(Object.keys(doc.body.paths['/v1/workflows/{id}/versions/{version}'].get.responses['200'].content ?? {})).toEqual(expect.arrayContaining(['application/json', 'application/yaml']));
    // Routes that take JSON only still say so.
    expect(Object.keys(doc.body.paths['/v1/approvals/{id}/decision'].post.requestBody!.content)).toEqual(['application/json']);
  });
});
