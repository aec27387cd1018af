import { isIP } from 'node:net';
import type { Reason } from '@govmesh/contracts';

/**
 * One allow-list entry of a connection. A request leaves the gateway only when some entry matches its
 * scheme, host, port, path and method.
 */
export interface EgressRule {
  /**
   * `api.example.com` (that host only), `*.example.com` (any subdomain of example.com at any depth, not
   * example.com itself), or an IP literal (`127.0.0.1`, `::1` or `[::1]`).
   */
  host: string;
  /** Defaults to the scheme's port (443 for https, 80 for http). */
  port?: number;
  /** Defaults to `https`; plain `http` must be named explicitly (local tests, a sidecar). */
  scheme?: 'https' | 'http';
  /**
   * At least one. `/v1/` (ends with a slash): that prefix; `/v1/status` (no slash, no star): exactly that
   * path; with stars, a glob where `*` is one non-empty path segment and `**` anything, slashes included
   * (`/v1/invoices/*`, `/v1/**`). The query string is not matched.
   */
  paths: string[];
  /** Upper-case HTTP methods; any method when left out. */
  methods?: string[];
  /**
   * Allows a host that resolves to (or is) a loopback, private, link-local or otherwise non-public
   * address. Off by default: without it such a DNS answer is refused.
   */
  allowPrivateNetwork?: boolean;
}

export interface EgressPolicy {
  allow: EgressRule[];
}

/** Methods a connector ever sends; CONNECT, TRACE and the rest are refused whatever the allow-list says. */
export const SUPPORTED_METHODS = ['GET', 'HEAD', 'POST', 'PUT', 'PATCH', 'DELETE', 'OPTIONS'] as const;

interface CompiledRule {
  host: { kind: 'exact'; value: string } | { kind: 'wildcard'; suffix: string };
  port: number | undefined;
  scheme: 'https' | 'http';
  paths: ((path: string) => boolean)[];
  methods: Set<string> | undefined;
  allowPrivateNetwork: boolean;
}

/** A request target after parsing: what is checked and what is connected to. */
export interface EgressTarget {
  url: URL;
  scheme: 'https' | 'http';
  /** Lower case, no trailing dot, IPv6 without brackets. */
  host: string;
  port: number;
  /** The host is an IP address written in the URL, not a name to resolve. */
  ipLiteral: boolean;
}

export type EgressDecision =
  | { allowed: true; target: EgressTarget; allowPrivateNetwork: boolean }
  | { allowed: false; reason: Reason };

const DEFAULT_PORT = { https: 443, http: 80 } as const;

export const MAX_REASON_MESSAGE = 500;

export function reason(code: string, message: string): Reason {
  return { code, message: message.length > MAX_REASON_MESSAGE ? `${message.slice(0, MAX_REASON_MESSAGE - 1)}…` : message };
}

/** A URL as it may appear in a reason or a log: no user info, no fragment, every query value replaced. */
export function redactUrl(url: URL | string): string {
  let parsed: URL;
  try {
    parsed = typeof url === 'string' ? new URL(url) : url;
  } catch {
    return '(unparsable URL)';
  }
  const keys = [...parsed.searchParams.keys()];
  const query = keys.length === 0 ? '' : `?${keys.map((k) => `${encodeURIComponent(k)}=redacted`).join('&')}`;
  return `${parsed.protocol}//${parsed.host}${parsed.pathname}${query}`;
}

function canonicalHost(host: string): string {
  const bare = host.startsWith('[') && host.endsWith(']') ? host.slice(1, -1) : host;
  const url = new URL(`http://${isIP(bare) === 6 ? `[${bare}]` : bare}/`);
  return stripHost(url.hostname);
}

function stripHost(hostname: string): string {
  const bare = hostname.startsWith('[') && hostname.endsWith(']') ? hostname.slice(1, -1) : hostname;
  return (bare.endsWith('.') ? bare.slice(0, -1) : bare).toLowerCase();
}

function compilePath(pattern: string): (path: string) => boolean {
  if (!pattern.startsWith('/')) throw new Error(`egress path pattern ${JSON.stringify(pattern)} must start with /`);
  if (!pattern.includes('*')) return pattern.endsWith('/') ? (p) => p.startsWith(pattern) : (p) => p === pattern;
  const source = pattern
    .split('**')
    .map((part) =>
      part
        .split('*')
        .map((literal) => literal.replace(/[.+?^${}()|[\]\\]/g, '\\$&'))
        .join('[^/]+'),
    )
    .join('.*');
  const regex = new RegExp(`^${source}$`);
  return (p) => regex.test(p);
}

