import { randomBytes, randomUUID } from 'node:crypto';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { issueGrant } from '@govmesh/action-grants';
import { EventTypes, type RecordClaim } from '@govmesh/contracts';
import { ServiceKeys } from '@govmesh/nest-runtime';
import { TOOL_GATEWAY_DATABASE, ToolGatewayServiceModule } from '@govmesh/service-tool-gateway';
import { VERIFIER_DATABASE, VerifierServiceModule } from '@govmesh/service-verifier';
import { ServiceHarness } from '@govmesh/testing';

const MASTER_KEY = { id: 'kid1', key: randomBytes(32) };
const TOOL = 'legal.answer_with_citation';
const AGENT = 'legal-assistant';
const DOCUMENT = 'doc-4001';
/** The clause version 2 of the Umbrella agreement says (version 1 said 60 days). */
const CLAUSE = 'at least 90 days before the end date';

/**
 * Citation checks end to end: a tool behind an HTTP connection answers a question with a citation
 * (document, version, quote, offset); the verifier confirms the quote by reading the cited
 * document version itself, through the gateway's `documents.read` run under the verifier's own
 * identity, never trusting the tool's answer.
 */
describe('citation checks: the quoted clause is read in the cited document version through the gateway', () => {
  let h: ServiceHarness;
  let server: Server;
  let operator: string;
  /** What the legal API answers, by question. */
  const answers = new Map<string, Record<string, unknown>>();
  let text2: string;

  beforeAll(async () => {
    server = createServer((req, res) => {
      let body = '';
      req.on('data', (chunk: Buffer) => (body += chunk.toString('utf8')));
      req.on('end', () => {
        const question = (JSON.parse(body || '{}') as { question?: string }).question ?? '';
        res.setHeader('content-type', 'application/json');
        res.end(JSON.stringify(answers.get(question) ?? { answer: 'no idea' }));
      });
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const port = (server.address() as AddressInfo).port;
    h = await ServiceHarness.start({
      modules: [ToolGatewayServiceModule, VerifierServiceModule],
      schemas: [TOOL_GATEWAY_DATABASE.schema, VERIFIER_DATABASE.schema],
      env: { GOVMESH_CONNECTION_KEYS: `${MASTER_KEY.id}:${MASTER_KEY.key.toString('base64')}` },
    });
    operator = await h.apiKey('operator');
    const connection = await h.http('POST', '/v1/connections', {
      key: operator,
      body: {
        id: 'legal-api',
        kind: 'http',
        endpoint: `http://127.0.0.1:${port}/legal`,
        auth: { method: 'bearer' },
        egress: { allow: [{ host: '127.0.0.1', port, scheme: 'http', paths: ['/legal/**'], allowPrivateNetwork: true }] },
        secret: `sk-${randomUUID()}`,
      },
    });
    expect(connection.status).toBe(201);
    const registered = await h.http('POST', '/v1/tools', { key: operator, body: manifest() });
    expect(registered).toMatchObject({ status: 201 });
    const granted = await h.http('POST', '/v1/tool-grants', { key: operator, body: { agentId: AGENT, tool: TOOL } });
    expect(granted.status).toBe(201);
    await h.query(`INSERT INTO "tool_gateway"."tool_grants" (id, agent_id, agent_version, tool, status, granted_by) VALUES ($1, $2, '*', 'documents.read', 'active', 'test')`, [randomUUID(), AGENT]);
    // The verifier learns the tool's checks from the gateway's registration event.
    await h.settle();
    [{ text: text2 }] = await h.query<{ text: string }>(`SELECT text FROM "sandbox"."document_versions" WHERE document_id = $1 AND version = 2`, [DOCUMENT]);
  });

  afterAll(async () => {
    await h?.close();
    await new Promise((resolve) => server?.close(resolve));
  });

  function manifest(over: Record<string, unknown> = {}, citation: Record<string, unknown> = {}) {
    return {
      name: TOOL,
      version: '1.0.0',
      description: 'Answer a question about a contract, citing the clause it rests on',
      inputSchema: { type: 'object', required: ['question'], additionalProperties: false, properties: { question: { type: 'string', minLength: 1, maxLength: 500 } } },
      outputSchema: {
        type: 'object',
        required: ['answer'],
        properties: { answer: { type: 'string' }, documentId: { type: 'string' }, version: { type: 'string' }, quote: { type: 'string' }, offset: { type: 'integer' } },
      },
      sideEffect: 'read',
      classification: 'internal',
      idempotent: true,
      operation: { connector: 'http', method: 'POST', path: '/answers', body: ['question'] },
      connection: 'legal-api',
      verification: [{ check: 'citation', tool: 'documents.read', document: 'output.documentId', version: 'output.version', quote: 'output.quote', offset: 'has(output.offset) ? output.offset : null', ...citation }],
      ...over,
    };
  }

  /** Where a quote starts in a text, in code points. */
  const offsetOf = (text: string, quote: string) => Array.from(text.slice(0, text.indexOf(quote))).length;

  interface Made {
    runId: string;
    claim: RecordClaim;
    executionId: string;
    arguments: Record<string, unknown>;
    output: Record<string, unknown>;
  }

  /** Calls a tool through the gateway, as the agent, under policy's grant for exactly this call. */
  async function act(tool: string, args: Record<string, unknown>): Promise<Made> {
    const runId = `r-${randomUUID()}`;
    const grant = issueGrant(h.app.get(ServiceKeys).signingKey('grant'), { agentId: AGENT, agentVersion: '1.0.0', tool, arguments: args, policyVersion: 'p1' }, { runId, stepId: 'answer' }, randomUUID(), new Date(), 30);
    await h.send(h.event(EventTypes.ToolRequested, { runId, stepId: 'answer', agentId: AGENT, agentVersion: '1.0.0', tool, arguments: args, grant, idempotencyKey: `${runId}:answer-1` }));
    const [executed] = h.emitted(EventTypes.ToolExecuted).filter((e) => e.data.runId === runId);
    expect({ tool, status: executed.data.status, reasons: executed.data.reasons }).toMatchObject({ tool, status: 'succeeded' });
    return { runId, claim: executed.data.claim!, executionId: executed.data.executionId, arguments: args, output: executed.data.output ?? {} };
  }

  /** Asks the verifier about the call, as the orchestrator does after it. */
  async function verify(tool: string, made: Made) {
    await h.send(h.event(EventTypes.VerificationRequested, { runId: made.runId, stepId: 'verify', claim: made.claim, tool, executionId: made.executionId, arguments: made.arguments, output: made.output }));
    const [completed] = h.emitted(EventTypes.VerificationCompleted).filter((e) => e.data.runId === made.runId);
    return completed.data;
  }

  /** The tool answers `question` with this citation; the verifier checks it. */
  async function cited(citation: Record<string, unknown>) {
    const question = `question ${randomUUID()}`;
    answers.set(question, { answer: 'Notice of non-renewal must be given 90 days ahead.', ...citation });
    const made = await act(TOOL, { question });
    return { made, verdict: await verify(TOOL, made) };
  }

  /** The reads the gateway ran for the verifier on a run: tool, arguments, status. */
  const verifierReads = (runId: string) =>
    h.query<{ tool: string; agent_id: string; arguments: unknown; status: string }>(`SELECT tool, agent_id, arguments, status FROM "tool_gateway"."executions" WHERE run_id = $1 AND agent_id = 'govmesh-verifier'`, [runId]);

  describe('registration', () => {
    it.each([
      ['a read tool that is not registered', { version: '1.0.1' }, { tool: 'documents.nowhere' }, '/verification/0/tool', 'names no active tool'],
      ['a tool that writes', { version: '1.0.1' }, { tool: 'invoices.approve_payment' }, '/verification/0/tool', 'read tools only'],
      ['a read tool that reads no document version', { version: '1.0.1' }, { tool: 'invoices.lookup' }, '/verification/0/tool', 'cannot read a cited document'],
      ['an expression that does not parse', { version: '1.0.1' }, { document: 'output.documentId +' }, '/verification/0/document', 'does not parse'],
      ['an expression naming the record, which is not read yet', { version: '1.0.1' }, { quote: 'record.text' }, '/verification/0/quote', 'Unknown variable: record'],
      ['an offset that is text', { version: '1.0.1' }, { offset: '"12"' }, '/verification/0/offset', 'is a string, not an int or a double or null'],
      ['a version that is a number', { version: '1.0.1' }, { version: '2' }, '/verification/0/version', 'is an int, not a string'],
    ])('refuses a citation check with %s', async (_what, over, citation, field, problem) => {
      const res = await h.http<{ code: string; fields: Array<{ field: string; problem: string }> }>('POST', '/v1/tools', { key: operator, body: manifest(over, citation) });
      expect(res.status).toBe(400);
      expect(res.body.code).toBe('invalid_tool');
      expect(res.body.fields[0]).toEqual({ field, problem: expect.stringContaining(problem) });
      expect(res.body.fields.map((f) => f.field).filter((f) => f !== field)).toEqual([]);
    });

    it('grants the document store to the verifier, which learns the check from the manifest', async () => {
      const grants = await h.http<{ items: Array<{ agentId: string; tool: string; status: string }> }>('GET', '/v1/tool-grants?agentId=govmesh-verifier&tool=documents.read', { key: operator });
      expect(grants.body.items).toEqual([expect.objectContaining({ agentId: 'govmesh-verifier', tool: 'documents.read', status: 'active' })]);
      const [spec] = await h.query<{ verification: unknown }>(`SELECT verification FROM "verifier"."tool_specs" WHERE name = $1`, [TOOL]);
      expect(spec.verification).toEqual(manifest().verification);
    });
  });

  describe('verification', () => {
    it('a correct citation is confirmed by reading the cited version through the gateway, as the verifier', async () => {
      const offset = offsetOf(text2, CLAUSE);
      const { made, verdict } = await cited({ documentId: DOCUMENT, version: '2', quote: CLAUSE, offset });
      expect(verdict).toMatchObject({ verdict: 'confirmed', reasons: [{ code: 'citation_check_passed', message: expect.stringContaining(`occurs in ${DOCUMENT} version 2 at code point ${offset}, as cited`) }] });
      expect(await verifierReads(made.runId)).toEqual([{ tool: 'documents.read', agent_id: 'govmesh-verifier', arguments: { documentId: DOCUMENT, version: '2' }, status: 'succeeded' }]);
      // the evidence: cited and observed, bounded; never the document
      expect(verdict.observed).toMatchObject({ cited: { documentId: DOCUMENT, version: '2', quote: CLAUSE, offset }, observed: { documentId: DOCUMENT, version: '2', atOffset: CLAUSE, foundAt: [offset] } });
      expect(JSON.stringify(verdict)).not.toContain('MASTER SERVICES AGREEMENT');
      const [stored] = await h.query<{ checks: unknown; observed: unknown }>(`SELECT checks, observed FROM "verifier"."verifications" WHERE run_id = $1`, [made.runId]);
      expect(JSON.stringify(stored)).not.toContain('MASTER SERVICES AGREEMENT');
    });

    it('a citation without an offset is confirmed wherever the quote is', async () => {
      const { verdict } = await cited({ documentId: DOCUMENT, version: '2', quote: 'The annual fee is EUR 52,000' });
      expect(verdict.verdict).toBe('confirmed');
    });

    it('the wrong version: the clause as it is in version 2, cited as version 1, is not found there', async () => {
      const { made, verdict } = await cited({ documentId: DOCUMENT, version: '1', quote: CLAUSE, offset: offsetOf(text2, CLAUSE) });
      expect(verdict).toMatchObject({ verdict: 'mismatch', reasons: [{ code: 'citation_not_found', message: expect.stringContaining(`does not occur in ${DOCUMENT} version 1`) }] });
      expect((await verifierReads(made.runId)).map((r) => r.arguments)).toEqual([{ documentId: DOCUMENT, version: '1' }]);
    });

    it('a version that is not a version (latest): the system answers version 2, a version mismatch', async () => {
      const { verdict } = await cited({ documentId: DOCUMENT, version: 'latest', quote: CLAUSE });
      expect(verdict).toMatchObject({ verdict: 'mismatch', reasons: [{ code: 'citation_version_mismatch', message: expect.stringContaining('cites doc-4001 version latest, but the system of record answered version "2"') }] });
      expect(verdict.observed).toMatchObject({ cited: { version: 'latest' }, observed: { version: '2' } });
    });

    it('a version the document does not have is not found', async () => {
      const { verdict } = await cited({ documentId: DOCUMENT, version: '7', quote: CLAUSE });
      expect(verdict).toMatchObject({ verdict: 'not_found', reasons: [{ code: 'citation_read_failed', message: expect.stringContaining('document_version_not_found') }] });
    });

    it('the wrong offset: the quote is there, but not where the tool says', async () => {
      const offset = offsetOf(text2, CLAUSE);
      const { verdict } = await cited({ documentId: DOCUMENT, version: '2', quote: CLAUSE, offset: offset + 7 });
      expect(verdict).toMatchObject({ verdict: 'mismatch', reasons: [{ code: 'citation_offset_mismatch', message: expect.stringContaining(`it occurs at ${offset}`) }] });
      expect(verdict.observed).toMatchObject({ cited: { offset: offset + 7 }, observed: { foundAt: [offset], atOffset: Array.from(text2).slice(offset + 7, offset + 7 + CLAUSE.length).join('') } });
    });

    it('an absent quote: a clause the document never had is not found', async () => {
      const { verdict } = await cited({ documentId: DOCUMENT, version: '2', quote: 'the Supplier may raise the fee at will', offset: 10 });
      expect(verdict).toMatchObject({ verdict: 'mismatch', reasons: [{ code: 'citation_not_found' }] });
    });

    it('an empty quote is refused without reading anything', async () => {
      const { made, verdict } = await cited({ documentId: DOCUMENT, version: '2', quote: '' });
      expect(verdict).toMatchObject({ verdict: 'unsupported', reasons: [{ code: 'citation_quote_empty' }] });
      expect(await verifierReads(made.runId)).toEqual([]);
    });

    it('documents.read answers a version and is itself verified by reading it back', async () => {
      const made = await act('documents.read', { documentId: DOCUMENT, version: 'latest' });
      expect(made.output).toMatchObject({ documentId: DOCUMENT, version: '2', latestVersion: '2', contractId: 'ctr-2001', text: text2, length: Array.from(text2).length });
      expect(made.claim).toMatchObject({ system: 'sandbox', entity: 'document_version', id: `${DOCUMENT}@2`, fields: { version: '2' } });
      const verdict = await verify('documents.read', made);
      expect(verdict).toMatchObject({ verdict: 'confirmed', reasons: [{ code: 'read_back_matches' }] });
      expect(await verifierReads(made.runId)).toEqual([expect.objectContaining({ arguments: { documentId: DOCUMENT, version: '2' }, status: 'succeeded' })]);
    });
  });
});
