import type * as http from 'node:http';
import type { Reason } from '@govmesh/contracts';
import type { ToolResult } from '../tool-definition';
import { errorCode, pinnedRequest, resolveAndCheck, sameOrigin, systemResolve, type ResolvedAddress, type Resolver } from './address-pinning';
import { credentialWords, scrubJson } from './credential-scrub';
import { EgressAllowList, reason, redactUrl, type EgressPolicy, type EgressTarget } from './egress-policy';
import { abortable } from './abortable';

export type { ResolvedAddress, Resolver } from './address-pinning';

/**
 * Adds a connection's credentials to a request's headers, at execution only. The connector never reads,
 * logs or reports what it adds, and calls it only for the origin the call started at (never for a
 * redirect to another scheme, host or port).
 */
export type Authorize = (headers: Headers) => void | Promise<void>;

export interface HttpConnectorOptions {
  /** Named in reasons; never a secret. */
  connectionId: string;
  egress: EgressPolicy;
  authorize?: Authorize;
  /** Defaults to the system resolver (`dns.lookup` with `all: true`); injectable for tests. */
  resolve?: Resolver;
  /** Per call, DNS, redirects and reading the body included. Defaults to 10 s. */
  timeoutMs?: number;
  /** Defaults to 1 MiB. */
  maxResponseBytes?: number;
  /** 0 to 3; defaults to 3. */
  maxRedirects?: number;
}

export interface HttpRequest {
  method: string;
  url: string;
  /** Plain headers of the operation (content type, idempotency key…); credentials come from `authorize`. */
  headers?: Record<string, string>;
  /** Sent as JSON. */
  json?: unknown;
  /** Sent as `application/x-www-form-urlencoded` (when there is no `json`), e.g. an OAuth2 token request. */
  form?: Record<string, string>;
  /** The caller's deadline (the gateway's per-call signal). */
  signal?: AbortSignal;
}

export const DEFAULT_TIMEOUT_MS = 10_000;
export const DEFAULT_MAX_RESPONSE_BYTES = 1024 * 1024;
export const MAX_REDIRECTS = 3;

/** Set by the connector alone: a caller or an authorize callback cannot point the request elsewhere. */
const CONNECTOR_HEADERS = ['host', 'content-length', 'transfer-encoding', 'connection', 'keep-alive', 'upgrade', 'te', 'trailer', 'proxy-connection', 'expect'];
/** Never sent to an origin other than the one the call started at. */
const ORIGIN_BOUND_HEADERS = ['authorization', 'proxy-authorization', 'cookie'];
const REDIRECT_STATUSES = new Set([301, 302, 303, 307, 308]);

/** A result of one hop, before it is mapped to a ToolResult. */
type Hop =
  | { kind: 'response'; status: number; headers: http.IncomingHttpHeaders; response: http.IncomingMessage }
  | { kind: 'result'; result: ToolResult };

class CallAborted extends Error {}

function rejected(...reasons: Reason[]): ToolResult {
  return { status: 'rejected', reasons };
}

function failed(retryable: boolean, ...reasons: Reason[]): ToolResult {
  return { status: 'failed', reasons, retryable };
}


/**
 * A generic HTTP connector for one connection: every request and every redirect is checked against the
 * connection's egress allow-list, its host resolved and every answer checked, and the connection made to
 * the address checked. Responses are JSON, bounded in size and time.
 */
export class HttpConnector {
  private readonly allowList: EgressAllowList;
  private readonly resolve: Resolver;
  private readonly timeoutMs: number;
  private readonly maxResponseBytes: number;
  private readonly maxRedirects: number;

  constructor(private readonly options: HttpConnectorOptions) {
    this.allowList = new EgressAllowList(options.egress);
    this.resolve = options.resolve ?? systemResolve;
    this.timeoutMs = options.timeoutMs ?? DEFAULT_TIMEOUT_MS;
    this.maxResponseBytes = options.maxResponseBytes ?? DEFAULT_MAX_RESPONSE_BYTES;
    this.maxRedirects = Math.max(0, Math.min(MAX_REDIRECTS, options.maxRedirects ?? MAX_REDIRECTS));
  }

  async call(request: HttpRequest): Promise<ToolResult> {
    const controller = new AbortController();
    let timedOut = false;
    const timer = setTimeout(() => {
      timedOut = true;
      controller.abort();
    }, this.timeoutMs);
    const onCallerAbort = () => controller.abort();
    if (request.signal?.aborted) controller.abort();
    request.signal?.addEventListener('abort', onCallerAbort, { once: true });
    try {
      return await this.run(request, controller.signal);
    } catch (error) {
      if (controller.signal.aborted) {
        return timedOut
          ? failed(true, reason('http_timeout', `connection ${this.options.connectionId}: no complete answer within ${this.timeoutMs} ms`))
          : failed(true, reason('call_aborted', `connection ${this.options.connectionId}: the call was aborted before an answer`));
      }
      return failed(false, reason('connector_error', `connection ${this.options.connectionId}: the call failed unexpectedly (${errorCode(error)})`));
    } finally {
      clearTimeout(timer);
      request.signal?.removeEventListener('abort', onCallerAbort);
    }
  }

