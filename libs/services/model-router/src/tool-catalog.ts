import { createHash } from 'node:crypto';
import Ajv, { type ErrorObject, type ValidateFunction } from 'ajv';
import type { EventTypes, GovmeshEvent, ModelCompletedV1, Reason } from '@govmesh/contracts';
import type { OfferedTool } from './builtin-provider';

/**
 * The model router's own view of the tool manifest, learned only from the tool gateway's
 * `govmesh.tool.registered.v1` events: which tools a model may be offered, and the input schema
 * each proposal is checked against before it leaves the router.
 */

/** The producer every tool registry event must come from: the tool gateway's outbox (`govmesh/<service>`). */
export const TOOL_MANIFEST_SOURCE = 'govmesh/tool-gateway';

/** A tool as one `govmesh.tool.registered.v1` event states it. */
export interface RouterToolChange {
  name: string;
  /** The manifest's semantic version. */
  version: string;
  description: string;
  inputSchema: Record<string, unknown>;
  sideEffect: string;
  status: 'active' | 'retired';
  /** The event's time (ISO 8601). */
  changedAt: string;
}

/** Why a tool registry event taught the router nothing. */
export type ToolEventRefusal = 'untrusted_source' | 'manifest_name_mismatch';

/**
 * What the router keeps of a tool registry event, or why it keeps nothing: an event that does not
 * come from the tool gateway (anything can be put on an internal topic by mistake or on purpose),
 * or whose manifest describes another tool than the one it names.
 */
export function toolChangeOf(event: GovmeshEvent<typeof EventTypes.ToolRegistered>): { change: RouterToolChange } | { refused: ToolEventRefusal } {
  if (event.source !== TOOL_MANIFEST_SOURCE) return { refused: 'untrusted_source' };
  const { manifest } = event.data;
  if (manifest.name !== event.data.name) return { refused: 'manifest_name_mismatch' };
  return {
    change: {
      name: event.data.name,
      version: manifest.version,
      description: manifest.description,
      inputSchema: manifest.inputSchema,
      sideEffect: manifest.sideEffect,
      status: event.data.status === 'retired' || event.data.change === 'retired' ? 'retired' : 'active',
      changedAt: new Date(event.time).toISOString(),
    },
  };
}

/** An active tool of the router's table. */
export interface CatalogTool {
  name: string;
  version: string;
  description: string;
  inputSchema: Record<string, unknown>;
}

/** Why a tool-call proposal is not passed on (the metric's `reason` label: a closed set). */
export type ProposalRefusalCode = 'tool_not_in_catalog' | 'tool_retired' | 'tool_schema_unusable' | 'tool_arguments_invalid';

export interface ProposalRefusal {
  code: ProposalRefusalCode;
  /** For the event and the orchestrator: may name the schema's expectations, never an argument's value. */
  message: string;
  /** For the log: the JSON pointers of the arguments that failed, with the keyword (no values, no property names the model made up). */
  paths: string[];
}

/** A proposed tool name as it may be quoted: the model chose it, so it is cut short and quoted. */
export const quotedTool = (name: string): string => JSON.stringify(name.slice(0, 128));

function describeErrors(errors: readonly ErrorObject[]): string {
  return errors
    .map((e) => `${e.instancePath || '/'} ${e.message ?? 'is invalid'}${'additionalProperty' in e.params ? ` (${String(e.params['additionalProperty'])})` : ''}`)
    .join('; ');
}

/**
 * The input schemas of the tools, compiled once per tool version (and schema) with the gateway's
 * settings (ajv strict, all errors), so a schema the gateway accepted compiles here too.
 */
export class ToolSchemas {
  private readonly ajv = new Ajv({ allErrors: true, strict: true, addUsedSchema: false });
  private readonly compiled = new Map<string, { schema: string; validate: ValidateFunction | null; problem?: string }>();

