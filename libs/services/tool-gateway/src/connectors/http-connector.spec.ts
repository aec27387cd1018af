import { once } from 'node:events';
import * as http from 'node:http';
import type { AddressInfo } from 'node:net';
import { HttpConnector, type HttpConnectorOptions, type ResolvedAddress } from './http-connector';
import type { EgressRule } from './egress-policy';
import type { ToolResult } from '../tool-definition';

const SECRET = 'sk-live-SECRET-4242';
const QUERY_SECRET = 'q-SECRET-9999';

interface Seen {
  method: string;
  url: string;
  headers: http.IncomingHttpHeaders;
}

/** A real HTTP server on 127.0.0.1 that records every connection and request it gets. */
class TestServer {
  readonly seen: Seen[] = [];
  connections = 0;
  handler: (req: http.IncomingMessage, res: http.ServerResponse) => void = (_req, res) => json(res, 200, { ok: true });
  private readonly server = http.createServer((req, res) => {
    this.seen.push({ method: req.method ?? '', url: req.url ?? '', headers: req.headers });
    this.handler(req, res);
  });

  constructor() {
    this.server.on('connection', () => this.connections++);
  }

  async start(): Promise<void> {
    this.server.listen(0, '127.0.0.1');
    await once(this.server, 'listening');
  }

  get port(): number {
    return (this.server.address() as AddressInfo).port;
  }

  reset(): void {
    this.seen.length = 0;
    this.connections = 0;
    this.handler = (_req, res) => json(res, 200, { ok: true });
  }

  async stop(): Promise<void> {
    this.server.closeAllConnections();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }
}

function json(res: http.ServerResponse, status: number, body: unknown, headers: Record<string, string> = {}): void {
  const text = JSON.stringify(body);
  res.writeHead(status, { 'content-type': 'application/json', 'content-length': String(Buffer.byteLength(text)), ...headers });
  res.end(text);
}

const one = new TestServer();
const two = new TestServer();

beforeAll(async () => {
  await one.start();
  await two.start();
});
afterAll(async () => {
  await one.stop();
  await two.stop();
});
beforeEach(() => {
  one.reset();
  two.reset();
});

function local(server: TestServer, extra: Partial<EgressRule> = {}): EgressRule {
  return { host: '127.0.0.1', port: server.port, scheme: 'http', paths: ['/v1/'], allowPrivateNetwork: true, ...extra };
}

function connector(allow: EgressRule[], extra: Partial<HttpConnectorOptions> = {}): HttpConnector {
  return new HttpConnector({
    connectionId: 'conn-test',
    egress: { allow },
    authorize: (headers) => headers.set('authorization', `Bearer ${SECRET}`),
    ...extra,
  });
}

/** A resolver for made-up names; counts its calls. */
function fakeDns(answers: Record<string, string[]>) {
  const calls: string[] = [];
  const resolve = async (host: string): Promise<ResolvedAddress[]> => {
    calls.push(host);
    const list = answers[host];
    if (!list) throw Object.assign(new Error(`no ${host}`), { code: 'ENOTFOUND' });
    return list.map((address) => ({ address, family: address.includes(':') ? 6 : 4 }));
  };
  return { resolve, calls };
}

function expectNoSecrets(result: ToolResult): void {
  const text = JSON.stringify(result);
  expect(text).not.toContain(SECRET);
  expect(text).not.toContain(QUERY_SECRET);
}

