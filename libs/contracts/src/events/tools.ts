import { Type, type Static } from '@sinclair/typebox';
import { AutonomyTier, Classification, JsonObject, Reason } from './common';
import { Actor, ConnectionId } from './registry';

/**
 * A tool name: dotted lowercase segments, `<system>.<operation>` (e.g. `invoices.approve_payment`),
 * up to four segments. MCP tools are imported as `<connection>.<tool>` with the name made to fit.
 */
export const ToolName = Type.String({ pattern: '^[a-z][a-z0-9_]{0,47}(\\.[a-z][a-z0-9_-]{0,63}){1,3}$', maxLength: 128, description: 'dotted lowercase name, `<system>.<operation>`' });

/** What calling the tool does to the world: policy's tiers and checkpoints read it. */
export const ToolSideEffect = Type.Union([Type.Literal('read'), Type.Literal('write'), Type.Literal('destructive'), Type.Literal('external_send')]);
export type ToolSideEffect = Static<typeof ToolSideEffect>;

/** A semantic version, `major.minor.patch`. */
export const SemVer = Type.String({ pattern: '^(0|[1-9][0-9]{0,5})\\.(0|[1-9][0-9]{0,5})\\.(0|[1-9][0-9]{0,5})$', description: 'major.minor.patch' });

export const RetryPolicy = Type.Object(
  {
    /** Calls in all, the first included; 1: never retried. */
    maxAttempts: Type.Integer({ minimum: 1, maximum: 10 }),
    /** The wait before the second attempt, doubled each attempt (with jitter) up to maxBackoffMs. */
    backoffMs: Type.Integer({ minimum: 0, maximum: 60_000 }),
    maxBackoffMs: Type.Optional(Type.Integer({ minimum: 0, maximum: 300_000 })),
  },
  { additionalProperties: false },
);
export type RetryPolicy = Static<typeof RetryPolicy>;

/** A CEL expression over `arguments`, `output` and `claim` (and `record`, the read-back, in `expect`). */
const Cel = Type.String({ minLength: 1, maxLength: 2000 });

/**
 * One verification check, run by the verifier after a succeeded call, reading the system of
 * record through a read tool under its own identity (never trusting the tool's answer):
 * - `read_back`: call `tool` with `arguments` (CEL over the call) and compare the claimed fields
 *   (`fields`, or all the claim's fields) with what it reads.
 * - `state`: call `tool` with `arguments` and require `expect` (CEL over `record`, `arguments`,
 *   `output`, `claim`) to be true, e.g. `record.status == 'paid' && record.paymentCount == 1`.
 * - `citation`: the quoted text exists in the cited document version at the cited offset. The
 *   verifier evaluates `document`, `version` and `quote` (strings) and `offset` (optional; a
 *   non-negative integer, or null for none) over the call, calls `tool` — a read tool that answers
 *   one version of a document — with the arguments `{documentId: <document>, version: <version>}`,
 *   and requires its output to hold `text` (string, the document version's whole text) and
 *   `version` (string): it passes only when `version` equals the cited version and the quote
 *   occurs in `text` exactly (no normalisation of case, whitespace or Unicode) starting at
 *   `offset` (counted in Unicode code points from 0), or anywhere when no offset is cited. An
 *   empty quote is refused. When the output also holds `documentId`, it must be the cited one.
 * - `grant`: the execution ran under a valid grant for its digest.
 */
export const VerificationCheck = Type.Union([
  Type.Object(
    {
      check: Type.Literal('read_back'),
      tool: ToolName,
      arguments: Type.Record(Type.String({ pattern: '^[A-Za-z_][A-Za-z0-9_]{0,63}$' }), Cel, { maxProperties: 20 }),
      fields: Type.Optional(Type.Array(Type.String({ minLength: 1, maxLength: 64 }), { maxItems: 50 })),
    },
    { additionalProperties: false },
  ),
  Type.Object(
    {
      check: Type.Literal('state'),
      tool: ToolName,
      arguments: Type.Record(Type.String({ pattern: '^[A-Za-z_][A-Za-z0-9_]{0,63}$' }), Cel, { maxProperties: 20 }),
      expect: Cel,
      description: Type.Optional(Type.String({ maxLength: 500 })),
    },
    { additionalProperties: false },
  ),
  Type.Object({ check: Type.Literal('citation'), tool: ToolName, document: Cel, version: Cel, quote: Cel, offset: Type.Optional(Cel) }, { additionalProperties: false }),
  Type.Object({ check: Type.Literal('grant') }, { additionalProperties: false }),
]);
export type VerificationCheck = Static<typeof VerificationCheck>;

