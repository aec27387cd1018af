import { DEFAULT_WORKFLOW, firstStep, riskOfTask, stepAfter, stepOfKind, type WorkflowDefinition } from './index';

describe('the default workflow', () => {
  it('walks retrieve, plan, authorize, execute, verify and then ends', () => {
    const visited: string[] = [];
    for (let step = firstStep(DEFAULT_WORKFLOW) as ReturnType<typeof stepAfter>; step; step = stepAfter(DEFAULT_WORKFLOW, step.id)) visited.push(`${step.id}:${step.kind}`);
    expect(visited).toEqual(['retrieve:context', 'plan:model', 'authorize:action', 'execute:tool', 'verify:verify']);
  });

  it('has nothing after the verify step', () => {
    expect(stepAfter(DEFAULT_WORKFLOW, 'verify')).toBeUndefined();
  });

  it('refuses to continue from a step it does not have, naming workflow and step', () => {
    expect(() => stepAfter(DEFAULT_WORKFLOW, 'deploy')).toThrow('workflow retrieve-plan-act-verify has no step deploy');
  });

  it('finds the step of each kind', () => {
    expect(stepOfKind(DEFAULT_WORKFLOW, 'action')).toEqual({ id: 'authorize', kind: 'action' });
    expect(stepOfKind(DEFAULT_WORKFLOW, 'verify')).toEqual({ id: 'verify', kind: 'verify' });
  });

  it('refuses a kind a workflow lacks', () => {
    const readOnly: WorkflowDefinition = { id: 'answer-only', version: 1, steps: [{ id: 'retrieve', kind: 'context' }, { id: 'answer', kind: 'model' }], deadlineSeconds: 60 };
    expect(() => stepOfKind(readOnly, 'tool')).toThrow('workflow answer-only has no tool step');
    expect(stepAfter(readOnly, 'retrieve')).toEqual({ id: 'answer', kind: 'model' });
  });
});

describe('riskOfTask', () => {
  it.each(['low', 'medium', 'high'] as const)('takes the declared risk %s', (risk) => {
    expect(riskOfTask({ risk, accountId: 'acc-001' })).toBe(risk);
  });

  it('treats a task with no declared risk as low', () => {
    expect(riskOfTask({})).toBe('low');
    expect(riskOfTask({ accountId: 'acc-001' })).toBe('low');
  });

  it('ignores a risk that is not one of low, medium, high', () => {
    expect(riskOfTask({ risk: 3 })).toBe('low');
    expect(riskOfTask({ risk: null })).toBe('low');
  });
});