describe('HttpConnector: allowed calls', () => {
  it('makes an allowed call, adds the credentials through authorize, and answers the JSON body', async () => {
    one.handler = (req, res) => json(res, 200, { invoice: 'inv-1', method: req.method });
    const result = await connector([local(one)]).call({ method: 'GET', url: `http://127.0.0.1:${one.port}/v1/invoices/inv-1?api_key=${QUERY_SECRET}` });

    expect(result).toEqual({
      status: 'succeeded',
      output: { httpStatus: 200, body: { invoice: 'inv-1', method: 'GET' } },
      reasons: [{ code: 'http_call_completed', message: `connection conn-test: GET http://127.0.0.1:${one.port}/v1/invoices/inv-1?api_key=redacted answered 200` }],
    });
    expect(one.seen).toHaveLength(1);
    expect(one.seen[0].headers['authorization']).toBe(`Bearer ${SECRET}`);
    expect(one.seen[0].url).toBe(`/v1/invoices/inv-1?api_key=${QUERY_SECRET}`);
    expectNoSecrets(result);
  });

  it('sends a JSON body with its length, and the operation headers, but never a Host the caller or authorize chose', async () => {
    let received = '';
    one.handler = (req, res) => {
      req.setEncoding('utf8');
      req.on('data', (c: string) => (received += c));
      req.on('end', () => json(res, 201, { created: true }));
    };
    const c = connector([local(one)], {
      authorize: (headers) => {
        headers.set('authorization', `Bearer ${SECRET}`);
        headers.set('host', 'evil.example');
      },
    });
    const result = await c.call({ method: 'POST', url: `http://127.0.0.1:${one.port}/v1/invoices`, json: { amount: 5 }, headers: { 'idempotency-key': 'k-1', Host: 'evil.example' } });

    expect(result.status).toBe('succeeded');
    expect(result.output).toEqual({ httpStatus: 201, body: { created: true } });
    expect(JSON.parse(received)).toEqual({ amount: 5 });
    expect(one.seen[0].headers).toMatchObject({ 'content-type': 'application/json', 'content-length': '12', 'idempotency-key': 'k-1', host: `127.0.0.1:${one.port}` });
  });

  it('answers a null body for 204 No Content', async () => {
    one.handler = (_req, res) => {
      res.writeHead(204);
      res.end();
    };
    const result = await connector([local(one)]).call({ method: 'DELETE', url: `http://127.0.0.1:${one.port}/v1/invoices/inv-1` });
    expect(result.status).toBe('succeeded');
    expect(result.output).toEqual({ httpStatus: 204, body: null });
  });
});

describe('HttpConnector: answers that echo the credentials', () => {
  it('scrubs the credentials it sent from the answer, in values and keys, for bearer and basic', async () => {
    one.handler = (req, res) => json(res, 200, { invoice: 'inv-1', echo: { authorization: req.headers['authorization'], [`key ${SECRET}`]: [`the key is ${SECRET}.`] } });
    const basic = `Basic ${Buffer.from(`svc-user:${SECRET}`, 'utf8').toString('base64')}`;
    for (const header of [`Bearer ${SECRET}`, basic]) {
      const result = await connector([local(one)], { authorize: (headers) => headers.set('authorization', header) }).call({ method: 'GET', url: `http://127.0.0.1:${one.port}/v1/invoices/inv-1` });
      expect(one.seen.at(-1)!.headers['authorization']).toBe(header);
      expect(result.output).toEqual({ httpStatus: 200, body: { invoice: 'inv-1', echo: { authorization: '[redacted]', 'key [redacted]': ['the key is [redacted].'] } } });
      expectNoSecrets(result);
      expect(JSON.stringify(result)).not.toContain(basic.slice('Basic '.length));
    }
  });
});

describe('HttpConnector: egress refused before any connection', () => {
  it.each([
    ['a host not on the list', (p: number) => `http://localhost:${p}/v1/x`, 'egress_host_not_allowed'],
    ['a port not on the list', (p: number) => `http://127.0.0.1:${p + 1}/v1/x`, 'egress_host_not_allowed'],
    ['a path not on the list', (p: number) => `http://127.0.0.1:${p}/admin/users`, 'egress_path_not_allowed'],
    ['a traversal out of the allowed path', (p: number) => `http://127.0.0.1:${p}/v1/../admin`, 'egress_path_not_allowed'],
  ])('refuses %s', async (_what, url, code) => {
    const authorize = jest.fn();
    const result = await connector([local(one)], { authorize }).call({ method: 'GET', url: url(one.port) });
    expect(result).toEqual({ status: 'rejected', reasons: [expect.objectContaining({ code })] });
    expect(result.retryable).toBeUndefined();
    expect(one.connections).toBe(0);
    expect(authorize).not.toHaveBeenCalled();
  });

  it('refuses plain http unless the entry names it', async () => {
    const result = await connector([local(one, { scheme: undefined })]).call({ method: 'GET', url: `http://127.0.0.1:${one.port}/v1/x` });
    expect(result.status).toBe('rejected');
    expect(result.reasons[0].code).toBe('egress_scheme_not_allowed');
    expect(one.connections).toBe(0);
  });

  it('refuses a method the entry does not list', async () => {
    const result = await connector([local(one, { methods: ['GET'] })]).call({ method: 'DELETE', url: `http://127.0.0.1:${one.port}/v1/x` });
    expect(result.reasons[0].code).toBe('egress_method_not_allowed');
    expect(one.connections).toBe(0);
  });

  it('refuses a loopback IP literal unless the entry allows private networks', async () => {
    const result = await connector([local(one, { allowPrivateNetwork: false })]).call({ method: 'GET', url: `http://127.0.0.1:${one.port}/v1/x` });
    expect(result).toEqual({ status: 'rejected', reasons: [expect.objectContaining({ code: 'egress_address_not_allowed' })] });
    expect(result.reasons[0].message).toContain('is a loopback address');
    expect(one.connections).toBe(0);
  });
});

