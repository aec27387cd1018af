import { randomUUID } from 'node:crypto';
import Ajv, { type ValidateFunction } from 'ajv';
import type { Reason } from '@govmesh/contracts';
import { LOOKUP_ACCOUNT } from './sandbox-accounts';
import { SANDBOX_SYSTEM_TOOLS } from './sandbox-tools';
import type { ToolDefinition } from './tool-definition';

export * from './tool-definition';
export { DEMO_ACCOUNTS, LOOKUP_ACCOUNT } from './sandbox-accounts';
export { DEMO_CONTRACTS, DEMO_INVOICES, DEMO_TICKETS, SANDBOX_SYSTEM_TOOLS, seedSandboxSystems } from './sandbox-tools';

/** The built-in tools' code (the gateway registers their manifests at start; see registry/built-in-tools.ts). */
export const BUILT_IN_TOOLS: ToolDefinition[] = [LOOKUP_ACCOUNT, ...SANDBOX_SYSTEM_TOOLS];

export class ToolCatalog {
  private readonly ajv = new Ajv({ allErrors: true, strict: true });
  private tools = new Map<string, ToolDefinition>();
  private validators = new Map<string, ValidateFunction>();
  private outputValidators = new Map<string, ValidateFunction>();
  private readonly compiled = new Map<string, ValidateFunction>();

  constructor(tools: ToolDefinition[] = BUILT_IN_TOOLS) {
    this.replace(tools);
  }

  /** Swaps in a new set of tools at once (schemas compiled first: a schema that does not compile throws and changes nothing). */
  replace(tools: readonly ToolDefinition[]): void {
    const validators = new Map<string, ValidateFunction>();
    const outputValidators = new Map<string, ValidateFunction>();
    for (const t of tools) {
      validators.set(t.name, this.compile(t.inputSchema));
      if (t.outputSchema) outputValidators.set(t.name, this.compile(t.outputSchema));
    }
    this.tools = new Map(tools.map((t) => [t.name, t]));
    this.validators = validators;
    this.outputValidators = outputValidators;
  }

  /** Compiles a schema once per distinct schema (a manifest re-registered with the same schema reuses it). */
  private compile(schema: Record<string, unknown>): ValidateFunction {
    const key = JSON.stringify(schema);
    let validate = this.compiled.get(key);
    if (!validate) {
      validate = this.ajv.compile(schema);
      this.compiled.set(key, validate);
    }
    return validate;
  }

  all(): ToolDefinition[] {
    return [...this.tools.values()];
  }

  find(name: string): ToolDefinition | undefined {
    return this.tools.get(name);
  }

  /** Null when the arguments fit the tool's schema; otherwise a reason. */
  checkArguments(name: string, args: Record<string, unknown>): Reason | null {
    const validate = this.validators.get(name);
    if (!validate) return { code: 'tool_not_registered', message: `tool "${name}" is not in the catalog` };
    if (validate(args)) return null;
    return { code: 'arguments_invalid', message: `arguments for ${name} do not match its schema: ${schemaErrors(validate)}` };
  }

  /** Null when the tool has no output schema or the output fits it; otherwise a reason. */
  checkOutput(name: string, output: Record<string, unknown> | undefined): Reason | null {
    const validate = this.outputValidators.get(name);
    if (!validate || validate(output ?? {})) return null;
    return { code: 'output_invalid', message: `${name} answered output that does not match its schema: ${schemaErrors(validate)}`.slice(0, 2000) };
  }
}

function schemaErrors(validate: ValidateFunction): string {
  return (validate.errors ?? [])
    .map((e) => `${e.instancePath || '/'} ${e.message}${'additionalProperty' in e.params ? ` (${String(e.params['additionalProperty'])})` : ''}`)
    .join('; ');
}

export const newExecutionId = (): string => randomUUID();