/** How the gateway reaches the tool's system: which connector, and what to ask it. */
export const ToolOperation = Type.Union([
  /** A sandbox system of record in the gateway's own schema (demo and tests): the built-in operation of that name. */
  Type.Object({ connector: Type.Literal('sandbox'), operation: Type.String({ pattern: '^[a-z][a-z0-9_.]{0,127}$' }) }, { additionalProperties: false }),
  /**
   * An HTTP API: the request built from the arguments and sent to the connection's endpoint.
   * `path` is appended to the endpoint; each `{argument}` in it is replaced by that argument,
   * percent-encoded as one path segment. `query` and `body` name the arguments sent as query
   * parameters and as the properties of a JSON body; `headers` are literal (never credentials:
   * those come from the connection).
   */
  Type.Object(
    {
      connector: Type.Literal('http'),
      method: Type.Union([Type.Literal('GET'), Type.Literal('POST'), Type.Literal('PUT'), Type.Literal('PATCH'), Type.Literal('DELETE')]),
      path: Type.String({ pattern: '^/[^\\s]*$', maxLength: 1024 }),
      query: Type.Optional(Type.Array(Type.String({ pattern: '^[A-Za-z_][A-Za-z0-9_]{0,63}$' }), { maxItems: 30 })),
      body: Type.Optional(Type.Array(Type.String({ pattern: '^[A-Za-z_][A-Za-z0-9_]{0,63}$' }), { maxItems: 100 })),
      headers: Type.Optional(Type.Record(Type.String({ pattern: '^[A-Za-z0-9-]{1,64}$' }), Type.String({ maxLength: 512 }), { maxProperties: 20 })),
    },
    { additionalProperties: false },
  ),
  /** A tool of an MCP server (the connection's), by its name there. */
  Type.Object({ connector: Type.Literal('mcp'), tool: Type.String({ minLength: 1, maxLength: 128 }) }, { additionalProperties: false }),
]);
export type ToolOperation = Static<typeof ToolOperation>;

/**
 * A tool as the tool manifest describes it: the one list policy, the gateway and
 * the verifier all learn tools from. Carries no secret: credentials belong to the connection.
 */
export const ToolManifest = Type.Object(
  {
    name: ToolName,
    version: SemVer,
    description: Type.String({ minLength: 1, maxLength: 2000 }),
    inputSchema: JsonObject,
    outputSchema: Type.Optional(JsonObject),
    sideEffect: ToolSideEffect,
    /** The most sensitive data the tool reads or returns; an agent needs this clearance. */
    classification: Classification,
    /** The highest autonomy tier that may call it without a human (policy takes the least of all tiers). */
    maxTier: Type.Optional(AutonomyTier),
    /** The system deduplicates calls by idempotency key (or the call is naturally idempotent): it may be retried. */
    idempotent: Type.Boolean(),
    operation: ToolOperation,
    /** The connection (credentials, egress allow-list, circuit breaker); required for http and mcp. */
    connection: Type.Optional(ConnectionId),
    /** The tool's token bucket, shared by every agent. */
    rateLimit: Type.Optional(Type.Object({ perMinute: Type.Integer({ minimum: 1, maximum: 1_000_000 }), burst: Type.Integer({ minimum: 1, maximum: 100_000 }) }, { additionalProperties: false })),
    timeoutMs: Type.Optional(Type.Integer({ minimum: 10, maximum: 600_000 })),
    retry: Type.Optional(RetryPolicy),
    /** Which argument names the resource the tool acts on, and its kind (policy looks up its classification and owner). */
    resource: Type.Optional(Type.Object({ argument: Type.String({ minLength: 1, maxLength: 64 }), kind: Type.String({ pattern: '^[a-z][a-z0-9_]{0,63}$' }) }, { additionalProperties: false })),
    /** Checks the verifier runs after a succeeded call; none: the claim is read back by the system's reader. */
    verification: Type.Optional(Type.Array(VerificationCheck, { maxItems: 10 })),
  },
  { additionalProperties: false },
);
export type ToolManifest = Static<typeof ToolManifest>;

/**
 * A tool was registered, changed (a new version) or retired. Keyed by the tool name. Policy and
 * the verifier learn tools from these events only.
 */