describe('HttpConnector: DNS answers', () => {
  it.each([
    ['a private address', ['10.0.0.1']],
    ['the metadata service', ['169.254.169.254']],
    ['an IPv4-mapped loopback', ['::ffff:127.0.0.1']],
    ['a public and a private address', ['93.184.216.34', '192.168.0.10']],
    ['a unique-local IPv6 address', ['fd00::1']],
  ])('refuses a public-looking name that resolves to %s', async (_what, addresses) => {
    const dns = fakeDns({ 'api.partner.example': addresses });
    const authorize = jest.fn();
    const c = connector([{ host: 'api.partner.example', paths: ['/v1/'] }], { resolve: dns.resolve, authorize });
    const result = await c.call({ method: 'GET', url: 'https://api.partner.example/v1/x' });
    expect(result).toEqual({ status: 'rejected', reasons: [expect.objectContaining({ code: 'egress_address_not_allowed' })] });
    expect(authorize).not.toHaveBeenCalled();
  });

  it('pins the connection to the address it checked: resolves once and connects there, with the name as Host', async () => {
    // The name exists nowhere: were the socket to resolve it again, the call would fail.
    const dns = fakeDns({ 'pinned.invalid': ['127.0.0.1'] });
    let answers = 0;
    const rebinding = async (host: string) => {
      answers++;
      return dns.resolve(host);
    };
    const c = connector([{ host: 'pinned.invalid', port: one.port, scheme: 'http', paths: ['/v1/'], allowPrivateNetwork: true }], { resolve: rebinding });
    const result = await c.call({ method: 'GET', url: `http://pinned.invalid:${one.port}/v1/x` });

    expect(result.status).toBe('succeeded');
    expect(answers).toBe(1);
    expect(dns.calls).toEqual(['pinned.invalid']);
    expect(one.seen).toHaveLength(1);
    expect(one.seen[0].headers.host).toBe(`pinned.invalid:${one.port}`);
  });

  it('answers a name that does not resolve as a failure that is not retried', async () => {
    const dns = fakeDns({});
    const result = await connector([{ host: 'nowhere.invalid', paths: ['/'] }], { resolve: dns.resolve }).call({ method: 'GET', url: 'https://nowhere.invalid/' });
    expect(result).toEqual({ status: 'failed', retryable: false, reasons: [expect.objectContaining({ code: 'dns_resolution_failed' })] });
  });
});