  /** The validator of a tool version, or null with why its schema cannot be used. */
  validator(tool: CatalogTool): { validate: ValidateFunction } | { problem: string } {
    const key = `${tool.name}@${tool.version}`;
    const schema = JSON.stringify(tool.inputSchema);
    let entry = this.compiled.get(key);
    if (!entry || entry.schema !== schema) {
      try {
        entry = { schema, validate: this.ajv.compile(tool.inputSchema) };
      } catch (err) {
        entry = { schema, validate: null, problem: (err as Error).message.slice(0, 300) };
      }
      this.compiled.set(key, entry);
    }
    return entry.validate ? { validate: entry.validate } : { problem: entry.problem ?? 'does not compile' };
  }
}

/**
 * The catalog one batch of model requests is served from: the active tools whose input schema
 * compiles (those are offered, by name), and the check every tool-call proposal passes.
 */
export class ToolOffer {
  readonly offered: OfferedTool[];
  /** A short digest of the offered tools and their versions: which catalog a call saw. */
  readonly digest: string;
  /** Active tools whose input schema does not compile: left out of the offer, and a proposal of one is refused. */
  readonly unusable: Array<{ name: string; version: string; problem: string }> = [];
  private readonly byName: Map<string, CatalogTool>;

  constructor(
    active: readonly CatalogTool[],
    private readonly schemas: ToolSchemas,
  ) {
    const usable = [...active].sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0)).filter((t) => {
      const v = schemas.validator(t);
      if ('problem' in v) this.unusable.push({ name: t.name, version: t.version, problem: v.problem });
      return !('problem' in v);
    });
    this.byName = new Map(active.map((t) => [t.name, t]));
    this.offered = usable.map((t) => ({ name: t.name, description: t.description, inputSchema: t.inputSchema }));
    this.digest = createHash('sha256')
      .update(usable.map((t) => `${t.name}@${t.version}`).join('\n'))
      .digest('hex')
      .slice(0, 16);
  }

  /** Whether the catalog has this tool active (offered or not). */
  knows(name: string): boolean {
    return this.byName.has(name);
  }

  /**
   * Null when the proposal may be passed on (no action, or a call of an active tool with
   * arguments its input schema accepts); otherwise why not. `retired` tells a tool the catalog
   * retired from one it never had.
   */
  check(proposal: ModelCompletedV1['proposal'], retired: (name: string) => boolean): ProposalRefusal | null {
    if (proposal.kind !== 'tool_call') return null;
    const tool = this.byName.get(proposal.tool);
    if (!tool) {
      return retired(proposal.tool)
        ? { code: 'tool_retired', message: `the model proposed tool ${quotedTool(proposal.tool)}, which the tool manifest retired`, paths: [] }
        : { code: 'tool_not_in_catalog', message: `the model proposed tool ${quotedTool(proposal.tool)}, which is not in the tool catalog`, paths: [] };
    }
    const v = this.schemas.validator(tool);
    if ('problem' in v) {
      return { code: 'tool_schema_unusable', message: `the input schema of ${tool.name} ${tool.version} cannot be used to check the proposal: ${v.problem}`, paths: [] };
    }
    if (v.validate(proposal.arguments)) return null;
    const errors = v.validate.errors ?? [];
    return {
      code: 'tool_arguments_invalid',
      message: `the model proposed ${tool.name} ${tool.version} with arguments that do not match its input schema: ${describeErrors(errors)}`.slice(0, 2000),
      paths: [...new Set(errors.map((e) => `${e.instancePath || '/'} ${e.keyword}`))],
    };
  }
}

/** What the router answers instead of a refused proposal: no action, no confidence, and why. */
export function refusedAnswer(refusal: ProposalRefusal): { proposal: ModelCompletedV1['proposal']; confidence: number; reasons: Reason[] } {
  return {
    proposal: { kind: 'no_action', rationale: `the router refused the model's proposal: ${refusal.message}`.slice(0, 2000) },
    confidence: 0,
    reasons: [{ code: refusal.code, message: refusal.message }],
  };
}
