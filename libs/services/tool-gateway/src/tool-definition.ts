import type { DataSource } from 'typeorm';
import type { RecordClaim, Reason, RetryPolicy, ToolManifest } from '@govmesh/contracts';

export interface ToolResult {
  /** `dry_run`: nothing was called; `output` is the would-have-done record. */
  status: 'succeeded' | 'failed' | 'rejected' | 'dry_run';
  output?: Record<string, unknown>;
  claim?: RecordClaim;
  reasons: Reason[];
  /** A failure that may succeed when tried again (the system was unavailable); never set on a success or a refusal. */
  retryable?: boolean;
}

/** One call of a tool, performed outside any database transaction. */
export interface ToolCall {
  runId: string;
  executionId: string;
  /** The system the tool acts on deduplicates by this key, so a repeated call acts once. */
  idempotencyKey: string;
  /** Aborted when the call runs out of time. */
  signal: AbortSignal;
  /** The sandbox system of record answers after this delay (rehearses slow systems). */
  latencyMs: number;
}

export interface ToolDefinition {
  name: string;
  description: string;
  /** As the manifest says: an `external_send` tool reaches outside the company; `destructive` cannot be undone. */
  sideEffect: 'read' | 'write' | 'destructive' | 'external_send';
  /** The outside system deduplicates calls by idempotency key: a call found in flight after a crash may be made again. */
  idempotent: boolean;
  inputSchema: Record<string, unknown>;
  /**
   * The schema a succeeded call's output must match (checked after the call): an answer that does
   * not is recorded as failed `output_invalid`, not passed on.
   */
  outputSchema?: Record<string, unknown>;
  /** The outside system (connection) the tool reaches: its circuit breaker. The tool's name when unset. */
  connection?: string;
  /** The tool's token bucket, shared by all agents; none when unset. */
  rateLimit?: { perMinute: number; burst: number };
  /** The call's own time limit; the gateway's default (GOVMESH_TOOL_TIMEOUT_MS) when unset. */
  timeoutMs?: number;
  /** Retries of retryable failures inside one call (idempotent tools only); none when unset. */
  retry?: RetryPolicy;
  /** The registered manifest the definition was built from (absent for code-only test tools). */
  manifest?: ToolManifest;
  /**
   * What a call with these arguments would send, without sending it or reading a secret: the
   * request (HTTP method and URL, body fields), the MCP tool, or the sandbox operation, and a
   * refusal the call would meet before leaving (a revoked connection, an egress outside the
   * allow-list). For dry runs. Absent: the record names the tool only.
   */
  preview?(args: Record<string, unknown>): Promise<Record<string, unknown>>;
  /** Credentials, when a tool has any, are injected here and never leave. */
  execute(systemOfRecord: DataSource, args: Record<string, unknown>, call: ToolCall): Promise<ToolResult>;
}

export function delay(ms: number, signal: AbortSignal): Promise<void> {
  if (ms <= 0) return Promise.resolve();
  return new Promise((resolve, reject) => {
    const timer = setTimeout(resolve, ms);
    signal.addEventListener('abort', () => {
      clearTimeout(timer);
      reject(new Error('aborted'));
    }, { once: true });
  });
}