describe('HttpConnector: redirects', () => {
  it('follows a redirect to an allowed path, sending the credentials again to the same origin', async () => {
    one.handler = (req, res) => {
      if (req.url === '/v1/old') {
        res.writeHead(302, { location: '/v1/new?token=abc' });
        res.end();
      } else json(res, 200, { at: req.url });
    };
    const result = await connector([local(one)]).call({ method: 'GET', url: `http://127.0.0.1:${one.port}/v1/old` });
    expect(result.status).toBe('succeeded');
    expect(result.output).toEqual({ httpStatus: 200, body: { at: '/v1/new?token=abc' } });
    expect(one.seen.map((s) => s.url)).toEqual(['/v1/old', '/v1/new?token=abc']);
    expect(one.seen[1].headers['authorization']).toBe(`Bearer ${SECRET}`);
  });

  it('refuses a redirect to a path off the list', async () => {
    one.handler = (_req, res) => {
      res.writeHead(301, { location: '/admin' });
      res.end();
    };
    const result = await connector([local(one)]).call({ method: 'GET', url: `http://127.0.0.1:${one.port}/v1/old` });
    expect(result.status).toBe('rejected');
    expect(result.reasons.map((r) => r.code)).toEqual(['egress_redirect_not_allowed', 'egress_path_not_allowed']);
    expect(one.seen).toHaveLength(1);
  });

  it('refuses a redirect to another host, which sees nothing', async () => {
    one.handler = (_req, res) => {
      res.writeHead(307, { location: `http://127.0.0.1:${two.port}/v1/x?secret=${QUERY_SECRET}` });
      res.end();
    };
    const result = await connector([local(one)]).call({ method: 'GET', url: `http://127.0.0.1:${one.port}/v1/x` });
    expect(result.status).toBe('rejected');
    expect(result.reasons.map((r) => r.code)).toEqual(['egress_redirect_not_allowed', 'egress_host_not_allowed']);
    expect(two.connections).toBe(0);
    expectNoSecrets(result);
  });

  it('refuses a redirect to an allowed name that resolves to a private address', async () => {
    const dns = fakeDns({ 'a.test': ['127.0.0.1'], 'b.test': ['169.254.169.254'] });
    one.handler = (_req, res) => {
      res.writeHead(302, { location: 'https://b.test/v1/x' });
      res.end();
    };
    const c = connector([{ host: 'a.test', port: one.port, scheme: 'http', paths: ['/v1/'], allowPrivateNetwork: true }, { host: 'b.test', paths: ['/v1/'] }], { resolve: dns.resolve });
    const result = await c.call({ method: 'GET', url: `http://a.test:${one.port}/v1/x` });
    expect(result.reasons.map((r) => r.code)).toEqual(['egress_redirect_not_allowed', 'egress_address_not_allowed']);
  });

  it('follows a redirect to another allowed host without its credentials', async () => {
    const dns = fakeDns({ 'a.test': ['127.0.0.1'], 'b.test': ['127.0.0.1'] });
    one.handler = (_req, res) => {
      res.writeHead(303, { location: `http://b.test:${two.port}/v1/result` });
      res.end();
    };
    const c = connector(
      [
        { host: 'a.test', port: one.port, scheme: 'http', paths: ['/v1/'], allowPrivateNetwork: true },
        { host: 'b.test', port: two.port, scheme: 'http', paths: ['/v1/'], allowPrivateNetwork: true },
      ],
      { resolve: dns.resolve },
    );
    const result = await c.call({ method: 'POST', url: `http://a.test:${one.port}/v1/jobs`, json: { a: 1 }, headers: { cookie: 'session=1' } });
    expect(result.status).toBe('succeeded');
    expect(one.seen[0].headers['authorization']).toBe(`Bearer ${SECRET}`);
    expect(two.seen).toHaveLength(1);
    expect(two.seen[0].method).toBe('GET');
    expect(two.seen[0].headers['authorization']).toBeUndefined();
    expect(two.seen[0].headers['cookie']).toBeUndefined();
    expect(two.seen[0].headers.host).toBe(`b.test:${two.port}`);
  });

  it('stops after three redirects', async () => {
    let n = 0;
    one.handler = (_req, res) => {
      res.writeHead(302, { location: `/v1/hop-${++n}` });
      res.end();
    };
    const result = await connector([local(one)]).call({ method: 'GET', url: `http://127.0.0.1:${one.port}/v1/start` });
    expect(result).toEqual({ status: 'failed', retryable: false, reasons: [expect.objectContaining({ code: 'too_many_redirects' })] });
    expect(one.seen).toHaveLength(4);
  });
});

