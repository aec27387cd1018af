import { SEED_WORKFLOWS } from '@govmesh/workflow';
import { MAX_ALIAS_COUNT, MAX_DEPTH, parseWorkflowYaml, workflowToYaml, WorkflowYamlError, WorkflowYamlTooLargeError, type YamlProblem } from './workflow-yaml';

const LIMIT = 256 * 1024;

function problemsOf(text: string): YamlProblem[] {
  try {
    parseWorkflowYaml(text, LIMIT);
  } catch (err) {
    if (err instanceof WorkflowYamlError) return err.problems;
    throw err;
  }
  throw new Error('the YAML was accepted');
}

const SPEC_YAML = `# a probe
id: probe-flow
deadlineSeconds: 60
escalation:
  levels:
    - name: ops
      groups: [operations]
      slaSeconds: 60
steps:
  - id: look
    kind: context
`;

describe('parseWorkflowYaml: JSON written as YAML, nothing more', () => {
  it('reads a definition to the value its JSON gives', () => {
    expect(parseWorkflowYaml(SPEC_YAML, LIMIT)).toEqual({
      id: 'probe-flow',
      deadlineSeconds: 60,
      escalation: { levels: [{ name: 'ops', groups: ['operations'], slaSeconds: 60 }] },
      steps: [{ id: 'look', kind: 'context' }],
    });
    // A leading `---`, a trailing `...` and a byte-order mark are still one document.
    expect(parseWorkflowYaml('\ufeff---\nid: x\n...\n', LIMIT)).toEqual({ id: 'x' });
  });

  it('is YAML 1.2 core: yes/no/on/off and dates are strings, 0x and 0o integers are numbers, keys are strings', () => {
    expect(parseWorkflowYaml('a: yes\nb: no\nc: on\nd: off\ne: y\nf: 2001-12-14\ng: true\nh: ~\ni: 0x3c\nj: 0o17\nk: 1.5e3\n1: one\nnull: two\n', LIMIT)).toEqual({
      a: 'yes',
      b: 'no',
      c: 'on',
      d: 'off',
      e: 'y',
      f: '2001-12-14',
      g: true,
      h: null,
      i: 60,
      j: 15,
      k: 1500,
      '1': 'one',
      null: 'two',
    });
    // A %YAML 1.1 directive does not bring 1.1's booleans back.
    expect(parseWorkflowYaml('%YAML 1.1\n---\na: yes\n', LIMIT)).toEqual({ a: 'yes' });
    // `__proto__` is an own key, as JSON.parse makes it, and sets no prototype.
    const proto = parseWorkflowYaml('__proto__: {polluted: 1}\n', LIMIT) as Record<string, unknown>;
    expect(Object.keys(proto)).toEqual(['__proto__']);
    expect((proto as { polluted?: unknown }).polluted).toBeUndefined();
    expect(({} as { polluted?: unknown }).polluted).toBeUndefined();
    // No merge keys: `<<` is an ordinary key (which the workflow schema then refuses).
    expect(parseWorkflowYaml('base: &b {x: 1}\nc:\n  <<: *b\n', LIMIT)).toEqual({ base: { x: 1 }, c: { '<<': { x: 1 } } });
  });

  it('refuses malformed syntax with the line and column', () => {
    const problems = problemsOf('id: probe\nsteps:\n  - id: a\n kind: context\n');
    expect(problems[0]).toMatchObject({ line: 4, column: 1, problem: expect.stringContaining('same column') });
    expect(problemsOf('id: [1, 2\nx: }\n')[0].line).toBeGreaterThanOrEqual(1);
    expect(problemsOf('a:\n\t- b\n')[0]).toMatchObject({ line: 2, column: 1, problem: expect.stringMatching(/tab/i) });
    expect(problemsOf('a: "unterminated\n')[0].problem).toMatch(/quote/i);
  });

  it('refuses a key twice in a mapping, however it is quoted', () => {
    expect(problemsOf('id: a\nsteps: []\nid: b\n')).toEqual([{ line: 3, column: 1, problem: 'the key "id" appears twice in this mapping' }]);
    expect(problemsOf('a: {x: 1, "x": 2}\n')[0]).toMatchObject({ line: 1, column: 11, problem: expect.stringContaining('"x"') });
    expect(problemsOf("1: a\n'1': b\n")[0]).toMatchObject({ line: 2 });
  });

  it('refuses every tag, where it is written: unknown, language-specific and the core ones alike', () => {
    for (const tag of ['!!js/function', '!foo', '!!python/object:os.system', '!!binary', '!!timestamp', '!!set', '!!str', '!<tag:yaml.org,2002:int>', '!!map', '!']) {
      expect(problemsOf(`a: ${tag} x\n`)).toEqual([{ line: 1, column: 4, problem: `tags are not accepted (JSON has none): ${tag}` }]);
    }
    // Before a document, a key, an item, a flow entry, a block scalar, after an anchor, alone on its line.
    const placed: Array<[string, number, number]> = [
      ['--- !foo\na: 1\n', 1, 5],
      ['!!str a: 1\n', 1, 1],
      ['- !foo x\n', 1, 3],
      ['[x, {a: !bar y}]\n', 1, 9],
      ['a: !foo |\n  x\n', 1, 4],
      ['a: &x !foo b\n', 1, 7],
      ['? !k a\n: b\n', 1, 3],
      ['a:\n  !t\n  b: 1\n', 2, 3],
    ];
    for (const [text, line, column] of placed) expect(problemsOf(text)).toContainEqual({ line, column, problem: expect.stringContaining('tags are not accepted') });
  });

  it('refuses what JSON cannot hold: .inf, .nan, collections and aliases as keys', () => {
    expect(problemsOf('a: .inf\nb: -.Inf\nc: .nan\n').map((p) => p.line)).toEqual([1, 2, 3]);
    expect(problemsOf('? [a, b]\n: 1\n')[0].line).toBe(1);
    expect(problemsOf('a: &k x\n*k : 2\n')[0].line).toBe(2);
  });

  it('allows a few aliases but stops an alias bomb, and a self-referring alias, with a 400 not a crash', () => {
    expect(parseWorkflowYaml('l: &l [{name: ops}]\np: {levels: *l}\nq: {levels: *l}\n', LIMIT)).toEqual({ l: [{ name: 'ops' }], p: { levels: [{ name: 'ops' }] }, q: { levels: [{ name: 'ops' }] } });
    const lol = (name: string, of: string) => `${name}: &${name} [${Array(9).fill(of).join(', ')}]`;
    const bomb = [lol('a', '"lol"'), lol('b', '*a'), lol('c', '*b'), lol('d', '*c'), lol('e', '*d'), lol('f', '*e'), lol('g', '*f'), lol('h', '*g'), lol('i', '*h')].join('\n');
    expect(problemsOf(bomb)[0]).toMatchObject({ line: 2, problem: expect.stringContaining('aliases expand too much') });
    const flat = (uses: number) => `a: &a x\nb: [${Array(uses).fill('*a').join(', ')}]\n`;
    expect((parseWorkflowYaml(flat(MAX_ALIAS_COUNT - 1), LIMIT) as { b: string[] }).b).toHaveLength(MAX_ALIAS_COUNT - 1);
    expect(problemsOf(flat(MAX_ALIAS_COUNT))[0].problem).toContain('aliases expand too much');
    expect(problemsOf('a: &a [*a]\n')[0].line).toBe(1);
    expect(problemsOf('a: *nowhere\n')[0].line).toBe(1);
  });

  it('measures the definition as JSON: aliases cannot smuggle in more than a JSON body may hold', () => {
    const big = 'x'.repeat(20 * 1024);
    const text = `a: &a "${big}"\nb: [${Array(MAX_ALIAS_COUNT - 1).fill('*a').join(', ')}]\n`;
    expect(text.length).toBeLessThan(LIMIT);
    expect(() => parseWorkflowYaml(text, LIMIT)).toThrow(WorkflowYamlTooLargeError);
  });

  it('refuses more than one document, and none', () => {
    expect(problemsOf('id: a\n---\nid: b\n')).toEqual([{ line: 2, column: 1, problem: 'a workflow definition is one YAML document, not 2' }]);
    expect(problemsOf('id: a\n---\n')[0].problem).toContain('not 2');
    expect(problemsOf('')[0].problem).toContain('no YAML document');
    expect(problemsOf('# only a comment\n')[0].problem).toContain('no YAML document');
  });

  it('refuses deep nesting before the library recurses into it, quickly and without crashing the process', () => {
    const ok = `a: ${'['.repeat(MAX_DEPTH - 1)}${']'.repeat(MAX_DEPTH - 1)}\n`;
    expect(() => parseWorkflowYaml(ok, LIMIT)).not.toThrow();
    for (const text of ['['.repeat(LIMIT - 1), '{a: '.repeat(LIMIT / 4 - 1), '- '.repeat(LIMIT / 2 - 1), `a: ${'['.repeat(MAX_DEPTH + 1)}`]) {
      const started = Date.now();
      expect(problemsOf(text)[0].problem).toContain(`deeper than ${MAX_DEPTH}`);
      expect(Date.now() - started).toBeLessThan(5000);
    }
    // Twice, as the second parse of such a document is the one that used to end the process.
    expect(problemsOf('['.repeat(LIMIT - 1))[0].problem).toContain('deeper');
  });

  it('checks keys in linear time: a mapping with tens of thousands of keys is not a denial of service', () => {
    let text = '';
    for (let i = 0; text.length < 200 * 1024; i++) text += `k${i}: 1\n`;
    const started = Date.now();
    expect(Object.keys(parseWorkflowYaml(text, LIMIT) as object).length).toBeGreaterThan(20000);
    expect(Date.now() - started).toBeLessThan(3000);
  });
});

