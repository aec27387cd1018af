import { lookup as dnsLookup } from 'node:dns/promises';
import * as http from 'node:http';
import * as https from 'node:https';
import { isIP, type LookupFunction } from 'node:net';
import type { Reason } from '@govmesh/contracts';
import { reason, type EgressTarget } from './egress-policy';
import { classifyAddress } from './ip-address';

export interface ResolvedAddress {
  address: string;
  family: 4 | 6;
}

/** Answers every address a host name resolves to. */
export type Resolver = (hostname: string) => Promise<ResolvedAddress[]>;

/** The system resolver: every answer (`dns.lookup` with `all: true`), in the order the system gives. */
export const systemResolve: Resolver = async (hostname) => {
  const answers = await dnsLookup(hostname, { all: true, verbatim: true });
  return answers.map((a) => ({ address: a.address, family: a.family === 6 ? 6 : 4 }));
};

/**
 * Where a connector may connect for an egress-checked target: every address its host resolves to
 * (or the IP literal) must be public, or private/loopback with the rule's `allowPrivateNetwork`;
 * the first is the one to connect to (see `pinnedLookup`). A name that does not resolve is
 * `unresolved` (retryable unless the name does not exist); an address outside the rules is `refused`.
 */
export async function resolveAndCheck(
  target: EgressTarget,
  allowPrivateNetwork: boolean,
  resolve: Resolver,
  connectionId: string,
): Promise<{ address: ResolvedAddress } | { refused: Reason } | { unresolved: Reason; retryable: boolean }> {
  let answers: ResolvedAddress[];
  if (target.ipLiteral) {
    answers = [{ address: target.host, family: isIP(target.host) === 6 ? 6 : 4 }];
  } else {
    try {
      answers = await resolve(target.host);
    } catch (error) {
      const code = errorCode(error);
      return { unresolved: reason('dns_resolution_failed', `connection ${connectionId}: ${target.host} could not be resolved (${code})`), retryable: code !== 'ENOTFOUND' && code !== 'ENODATA' };
    }
    if (answers.length === 0) return { unresolved: reason('dns_resolution_failed', `connection ${connectionId}: ${target.host} has no address`), retryable: true };
  }
  for (const answer of answers) {
    const category = classifyAddress(answer.address);
    if (category === 'invalid' || (category !== 'public' && !allowPrivateNetwork)) {
      return {
        refused: reason('egress_address_not_allowed', `connection ${connectionId}: ${target.host} ${target.ipLiteral ? 'is' : 'resolves to'} a ${category.replace('_', '-')} address, which this connection may not reach`),
      };
    }
  }
  const first = answers[0];
  return { address: { address: first.address, family: isIP(first.address) === 6 ? 6 : 4 } };
}

/** A `lookup` for node:net that answers the address already checked, whatever DNS says now. */
export function pinnedLookup(address: string, family: 4 | 6): LookupFunction {
  return ((_hostname: string, options: { all?: boolean }, callback: (...args: unknown[]) => void) => {
    if (options?.all) callback(null, [{ address, family }]);
    else callback(null, address, family);
  }) as unknown as LookupFunction;
}

/**
 * A request to the checked address only: no pooled socket (every request connects to the address
 * checked for it), the pinned address whatever DNS says now, and TLS certificates checked against
 * the host name, not the address.
 */
export function pinnedRequest(target: EgressTarget, pinned: ResolvedAddress, method: string, headers: Record<string, string>): http.ClientRequest {
  return (target.scheme === 'https' ? https : http).request({
    method,
    hostname: target.host,
    port: target.port,
    path: `${target.url.pathname}${target.url.search}`,
    headers,
    agent: false,
    lookup: pinnedLookup(pinned.address, pinned.family),
    ...(target.scheme === 'https' && !target.ipLiteral ? { servername: target.host } : {}),
  });
}

export function sameOrigin(a: EgressTarget, b: EgressTarget): boolean {
  return a.scheme === b.scheme && a.host === b.host && a.port === b.port;
}

/** An error's `code` when it is a plain identifier (never its message, which may carry anything). */
export function errorCode(error: unknown): string {
  const code = (error as { code?: unknown } | null)?.code;
  return typeof code === 'string' && /^[A-Za-z0-9_]{1,64}$/.test(code) ? code : 'unknown';
}
