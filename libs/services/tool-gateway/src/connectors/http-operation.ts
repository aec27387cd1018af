import type { Reason } from '@govmesh/contracts';
import { reason, SUPPORTED_METHODS } from './egress-policy';
import type { HttpRequest } from './http-connector';

/**
 * The HTTP operation a tool of a manifest performs on its connection (proposed manifest shape:
 * `{ name, description, sideEffect, idempotent, inputSchema, connection: '<connection id>', http: HttpOperation }`).
 */
export interface HttpOperation {
  method: (typeof SUPPORTED_METHODS)[number];
  /**
   * Appended to the connection's endpoint. `{name}` is replaced by that argument, percent-encoded as one
   * path segment (a `/` in it becomes `%2F`, which egress refuses; `.` and `..` are refused here).
   */
  path: string;
  /** Arguments sent as query parameters (left out when absent). */
  query?: string[];
  /** Arguments sent as the properties of a JSON body (left out when absent). */
  body?: string[];
  /** Literal headers of the operation; never credentials (they come from the connection). */
  headers?: Record<string, string>;
}

const PLACEHOLDER = /\{([A-Za-z_][A-Za-z0-9_]*)\}/g;

function scalar(value: unknown): string | undefined {
  if (typeof value === 'string') return value;
  if (typeof value === 'number' && Number.isFinite(value)) return String(value);
  if (typeof value === 'boolean') return String(value);
  return undefined;
}

/** Builds the request for one call of an operation; arguments are those the tool's schema already checked. */
export function buildHttpRequest(endpoint: string, operation: HttpOperation, args: Record<string, unknown>): { request: Omit<HttpRequest, 'signal'> } | { reason: Reason } {
  let missing: string | undefined;
  const path = operation.path.replace(PLACEHOLDER, (_m, name: string) => {
    const value = scalar(args[name]);
    if (value === undefined || value === '' || value === '.' || value === '..') {
      missing ??= name;
      return '';
    }
    return encodeURIComponent(value);
  });
  if (missing !== undefined) return { reason: reason('arguments_invalid', `argument ${missing} must be a non-empty string or number other than . and .. to fill the operation's path`) };

  let url: URL;
  try {
    url = new URL(`${endpoint.replace(/\/+$/, '')}${path.startsWith('/') ? path : `/${path}`}`);
  } catch {
    return { reason: reason('operation_invalid', "the connection's endpoint and the operation's path do not make a URL") };
  }
  for (const name of operation.query ?? []) {
    const value = args[name];
    if (value === undefined || value === null) continue;
    const text = scalar(value);
    if (text === undefined) return { reason: reason('arguments_invalid', `argument ${name} must be a string, number or boolean to be sent as a query parameter`) };
    url.searchParams.set(name, text);
  }
  let json: Record<string, unknown> | undefined;
  if (operation.body) {
    json = {};
    for (const name of operation.body) if (args[name] !== undefined) json[name] = args[name];
  }
  return { request: { method: operation.method, url: url.href, headers: operation.headers, ...(json ? { json } : {}) } };
}