describe('HttpConnector: limits and answers', () => {
  it('refuses a body over the limit it announces, without reading it', async () => {
    one.handler = (_req, res) => {
      res.writeHead(200, { 'content-type': 'application/json', 'content-length': String(2 * 1024 * 1024) });
      res.write('"');
    };
    const result = await connector([local(one)]).call({ method: 'GET', url: `http://127.0.0.1:${one.port}/v1/big` });
    expect(result).toEqual({ status: 'failed', retryable: false, reasons: [expect.objectContaining({ code: 'response_too_large' })] });
  });

  it('stops reading an endless body as soon as it goes over the limit', async () => {
    let closed: Promise<unknown> = Promise.resolve();
    one.handler = (_req, res) => {
      res.writeHead(200, { 'content-type': 'application/json' });
      closed = once(res, 'close');
      const chunk = Buffer.alloc(64 * 1024, 0x20);
      const pump = () => {
        while (!res.destroyed && res.write(chunk));
        if (!res.destroyed) res.once('drain', pump);
      };
      pump();
    };
    const result = await connector([local(one)]).call({ method: 'GET', url: `http://127.0.0.1:${one.port}/v1/stream` });
    expect(result).toEqual({ status: 'failed', retryable: false, reasons: [expect.objectContaining({ code: 'response_too_large' })] });
    await closed;
  });

  it('refuses a body that is not JSON', async () => {
    one.handler = (_req, res) => {
      res.writeHead(200, { 'content-type': 'text/html; charset=utf-8' });
      res.end(`<html>${SECRET}</html>`);
    };
    const result = await connector([local(one)]).call({ method: 'GET', url: `http://127.0.0.1:${one.port}/v1/page` });
    expect(result).toEqual({ status: 'failed', retryable: false, reasons: [expect.objectContaining({ code: 'response_not_json' })] });
    expect(result.reasons[0].message).toContain('(text/html)');
    expectNoSecrets(result);
  });

  it('answers a call with no answer in time as a retryable failure', async () => {
    one.handler = () => undefined; // never answers
    const result = await connector([local(one)], { timeoutMs: 100 }).call({ method: 'GET', url: `http://127.0.0.1:${one.port}/v1/slow` });
    expect(result).toEqual({ status: 'failed', retryable: true, reasons: [expect.objectContaining({ code: 'http_timeout' })] });
  });

  it('times out a body that trickles', async () => {
    one.handler = (_req, res) => {
      res.writeHead(200, { 'content-type': 'application/json' });
      res.write('{"a":');
    };
    const result = await connector([local(one)], { timeoutMs: 150 }).call({ method: 'GET', url: `http://127.0.0.1:${one.port}/v1/slow` });
    expect(result).toEqual({ status: 'failed', retryable: true, reasons: [expect.objectContaining({ code: 'http_timeout' })] });
  });

  it("stops when the caller's signal aborts", async () => {
    one.handler = () => undefined;
    const controller = new AbortController();
    setTimeout(() => controller.abort(), 50);
    const result = await connector([local(one)]).call({ method: 'GET', url: `http://127.0.0.1:${one.port}/v1/slow`, signal: controller.signal });
    expect(result).toEqual({ status: 'failed', retryable: true, reasons: [expect.objectContaining({ code: 'call_aborted' })] });
  });

  it('answers a refused connection as a retryable failure', async () => {
    const gone = new TestServer();
    await gone.start();
    const gonePort = gone.port;
    await gone.stop();
    const result = await connector([local(one, { port: gonePort })]).call({ method: 'GET', url: `http://127.0.0.1:${gonePort}/v1/x` });
    expect(result).toEqual({ status: 'failed', retryable: true, reasons: [expect.objectContaining({ code: 'upstream_unreachable' })] });
    expect(result.reasons[0].message).toContain('ECONNREFUSED');
  });

  it.each([
    [500, 'upstream_server_error', true],
    [503, 'upstream_server_error', true],
    [429, 'upstream_rate_limited', true],
    [404, 'upstream_client_error', false],
    [401, 'upstream_client_error', false],
  ])('answers %i as %s (retryable: %s), never echoing what the server sent back', async (status, code, retryable) => {
    one.handler = (req, res) => json(res, status, { echoed: req.headers['authorization'], url: req.url });
    const result = await connector([local(one)]).call({ method: 'GET', url: `http://127.0.0.1:${one.port}/v1/x?key=${QUERY_SECRET}` });
    expect(result).toEqual({ status: 'failed', retryable, output: { httpStatus: status }, reasons: [expect.objectContaining({ code })] });
    expect(result.reasons[0].message).toContain('?key=redacted');
    expectNoSecrets(result);
  });

  it('reports an authorize callback that throws without its message', async () => {
    const c = connector([local(one)], {
      authorize: () => {
        throw new Error(`vault said no for ${SECRET}`);
      },
    });
    const result = await c.call({ method: 'GET', url: `http://127.0.0.1:${one.port}/v1/x` });
    expect(result).toEqual({ status: 'failed', retryable: false, reasons: [expect.objectContaining({ code: 'authorization_failed' })] });
    expect(one.connections).toBe(0);
    expectNoSecrets(result);
  });

  it("names the code of an authorize error (a connection refusal), not its message", async () => {
    const c = connector([local(one)], {
      authorize: () => {
        throw Object.assign(new Error(`revoked; last secret ${SECRET}`), { code: 'connection_revoked' });
      },
    });
    const result = await c.call({ method: 'GET', url: `http://127.0.0.1:${one.port}/v1/x` });
    expect(result.reasons[0]).toEqual({ code: 'authorization_failed', message: 'connection conn-test: credentials could not be added (connection_revoked)' });
    expectNoSecrets(result);
  });

  it('refuses operation headers that are not valid HTTP headers', async () => {
    const result = await connector([local(one)]).call({ method: 'GET', url: `http://127.0.0.1:${one.port}/v1/x`, headers: { 'x-a': 'one\r\nx-injected: two' } });
    expect(result.reasons[0].code).toBe('request_invalid');
    expect(one.connections).toBe(0);
  });
});
