import { randomBytes } from 'node:crypto';
import { isValidSpanId, isValidTraceId } from '@opentelemetry/api';

/** W3C Trace Context: `00-<trace-id>-<parent-id>-<flags>`. */
const TRACEPARENT = /^00-([0-9a-f]{32})-([0-9a-f]{16})-([0-9a-f]{2})$/;

export interface TraceContext {
  traceId: string;
  spanId: string;
  flags: string;
}

export function parseTraceparent(header: string | undefined): TraceContext | undefined {
  const match = header ? TRACEPARENT.exec(header) : null;
  if (!match || !isValidTraceId(match[1]) || !isValidSpanId(match[2])) return undefined;
  return { traceId: match[1], spanId: match[2], flags: match[3] };
}

function formatTraceparent(ctx: TraceContext): string {
  return `00-${ctx.traceId}-${ctx.spanId}-${ctx.flags}`;
}

/** A child span of the incoming context, or a new trace when there is none. */
export function childTraceparent(parent: string | undefined): string {
  const ctx = parseTraceparent(parent);
  return formatTraceparent({
    traceId: ctx?.traceId ?? randomBytes(16).toString('hex'),
    spanId: randomBytes(8).toString('hex'),
    flags: ctx?.flags ?? '01',
  });
}