export const ToolRegisteredV1 = Type.Object(
  {
    name: ToolName,
    change: Type.Union([Type.Literal('registered'), Type.Literal('updated'), Type.Literal('retired'), Type.Literal('seeded')]),
    status: Type.Union([Type.Literal('active'), Type.Literal('retired')]),
    manifest: ToolManifest,
    previousVersion: Type.Optional(SemVer),
    reason: Type.Optional(Type.String({ maxLength: 2000 })),
    actor: Actor,
  },
  { additionalProperties: false },
);
export type ToolRegisteredV1 = Static<typeof ToolRegisteredV1>;

/** Constraints on the arguments of a granted tool: a JSON Schema the arguments must also match, and/or a CEL condition over `arguments`. */
export const ArgumentConstraints = Type.Object(
  {
    schema: Type.Optional(JsonObject),
    condition: Type.Optional(Cel),
  },
  { additionalProperties: false },
);
export type ArgumentConstraints = Static<typeof ArgumentConstraints>;

/**
 * A tool was granted to an agent version (or to all its versions), or the grant withdrawn. Keyed
 * by the agent id. Least privilege: nothing executes for an agent without one.
 */
export const ToolGrantChangedV1 = Type.Object(
  {
    grantId: Type.String({ format: 'uuid' }),
    agentId: Type.String({ pattern: '^[A-Za-z0-9][A-Za-z0-9._:-]{0,127}$' }),
    /** `*`: every version of the agent. */
    agentVersion: Type.String({ minLength: 1, maxLength: 64 }),
    tool: ToolName,
    change: Type.Union([Type.Literal('granted'), Type.Literal('withdrawn'), Type.Literal('seeded')]),
    constraints: Type.Optional(ArgumentConstraints),
    reason: Type.Optional(Type.String({ maxLength: 2000 })),
    actor: Actor,
  },
  { additionalProperties: false },
);
export type ToolGrantChangedV1 = Static<typeof ToolGrantChangedV1>;

/**
 * The verifier asks the gateway to call a read tool for one check of one verification, under the
 * verifier's own identity: signed with the verifier's Ed25519 key (the gateway holds its public
 * key), executed only for a `read` tool granted to the verifier. Keyed by the run id.
 */
export const VerificationReadRequestedV1 = Type.Object(
  {
    runId: Type.String({ pattern: '^[A-Za-z0-9][A-Za-z0-9._:-]{0,127}$' }),
    verificationId: Type.String({ format: 'uuid' }),
    /** Which check of the verification this read is for (its index in the spec). */
    check: Type.Integer({ minimum: 0, maximum: 9 }),
    tool: ToolName,
    arguments: JsonObject,
    requestedAt: Type.String({ format: 'date-time' }),
    keyId: Type.String({ pattern: '^[0-9a-f]{16}$' }),
    signature: Type.String({ pattern: '^[A-Za-z0-9_-]{86}$', description: 'Ed25519 over the canonical request (RFC 8785) without this field' }),
  },
  { additionalProperties: false },
);
export type VerificationReadRequestedV1 = Static<typeof VerificationReadRequestedV1>;

/**
 * The gateway's answer to a verification read: what the system of record holds, or why it could
 * not be read. Signed with the gateway's Ed25519 key (the verifier holds its public key): the
 * verifier takes no unsigned answer.
 */
export const VerificationReadCompletedV1 = Type.Object(
  {
    runId: Type.String({ pattern: '^[A-Za-z0-9][A-Za-z0-9._:-]{0,127}$' }),
    verificationId: Type.String({ format: 'uuid' }),
    check: Type.Integer({ minimum: 0, maximum: 9 }),
    tool: ToolName,
    executionId: Type.String({ minLength: 1, maxLength: 64 }),
    status: Type.Union([Type.Literal('succeeded'), Type.Literal('failed'), Type.Literal('rejected')]),
    output: Type.Optional(JsonObject),
    reasons: Type.Array(Reason, { maxItems: 20 }),
    keyId: Type.String({ pattern: '^[0-9a-f]{16}$' }),
    signature: Type.String({ pattern: '^[A-Za-z0-9_-]{86}$', description: "Ed25519 with the gateway's key over the canonical answer (RFC 8785) without this field" }),
  },
  { additionalProperties: false },
);
export type VerificationReadCompletedV1 = Static<typeof VerificationReadCompletedV1>;
