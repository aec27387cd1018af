import { compileWorkflow, WorkflowInvalidError, type DefinitionProblem } from './compile';
import { workflowJsonSchema, type WorkflowDefinition, type WorkflowStep } from './definition';

const escalation = { levels: [{ name: 'ops', groups: ['ops'], slaSeconds: 600 }] };

function definition(steps: unknown[], extra: Record<string, unknown> = {}): WorkflowDefinition {
  return { id: 'test-flow', version: 1, deadlineSeconds: 3600, escalation, steps: steps as WorkflowStep[], ...extra } as WorkflowDefinition;
}

/** The problems compileWorkflow throws for a definition (fails the test when it compiles). */
async function problemsOf(def: unknown): Promise<DefinitionProblem[]> {
  try {
    await compileWorkflow(def as WorkflowDefinition);
  } catch (err) {
    expect(err).toBeInstanceOf(WorkflowInvalidError);
    return (err as WorkflowInvalidError).problems;
  }
  throw new Error('the definition compiled; a problem was expected');
}

const fields = (problems: DefinitionProblem[]) => problems.map((p) => p.field);

describe('compileWorkflow', () => {
  describe('a valid definition', () => {
    it('indexes the steps, knows the order and evaluates its CEL', async () => {
      const wf = await compileWorkflow(
        definition([
          { id: 'look', kind: 'context', query: '"q " + input.id' },
          { id: 'pick', kind: 'branch', cases: [{ when: 'input.n > 3', next: 'end' }], default: 'pause' },
          { id: 'pause', kind: 'wait', seconds: 5 },
        ]),
      );
      expect([...wf.steps.keys()]).toEqual(['look', 'pick', 'pause']);
      expect(wf.following('look')).toBe('pick');
      expect(wf.following('pause')).toBeUndefined();
      expect(wf.evaluate('"q " + input.id', { input: { id: 'x' }, steps: {}, run: {}, action: {} })).toBe('q x');
      expect(wf.evaluate('input.n > 3', { input: { n: 5 }, steps: {}, run: {}, action: {} })).toBe(true);
      expect(() => wf.evaluate('1 == 1', {})).toThrow('expression not compiled');
    });

    it('checks values against the embedded schemas, and accepts anything without one', async () => {
      const wf = await compileWorkflow(
        definition([{ id: 'm', kind: 'model', outputSchema: { type: 'object', required: ['a'], properties: { a: { type: 'string' } } } }], {
          inputSchema: { type: 'object', required: ['x'] },
        }),
      );
      expect(wf.check('input', { x: 1 })).toBeNull();
      expect(wf.check('input', {})).toEqual([{ field: '/', problem: "must have required property 'x'" }]);
      expect(wf.check('output:m', { a: 1 })).toEqual([{ field: '/a', problem: 'must be string' }]);
      expect(wf.check('output:m', { a: 'ok' })).toBeNull();
      expect(wf.check('edit:m', { anything: true })).toBeNull();
    });

    it('accepts `end` as a next and a branch target', async () => {
      await expect(compileWorkflow(definition([{ id: 'a', kind: 'wait', seconds: 1, next: 'end' }, { id: 'b', kind: 'branch', cases: [{ when: 'true', next: 'end' }], default: 'end' }]))).resolves.toBeDefined();
    });

    it('publishes a JSON Schema that names the definition format', () => {
      const schema = workflowJsonSchema() as Record<string, unknown>;
      expect(schema['$id']).toBe('https://govmesh.dev/schemas/workflow.json');
      expect(schema['required']).toEqual(expect.arrayContaining(['id', 'deadlineSeconds', 'escalation', 'steps']));
    });
  });

  describe('schema problems, named by JSON path', () => {
    it('a missing required property', async () => {
      const { deadlineSeconds: _omit, ...rest } = definition([{ id: 'a', kind: 'wait', seconds: 1 }]);
      const problems = await problemsOf(rest);
      expect(problems).toContainEqual({ field: '/', problem: "must have required property 'deadlineSeconds'" });
    });

    it('an unknown top-level property', async () => {
      const problems = await problemsOf(definition([{ id: 'a', kind: 'wait', seconds: 1 }], { owner: 'me' }));
      expect(problems).toContainEqual({ field: '/', problem: 'must NOT have additional properties (owner)' });
    });

    it('a step id that breaks the pattern', async () => {
      const problems = await problemsOf(definition([{ id: 'Bad Id', kind: 'wait', seconds: 1 }]));
      expect(fields(problems)).toContain('/steps/0/id');
    });

    it('an empty step list', async () => {
      const problems = await problemsOf(definition([]));
      expect(problems).toContainEqual({ field: '/steps', problem: 'must NOT have fewer than 1 items' });
    });

    it('an out-of-range number deep in a step', async () => {
      const problems = await problemsOf(definition([{ id: 'a', kind: 'model', retry: { maxAttempts: 11, backoffSeconds: 1 } }]));
      expect(fields(problems)).toContain('/steps/0/retry/maxAttempts');
    });

    it('an escalation with no levels', async () => {
      const problems = await problemsOf(definition([{ id: 'a', kind: 'wait', seconds: 1 }], { escalation: { levels: [] } }));
      expect(fields(problems)).toContain('/escalation/levels');
    });

    it('a version that is not a positive integer', async () => {
      const problems = await problemsOf({ ...definition([{ id: 'a', kind: 'wait', seconds: 1 }]), version: 0 });
      expect(problems).toEqual([{ field: '/version', problem: 'must be a positive integer' }]);
    });
  });

  describe('references between steps', () => {
    it('a duplicate step id', async () => {
      const problems = await problemsOf(definition([{ id: 'a', kind: 'wait', seconds: 1 }, { id: 'a', kind: 'wait', seconds: 2 }]));
      expect(problems).toEqual([{ field: '/steps/1/id', problem: 'step id "a" is used twice' }]);
    });

    it('a next naming no step', async () => {
      const problems = await problemsOf(definition([{ id: 'a', kind: 'wait', seconds: 1, next: 'nowhere' }]));
      expect(problems).toEqual([{ field: '/steps/0/next', problem: 'names step "nowhere", which the workflow does not have' }]);
    });

    it('a branch case and default naming no step', async () => {
      const problems = await problemsOf(definition([{ id: 'b', kind: 'branch', cases: [{ when: 'true', next: 'x' }, { when: 'false', next: 'b' }], default: 'y' }]));
      expect(fields(problems)).toEqual(['/steps/0/cases/0/next', '/steps/0/default']);
    });

    it('an action with both tool and from', async () => {
      const problems = await problemsOf(definition([{ id: 'm', kind: 'model' }, { id: 'a', kind: 'action', tool: 't', from: 'm' }]));
      expect(fields(problems)).toEqual(['/steps/1']);
      expect(problems[0].problem).toContain('either `tool`');
    });

    it('an action with neither tool nor from', async () => {
      const problems = await problemsOf(definition([{ id: 'a', kind: 'action' }]));
      expect(fields(problems)).toEqual(['/steps/0']);
    });

    it('an action from a model step with structured output', async () => {
      const problems = await problemsOf(definition([{ id: 'm', kind: 'model', outputSchema: { type: 'object' } }, { id: 'a', kind: 'action', from: 'm' }]));
      expect(problems).toEqual([{ field: '/steps/1/from', problem: 'must name a model step without outputSchema (one that proposes a tool call)' }]);
    });

    it('an action from a step that is not a model step, or is missing', async () => {
      expect(fields(await problemsOf(definition([{ id: 'c', kind: 'context' }, { id: 'a', kind: 'action', from: 'c' }])))).toEqual(['/steps/1/from']);
      expect(fields(await problemsOf(definition([{ id: 'a', kind: 'action', from: 'ghost' }])))).toEqual(['/steps/0/from']);
    });

    it('an action from a model step that comes after it', async () => {
      const problems = await problemsOf(definition([{ id: 'a', kind: 'action', from: 'm' }, { id: 'm', kind: 'model' }]));
      expect(problems).toEqual([{ field: '/steps/0/from', problem: 'step "m" comes after this one' }]);
    });

    it('arguments on an action without a tool', async () => {
      const problems = await problemsOf(definition([{ id: 'm', kind: 'model' }, { id: 'a', kind: 'action', from: 'm', arguments: { x: '1' } }]));
      expect(fields(problems)).toContain('/steps/1/arguments');
    });

    it('a verify step of a step that is not an action', async () => {
      const problems = await problemsOf(definition([{ id: 'c', kind: 'context' }, { id: 'v', kind: 'verify', of: 'c' }]));
      expect(problems).toEqual([{ field: '/steps/1/of', problem: 'must name an action step' }]);
    });
  });

  describe('CEL, parsed and type-checked at publication', () => {
    it('a context query that does not parse', async () => {
      const problems = await problemsOf(definition([{ id: 'c', kind: 'context', query: '"a" +' }]));
      expect(fields(problems)).toEqual(['/steps/0/query']);
      expect(problems[0].problem).toMatch(/^CEL does not parse: /);
    });

    it('an argument that does not type-check', async () => {
      const problems = await problemsOf(definition([{ id: 'a', kind: 'action', tool: 't', arguments: { ok: 'input.x', bad: '1 + "a"' } }]));
      expect(fields(problems)).toEqual(['/steps/0/arguments/bad']);
      expect(problems[0].problem).toMatch(/^CEL does not type-check: .*no such overload/);
    });

    it('a variable the environment does not have', async () => {
      const problems = await problemsOf(definition([{ id: 'b', kind: 'branch', cases: [{ when: 'secrets.key == "x"', next: 'end' }], default: 'end' }]));
      expect(fields(problems)).toEqual(['/steps/0/cases/0/when']);
      expect(problems[0].problem).toContain('Unknown variable: secrets');
    });

    it('routes of the escalation, of an approval and of a checkpoint', async () => {
      const bad = { levels: [{ name: 'l', groups: ['g'], slaSeconds: 60 }], routes: [{ when: 'size(1)', level: 1 }] };
      const problems = await problemsOf(
        definition(
          [
            { id: 'a', kind: 'action', tool: 't', approval: bad },
            { id: 'k', kind: 'checkpoint', review: bad },
          ],
          { escalation: bad },
        ),
      );
      expect(fields(problems)).toEqual(['/escalation/routes/0/when', '/steps/0/approval/routes/0/when', '/steps/1/review/routes/0/when']);
    });

    it('lists every problem at once', async () => {
      const problems = await problemsOf(
        definition([
          { id: 'c', kind: 'context', query: '(' },
          { id: 'c', kind: 'wait', seconds: 1, next: 'x' },
        ]),
      );
      expect(fields(problems).sort()).toEqual(['/steps/0/query', '/steps/1/id', '/steps/1/next']);
    });

    it('names the problems in the error message', async () => {
      await expect(compileWorkflow(definition([{ id: 'a', kind: 'wait', seconds: 1, next: 'x' }]))).rejects.toThrow('workflow definition invalid: /steps/0/next names step "x"');
    });
  });

  describe('embedded JSON Schemas', () => {
    it('an unusable input, output and edit schema', async () => {
      const problems = await problemsOf(
        definition(
          [
            { id: 'm', kind: 'model', outputSchema: { type: 'nonsense' } },
            { id: 'k', kind: 'checkpoint', review: escalation, editSchema: { properties: 3 } },
          ],
          { inputSchema: { required: 'x' } },
        ),
      );
      expect(fields(problems)).toEqual(['/inputSchema', '/steps/0/outputSchema', '/steps/1/editSchema']);
      for (const p of problems) expect(p.problem).toMatch(/^is not a usable JSON Schema: /);
    });
  });

  describe('review routes', () => {
    it('a route to a level beyond the levels', async () => {
      const problems = await problemsOf(
        definition([{ id: 'a', kind: 'action', tool: 't', approval: { levels: [{ name: 'l', groups: ['g'], slaSeconds: 60 }, { name: 'm', groups: ['h'], slaSeconds: 60 }], routes: [{ when: 'true', level: 2 }, { when: 'true', level: 3 }] } }]),
      );
      expect(problems).toEqual([{ field: '/steps/0/approval/routes/1/level', problem: 'level 3 does not exist (2 levels)' }]);
    });

    it('of the escalation too', async () => {
      const problems = await problemsOf(definition([{ id: 'a', kind: 'wait', seconds: 1 }], { escalation: { ...escalation, routes: [{ when: 'true', level: 2 }] } }));
      expect(fields(problems)).toEqual(['/escalation/routes/0/level']);
    });
  });
});