function compileRule(rule: EgressRule): CompiledRule {
  const hostText = rule.host.trim();
  let host: CompiledRule['host'];
  if (hostText.startsWith('*.')) {
    const base = canonicalHost(hostText.slice(2));
    if (!base.includes('.') || base.includes('*') || isIP(base)) throw new Error(`egress host pattern ${JSON.stringify(rule.host)} is too broad or not a domain`);
    host = { kind: 'wildcard', suffix: `.${base}` };
  } else {
    if (hostText.includes('*') || hostText.includes('/') || hostText === '') throw new Error(`egress host pattern ${JSON.stringify(rule.host)} is not a host`);
    host = { kind: 'exact', value: canonicalHost(hostText) };
  }
  if (rule.port !== undefined && !(Number.isInteger(rule.port) && rule.port > 0 && rule.port < 65536)) throw new Error(`egress port ${rule.port} is not a port`);
  const scheme = rule.scheme ?? 'https';
  if (scheme !== 'https' && scheme !== 'http') throw new Error(`egress scheme ${JSON.stringify(scheme)} is not http or https`);
  if (!Array.isArray(rule.paths) || rule.paths.length === 0) throw new Error(`egress entry for ${rule.host} names no path`);
  const methods = rule.methods?.map((m) => m.toUpperCase());
  for (const m of methods ?? []) if (!(SUPPORTED_METHODS as readonly string[]).includes(m)) throw new Error(`egress method ${JSON.stringify(m)} is not supported`);
  return {
    host,
    port: rule.port,
    scheme,
    paths: rule.paths.map(compilePath),
    methods: methods ? new Set(methods) : undefined,
    allowPrivateNetwork: rule.allowPrivateNetwork === true,
  };
}

function hostMatches(rule: CompiledRule, host: string, ipLiteral: boolean): boolean {
  if (rule.host.kind === 'exact') return rule.host.value === host;
  return !ipLiteral && host.endsWith(rule.host.suffix) && host.length > rule.host.suffix.length;
}

/** A connection's egress allow-list, checked before every request and every redirect it follows. */
export class EgressAllowList {
  private readonly rules: CompiledRule[];

  /** Throws on an entry it cannot enforce (a bare `*`, a path without a leading slash, an unknown method). */
  constructor(policy: EgressPolicy) {
    this.rules = policy.allow.map(compileRule);
  }

  check(method: string, rawUrl: string | URL): EgressDecision {
    let url: URL;
    try {
      url = typeof rawUrl === 'string' ? new URL(rawUrl) : new URL(rawUrl.href);
    } catch {
      return { allowed: false, reason: reason('egress_url_invalid', 'the request URL cannot be parsed') };
    }
    const shown = redactUrl(url);
    if (url.protocol !== 'https:' && url.protocol !== 'http:') {
      return { allowed: false, reason: reason('egress_scheme_not_allowed', `scheme ${url.protocol} is never allowed (${shown})`) };
    }
    if (url.username !== '' || url.password !== '') {
      return { allowed: false, reason: reason('egress_url_invalid', `credentials in the URL are refused (${url.protocol}//${url.host}${url.pathname})`) };
    }
    const scheme = url.protocol === 'https:' ? 'https' : 'http';
    const host = stripHost(url.hostname);
    const ipLiteral = isIP(host) !== 0;
    const port = url.port === '' ? DEFAULT_PORT[scheme] : Number(url.port);
    const path = url.pathname;

    const byHost = this.rules.filter((r) => hostMatches(r, host, ipLiteral));
    if (byHost.length === 0) {
      return { allowed: false, reason: reason('egress_host_not_allowed', `host ${host} is not on this connection's allow-list (${shown})`) };
    }
    const byScheme = byHost.filter((r) => r.scheme === scheme);
    if (byScheme.length === 0) {
      return { allowed: false, reason: reason('egress_scheme_not_allowed', `${scheme} to ${host} is not allowed; the allow-list names ${byHost[0].scheme} (${shown})`) };
    }
    const byPort = byScheme.filter((r) => (r.port ?? DEFAULT_PORT[r.scheme]) === port);
    if (byPort.length === 0) {
      return { allowed: false, reason: reason('egress_host_not_allowed', `port ${port} of ${host} is not on this connection's allow-list (${shown})`) };
    }
    // An encoded slash or backslash could mean another path to the server than the one checked here
    // (dot segments, encoded or not, are already resolved by the URL parser).
    if (/%(2f|5c)/i.test(path)) {
      return { allowed: false, reason: reason('egress_path_not_allowed', `path ${path} has an encoded slash or backslash (${shown})`) };
    }
    const byPath = byPort.filter((r) => r.paths.some((matches) => matches(path)));
    if (byPath.length === 0) {
      return { allowed: false, reason: reason('egress_path_not_allowed', `path ${path} on ${host} is not on this connection's allow-list (${shown})`) };
    }
    const upper = method.toUpperCase();
    const byMethod = (SUPPORTED_METHODS as readonly string[]).includes(upper) ? byPath.filter((r) => !r.methods || r.methods.has(upper)) : [];
    if (byMethod.length === 0) {
      return { allowed: false, reason: reason('egress_method_not_allowed', `method ${upper} on ${host}${path} is not allowed (${shown})`) };
    }
    return {
      allowed: true,
      target: { url, scheme, host, port, ipLiteral },
      allowPrivateNetwork: byMethod.some((r) => r.allowPrivateNetwork),
    };
  }
}