  private async run(request: HttpRequest, signal: AbortSignal): Promise<ToolResult> {
    const id = this.options.connectionId;
    let method = request.method.toUpperCase();
    let url: string | URL = request.url;
    let body = request.json !== undefined ? Buffer.from(JSON.stringify(request.json), 'utf8') : request.form ? Buffer.from(new URLSearchParams(request.form).toString(), 'utf8') : undefined;
    let origin: EgressTarget | undefined;
    /** What `authorize` added: scrubbed from the answer, which may echo it. */
    const credentials: string[] = [];

    for (let hop = 0; ; hop++) {
      const decision = this.allowList.check(method, url);
      if (!decision.allowed) {
        return hop === 0
          ? rejected(decision.reason)
          : rejected(reason('egress_redirect_not_allowed', `connection ${id}: a redirect left the allow-list`), decision.reason);
      }
      const target = decision.target;
      origin ??= target;

      const pinned = await this.checkAddress(target, decision.allowPrivateNetwork, signal);
      if ('result' in pinned) {
        if (hop === 0) return pinned.result;
        return pinned.result.status === 'rejected'
          ? rejected(reason('egress_redirect_not_allowed', `connection ${id}: a redirect left the allow-list`), ...pinned.result.reasons)
          : pinned.result;
      }

      const headers = await this.headersFor(request, body, sameOrigin(origin, target));
      if ('result' in headers) return headers.result;
      credentials.push(...headers.credentials);

      const hopResult = await this.send(target, pinned, method, headers.headers, body, signal);
      if (hopResult.kind === 'result') return hopResult.result;
      const { status, response } = hopResult;
      const location = hopResult.headers.location;

      if (REDIRECT_STATUSES.has(status) && typeof location === 'string' && location !== '') {
        response.destroy();
        if (hop >= this.maxRedirects) {
          return failed(false, reason('too_many_redirects', `connection ${id}: more than ${this.maxRedirects} redirects from ${redactUrl(target.url)}`));
        }
        try {
          url = new URL(location, target.url);
        } catch {
          return rejected(reason('egress_redirect_not_allowed', `connection ${id}: ${redactUrl(target.url)} redirected to an unparsable location`));
        }
        // As browsers do: 303, and 301/302 after a POST, become a GET without a body.
        if (status === 303 || ((status === 301 || status === 302) && method === 'POST')) {
          if (method !== 'HEAD') method = 'GET';
          body = undefined;
        }
        continue;
      }
      return this.finish(target, method, status, hopResult.headers, response, signal, credentials);
    }
  }

  /** Resolves the host (or takes the IP literal) and checks every answer; answers the address to connect to. */
  private async checkAddress(target: EgressTarget, allowPrivateNetwork: boolean, signal: AbortSignal): Promise<ResolvedAddress | { result: ToolResult }> {
    const checked = await abortable(resolveAndCheck(target, allowPrivateNetwork, this.resolve, this.options.connectionId), signal, () => new CallAborted());
    if ('refused' in checked) return { result: rejected(checked.refused) };
    if ('unresolved' in checked) return { result: failed(checked.retryable, checked.unresolved) };
    return checked.address;
  }

  private async headersFor(request: HttpRequest, body: Buffer | undefined, toOrigin: boolean): Promise<{ headers: Record<string, string>; credentials: string[] } | { result: ToolResult }> {
    const id = this.options.connectionId;
    let headers: Headers;
    try {
      headers = new Headers(request.headers ?? {});
    } catch {
      return { result: failed(false, reason('request_invalid', `connection ${id}: the operation's headers are not valid HTTP headers`)) };
    }
    const credentials: string[] = [];
    if (toOrigin && this.options.authorize) {
      const before = new Map(headers.entries());
      try {
        await this.options.authorize(headers);
        for (const [name, value] of headers.entries()) if (before.get(name) !== value) credentials.push(value);
      } catch (error) {
        // The error may carry a secret: only its code is reported.
        return { result: failed(false, reason('authorization_failed', `connection ${id}: credentials could not be added (${errorCode(error)})`)) };
      }
    }
    for (const name of CONNECTOR_HEADERS) headers.delete(name);
    if (!toOrigin) for (const name of ORIGIN_BOUND_HEADERS) headers.delete(name);
    if (body !== undefined) {
      if (!headers.has('content-type')) headers.set('content-type', request.json === undefined && request.form ? 'application/x-www-form-urlencoded' : 'application/json');
      headers.set('content-length', String(body.length));
    }
    if (!headers.has('accept')) headers.set('accept', 'application/json');
    // Bodies are read as sent: a compressed body would get round the size limit.
    headers.set('accept-encoding', 'identity');
    return { headers: Object.fromEntries(headers.entries()), credentials };
  }

