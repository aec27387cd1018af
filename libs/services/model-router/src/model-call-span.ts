import type { Context } from '@opentelemetry/api';
import { endSpan, errorTypeOf, GovmeshAttributes, SemconvAttributes, SpanKind, startGovmeshSpan } from '@govmesh/observability';
import type { ModelAnswer } from './builtin-provider';
import { MODEL_ROUTER_SERVICE } from './database';

export interface TracedModelCall {
  model: string;
  provider: string;
  risk: string;
  runId: string;
  stepId: string;
}

/**
 * One model call inside a `chat {model}` CLIENT span, as the GenAI conventions name an inference:
 * the model, the provider, the token counts and the run and step it served. Never the prompt, the
 * task, the citations or the answer.
 */
export function traceModelCall(parent: Context, call: TracedModelCall, complete: () => ModelAnswer): ModelAnswer {
  const { span } = startGovmeshSpan(`chat ${call.model}`, {
    kind: SpanKind.CLIENT,
    parent,
    attributes: {
      [SemconvAttributes.genAiOperation]: 'chat',
      [SemconvAttributes.genAiProvider]: call.provider,
      [SemconvAttributes.genAiRequestModel]: call.model,
      [GovmeshAttributes.service]: MODEL_ROUTER_SERVICE,
      [GovmeshAttributes.runId]: call.runId,
      [GovmeshAttributes.stepId]: call.stepId,
      [GovmeshAttributes.modelRisk]: call.risk,
    },
  });
  try {
    const answer = complete();
    span.setAttributes({
      [SemconvAttributes.genAiResponseModel]: call.model,
      [SemconvAttributes.genAiInputTokens]: answer.usage.inputTokens,
      [SemconvAttributes.genAiOutputTokens]: answer.usage.outputTokens,
    });
    endSpan(span);
    return answer;
  } catch (err) {
    endSpan(span, { errorType: errorTypeOf(err) });
    throw err;
  }
}
