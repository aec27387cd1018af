import type { Citation, ModelCompletedV1 } from '@govmesh/contracts';

/**
 * The built-in deterministic provider: no network, same answer for the same input. It reads
 * the task and input like a planner would and proposes the account lookup when it finds an
 * account id. Real providers plug in behind the same interface.
 */
export interface ModelRequest {
  task: string;
  input: Record<string, unknown>;
  citations: Citation[];
}

export interface ModelAnswer {
  proposal: ModelCompletedV1['proposal'];
  confidence: number;
  usage: { inputTokens: number; outputTokens: number };
}

export interface ModelProvider {
  readonly name: string;
  complete(model: string, request: ModelRequest): ModelAnswer;
}

const ACCOUNT_ID = /\bacc-\d{3,12}\b/;

function tokens(text: string): number {
  return Math.ceil(text.length / 4);
}

export const builtinProvider: ModelProvider = {
  name: 'builtin',
  complete(model, request) {
    const fromInput = typeof request.input['accountId'] === 'string' && request.input['accountId'] !== '' ? (request.input['accountId'] as string) : undefined;
    const accountId = fromInput ?? ACCOUNT_ID.exec(request.task)?.[0];
    const prompt = `${request.task}\n${JSON.stringify(request.input)}\n${request.citations.map((c) => c.excerpt).join('\n')}`;
    const strong = model.endsWith('large');
    if (!accountId) {
      const rationale = 'no account id in the task or input, so there is nothing to look up';
      return { proposal: { kind: 'no_action', rationale }, confidence: strong ? 0.9 : 0.4, usage: { inputTokens: tokens(prompt), outputTokens: tokens(rationale) } };
    }
    const cited = request.citations.map((c) => c.documentId).join(', ') || 'no documents';
    const rationale = `look up ${accountId} in the system of record before answering (context: ${cited})`;
    return {
      proposal: { kind: 'tool_call', tool: 'sandbox.lookup_account', arguments: { accountId }, rationale },
      confidence: fromInput ? 0.95 : 0.75,
      usage: { inputTokens: tokens(prompt), outputTokens: tokens(rationale) },
    };
  },
};

export interface RoutedModel {
  model: string;
  provider: ModelProvider;
  reason: string;
}

/** Cheap model for low risk, strong model for anything riskier. */
export function routeByRisk(risk: 'low' | 'medium' | 'high'): RoutedModel {
  return risk === 'low'
    ? { model: 'builtin-small', provider: builtinProvider, reason: 'low risk: cheapest capable model' }
    : { model: 'builtin-large', provider: builtinProvider, reason: `${risk} risk: strongest model` };
}

export const ESCALATION_CONFIDENCE = 0.7;