  private send(target: EgressTarget, pinned: ResolvedAddress, method: string, headers: Record<string, string>, body: Buffer | undefined, signal: AbortSignal): Promise<Hop> {
    const id = this.options.connectionId;
    return new Promise<Hop>((resolve, reject) => {
      if (signal.aborted) return reject(new CallAborted());
      const req = pinnedRequest(target, pinned, method, headers);
      const onAbort = () => {
        req.destroy();
        reject(new CallAborted());
      };
      signal.addEventListener('abort', onAbort, { once: true });
      req.on('response', (response) => {
        signal.removeEventListener('abort', onAbort);
        resolve({ kind: 'response', status: response.statusCode ?? 0, headers: response.headers, response });
      });
      req.on('error', (error) => {
        signal.removeEventListener('abort', onAbort);
        if (signal.aborted) return reject(new CallAborted());
        const code = errorCode(error);
        const tls = /CERT|TLS|SSL|SELF_SIGNED|ALTNAME/.test(code);
        resolve({
          kind: 'result',
          result: tls
            ? failed(false, reason('upstream_tls_failed', `connection ${id}: TLS with ${target.host} failed (${code})`))
            : failed(true, reason('upstream_unreachable', `connection ${id}: ${target.host} port ${target.port} could not be reached (${code})`)),
        });
      });
      req.end(body);
    });
  }

  private async finish(target: EgressTarget, method: string, status: number, headers: http.IncomingHttpHeaders, response: http.IncomingMessage, signal: AbortSignal, credentials: readonly string[]): Promise<ToolResult> {
    const id = this.options.connectionId;
    const where = `${method} ${redactUrl(target.url)}`;
    if (status < 200 || status >= 300) {
      response.destroy();
      const output = { httpStatus: status };
      if (status === 429) return { ...failed(true, reason('upstream_rate_limited', `connection ${id}: ${where} answered 429`)), output };
      if (status === 408) return { ...failed(true, reason('upstream_timeout', `connection ${id}: ${where} answered 408`)), output };
      if (status >= 500) return { ...failed(true, reason('upstream_server_error', `connection ${id}: ${where} answered ${status}`)), output };
      if (status >= 400) return { ...failed(false, reason('upstream_client_error', `connection ${id}: ${where} answered ${status}`)), output };
      return { ...failed(false, reason('upstream_unexpected_status', `connection ${id}: ${where} answered ${status}`)), output };
    }
    const declared = Number(headers['content-length']);
    if (Number.isFinite(declared) && declared > this.maxResponseBytes) {
      response.destroy();
      return failed(false, reason('response_too_large', `connection ${id}: ${where} announced ${declared} bytes, over the limit of ${this.maxResponseBytes}`));
    }
    const read = await readBounded(response, this.maxResponseBytes, signal);
    if (read === 'too_large') {
      return failed(false, reason('response_too_large', `connection ${id}: ${where} sent more than the limit of ${this.maxResponseBytes} bytes`));
    }
    if (read === 'broken') {
      return failed(true, reason('upstream_unreachable', `connection ${id}: ${where} broke off its answer`));
    }
    let body: unknown = null;
    if (method !== 'HEAD' && status !== 204 && read.length > 0) {
      try {
        // An answer that echoes the credential sent does not carry it any further.
        body = scrubJson(JSON.parse(read.toString('utf8')) as unknown, credentialWords(credentials));
      } catch {
        const type = typeof headers['content-type'] === 'string' ? headers['content-type'].split(';')[0].trim().slice(0, 100) : 'no content type';
        return failed(false, reason('response_not_json', `connection ${id}: ${where} answered ${status} with a body that is not JSON (${type})`));
      }
    }
    return {
      status: 'succeeded',
      output: { httpStatus: status, body },
      reasons: [reason('http_call_completed', `connection ${id}: ${where} answered ${status}`)],
    };
  }
}

/** Reads a body up to `limit` bytes, stopping the transfer as soon as it goes over. */
function readBounded(response: http.IncomingMessage, limit: number, signal: AbortSignal): Promise<Buffer | 'too_large' | 'broken'> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    let settled = false;
    const settle = (fn: () => void) => {
      if (settled) return;
      settled = true;
      signal.removeEventListener('abort', onAbort);
      fn();
    };
    const onAbort = () =>
      settle(() => {
        response.destroy();
        reject(new CallAborted());
      });
    if (signal.aborted) return onAbort();
    signal.addEventListener('abort', onAbort, { once: true });
    response.on('data', (chunk: Buffer) => {
      size += chunk.length;
      if (size > limit) {
        settle(() => {
          response.destroy();
          chunks.length = 0;
          resolve('too_large');
        });
        return;
      }
      chunks.push(chunk);
    });
    response.on('end', () => settle(() => resolve(Buffer.concat(chunks))));
    response.on('error', () => settle(() => resolve('broken')));
    response.on('aborted', () => settle(() => resolve('broken')));
    response.on('close', () => settle(() => (response.complete ? resolve(Buffer.concat(chunks)) : resolve('broken'))));
  });
}