describe('workflowToYaml', () => {
  it.each(SEED_WORKFLOWS.map((w) => [w.id, w]))('writes %s so that it reads back to the definition as published', (_id, seed) => {
    const { version, ...spec } = seed;
    const text = workflowToYaml({ id: seed.id, version, digest: 'd'.repeat(64), publishedBy: 'system', publishedAt: '2026-01-01T00:00:00.000Z', definition: seed });
    expect(text.startsWith(`# workflow ${seed.id} version ${version}\n# digest ${'d'.repeat(64)}\n# published by system at 2026-01-01T00:00:00.000Z\n`)).toBe(true);
    expect(text).not.toMatch(/^version:/m);
    expect(text).not.toMatch(/[&*][a-z]+\d/); // no anchors or aliases, even where the seed shares an object
    expect(parseWorkflowYaml(text, LIMIT)).toEqual(JSON.parse(JSON.stringify(spec)));
    // The schema's order: id first, steps last.
    expect(text.split('\n').filter((l) => /^[a-zA-Z]/.test(l))[0]).toBe(`id: ${seed.id}`);
  });

  it('keeps the comment a comment, whatever the publisher is called', () => {
    const text = workflowToYaml({ id: 'x-y', version: 2, digest: 'd', publishedBy: 'evil\nid: other\r\u2028x', publishedAt: 't', definition: { id: 'x-y', version: 2, deadlineSeconds: 60, escalation: { levels: [] }, steps: [] } as never });
    expect(parseWorkflowYaml(text, LIMIT)).toEqual({ id: 'x-y', deadlineSeconds: 60, escalation: { levels: [] }, steps: [] });
    expect(text.split('\n').slice(0, 3).every((l) => l.startsWith('#'))).toBe(true);
  });

  it('quotes strings that would read back as something else', () => {
    const text = workflowToYaml({ id: 'x-y', version: 1, digest: 'd', publishedBy: 'p', publishedAt: 't', definition: { id: 'x-y', version: 1, description: '60', deadlineSeconds: 60, escalation: { levels: [] }, steps: [{ id: 'true', kind: 'context', query: 'null' }] } as never });
    expect(parseWorkflowYaml(text, LIMIT)).toMatchObject({ description: '60', steps: [{ id: 'true', query: 'null' }] });
  });
});
