import { Composer, Document, isAlias, isMap, isNode, isScalar, LineCounter, Parser, visit, type CST, type DocumentOptions, type ParseOptions, type SchemaOptions } from 'yaml';
import { WorkflowSpec } from '@govmesh/workflow';
import type { PublishedWorkflow } from './workflow-registry';

/**
 * How a YAML workflow definition is read: as JSON written in YAML, nothing more.
 * - YAML 1.2 with its core schema: `yes`, `no`, `on`, `off` are strings, not booleans; no
 *   timestamps, no `!!binary`/`!!set`/`!!omap`, no merge keys (`<<` is an ordinary key, which the
 *   schema then refuses). Not the stricter `json` schema: it would make every unquoted string an error.
 * - No tags at all, not even `!!str`: JSON has none, and an unknown tag (`!!js/function`, `!foo`)
 *   would otherwise only warn and fall back to a string.
 * - Keys are strings (`1:` is the key "1"); a collection or an alias as a key is refused, and so is
 *   a key twice in a mapping (checked here in linear time; the library's check is quadratic).
 * - `.inf` and `.nan` are refused: JSON has no such numbers.
 * - Anchors and aliases are allowed, but fewer than MAX_ALIAS_COUNT uses of an anchor (the
 *   library's `maxAliasCount`; nested aliases multiply),
 *   which stops an alias bomb ("billion laughs"); the result is copied to plain JSON, and that
 *   JSON must fit the JSON body limit, so nothing publishable as YAML is too large as JSON.
 * - Collections nest at most MAX_DEPTH deep, checked on the syntax tree before anything recursive
 *   runs: a deeply nested document otherwise exhausts the stack inside the YAML library, where
 *   V8 can fail fatally and end the process instead of throwing.
 * - Exactly one document.
 */
export const WORKFLOW_YAML_OPTIONS: ParseOptions & DocumentOptions & SchemaOptions = {
  version: '1.2',
  schema: 'core',
  customTags: [],
  resolveKnownTags: false,
  merge: false,
  stringKeys: true,
  uniqueKeys: false,
  strict: true,
  prettyErrors: false,
};
export const MAX_ALIAS_COUNT = 20;
export const MAX_DEPTH = 64;
const MAX_PROBLEMS = 10;

export interface YamlProblem {
  line: number;
  column: number;
  problem: string;
}

/** The text is not one JSON-equivalent YAML document; every problem with its line and column (1-based). */
export class WorkflowYamlError extends Error {
  constructor(readonly problems: YamlProblem[]) {
    super(problems.map((p) => `line ${p.line}, column ${p.column}: ${p.problem}`).join('; '));
    this.name = 'WorkflowYamlError';
  }
}

/** The definition, as JSON, is larger than a JSON body may be (aliases can multiply a small text). */
export class WorkflowYamlTooLargeError extends Error {
  constructor(
    readonly bytes: number,
    readonly limit: number,
  ) {
    super(`the definition is ${bytes} bytes as JSON, above the limit of ${limit}`);
    this.name = 'WorkflowYamlTooLargeError';
  }
}

interface CstScan {
  /** Where the nesting first passes the limit. */
  tooDeepAt?: number;
  /** Every tag as written (`!foo`, `!!js/function`), where it is. */
  tags: Array<{ offset: number; source: string }>;
}

/**
 * Walks the syntax tree (without recursion: it may be arbitrarily deep) for the nesting depth of
 * its collections and the tags written anywhere (before a document, a key, a value or an item).
 */
function scanCst(tokens: CST.Token[], maxDepth: number): CstScan {
  const scan: CstScan = { tags: [] };
  type Part = { start?: unknown; sep?: unknown; props?: unknown; end?: unknown; key?: CST.Token | null; value?: CST.Token; items?: unknown };
  const stack: Array<[Part | null | undefined, number]> = tokens.map((t) => [t as Part, 0]);
  for (let next = stack.pop(); next; next = stack.pop()) {
    const [part, depth] = next;
    if (!part) continue;
    if (depth > maxDepth) {
      scan.tooDeepAt = (part as { offset?: number }).offset ?? 0;
      return scan;
    }
    for (const sources of [part.start, part.sep, part.props, part.end]) {
      if (!Array.isArray(sources)) continue;
      for (const source of sources as CST.SourceToken[]) if (source?.type === 'tag') scan.tags.push({ offset: source.offset, source: source.source });
    }
    stack.push([part.key as Part | null | undefined, depth], [part.value as Part | undefined, depth]);
    if (Array.isArray(part.items)) for (const item of part.items as Part[]) stack.push([item, depth + 1]);
  }
  return scan;
}

/**
 * Reads a workflow definition from YAML into the same plain JSON value a JSON body gives, for the
 * same validation. Throws WorkflowYamlError (400) or WorkflowYamlTooLargeError (413).
 */
export function parseWorkflowYaml(text: string, maxJsonBytes: number): unknown {
  const lines = new LineCounter();
  const at = (offset: number | undefined): Pick<YamlProblem, 'line' | 'column'> => {
    const { line, col } = lines.linePos(Math.max(0, offset ?? 0));
    return { line, column: col };
  };
  const refuse = (problems: YamlProblem[]): never => {
    throw new WorkflowYamlError(problems.sort((a, b) => a.line - b.line || a.column - b.column).slice(0, MAX_PROBLEMS));
  };

  const tokens = Array.from(new Parser(lines.addNewLine).parse(text));
  const scan = scanCst(tokens, MAX_DEPTH);
  if (scan.tooDeepAt !== undefined) refuse([{ ...at(scan.tooDeepAt), problem: `collections nest deeper than ${MAX_DEPTH} levels` }]);
  const composer = new Composer(WORKFLOW_YAML_OPTIONS);
  const docs = Array.from(composer.compose(tokens));
  if (docs.length === 0) {
    const stream = composer.streamInfo();
    refuse([...stream.errors.map((e) => ({ ...at(e.pos[0]), problem: e.message })), { line: 1, column: 1, problem: 'the body holds no YAML document' }]);
  }
  if (docs.length > 1) refuse([{ ...at(docs[1].range[0]), problem: `a workflow definition is one YAML document, not ${docs.length}` }]);
  const doc = docs[0];

  // Every tag is refused where it is written, so the library's warnings about unknown ones say nothing more.
  const problems: YamlProblem[] = [
    ...scan.tags.map((t) => ({ ...at(t.offset), problem: `tags are not accepted (JSON has none): ${t.source.slice(0, 100)}` })),
    ...doc.errors.map((e) => ({ ...at(e.pos[0]), problem: e.message })),
    ...doc.warnings.filter((w) => w.code !== 'TAG_RESOLVE_FAILED' || scan.tags.length === 0).map((w) => ({ ...at(w.pos[0]), problem: w.message })),
  ];
  let firstAlias: number | undefined;
  visit(doc, (_key, node) => {
    if (isAlias(node)) {
      firstAlias ??= node.range?.[0];
      return;
    }
    if (!isNode(node)) return;
    // A backstop: a tag the syntax-tree scan did not see.
    if (node.tag && scan.tags.length === 0) problems.push({ ...at(node.range?.[0]), problem: `tags are not accepted (JSON has none): ${node.tag}` });
    if (isMap(node)) {
      const seen = new Set<string>();
      for (const pair of node.items) {
        if (!isScalar(pair.key) || typeof pair.key.value !== 'string') continue; // stringKeys has refused it
        if (seen.has(pair.key.value)) problems.push({ ...at(pair.key.range?.[0]), problem: `the key "${pair.key.value.slice(0, 100)}" appears twice in this mapping` });
        seen.add(pair.key.value);
      }
    } else if (isScalar(node) && typeof node.value === 'number' && !Number.isFinite(node.value)) {
      problems.push({ ...at(node.range?.[0]), problem: `${String(node.source ?? node.value).slice(0, 20)} is not a JSON number` });
    }
  });
  if (problems.length > 0) refuse(problems);

  let value: unknown;
  try {
    value = doc.toJS({ maxAliasCount: MAX_ALIAS_COUNT });
  } catch (err) {
    const problem = /excessive alias count/i.test((err as Error).message)
      ? `aliases expand too much: at most ${MAX_ALIAS_COUNT - 1} uses of an anchor, fewer when aliases nest`
      : `an alias cannot be resolved: ${(err as Error).message}`;
    refuse([{ ...at(firstAlias), problem }]);
  }
  let json: string;
  try {
    json = JSON.stringify(value ?? null);
  } catch {
    return refuse([{ ...at(firstAlias), problem: 'an alias refers to a collection that contains it' }]);
  }
  const bytes = Buffer.byteLength(json, 'utf8');
  if (bytes > maxJsonBytes) throw new WorkflowYamlTooLargeError(bytes, maxJsonBytes);
  return JSON.parse(json) as unknown;
}

const SPEC_KEYS = Object.keys(WorkflowSpec.properties);

/** Text for a YAML comment: one line, no control characters (C0, DEL, C1) or Unicode line breaks. */
const commentText = (value: string): string =>
  Array.from(value, (c) => {
    const code = c.codePointAt(0) ?? 0;
    return code < 0x20 || (code >= 0x7f && code <= 0x9f) || code === 0x2028 || code === 0x2029 ? ' ' : c;
  }).join('');

/**
 * A published version as YAML: the definition as it was published (no `version`, so posting it
 * again is the same definition), its top-level keys in the schema's order, and the version, digest
 * and publisher as a comment. Reads back with parseWorkflowYaml to the same value.
 */
export function workflowToYaml(workflow: PublishedWorkflow): string {
  const { version: _version, ...spec } = workflow.definition;
  const ordered: Record<string, unknown> = {};
  for (const key of [...SPEC_KEYS, ...Object.keys(spec).sort()]) {
    if (Object.hasOwn(spec, key) && !Object.hasOwn(ordered, key)) ordered[key] = (spec as Record<string, unknown>)[key];
  }
  const doc = new Document(ordered, { version: '1.2', schema: 'core', aliasDuplicateObjects: false });
  doc.commentBefore = [
    ` workflow ${commentText(workflow.id)} version ${workflow.version}`,
    ` digest ${commentText(workflow.digest)}`,
    ` published by ${commentText(workflow.publishedBy)} at ${commentText(workflow.publishedAt)}`,
  ].join('\n');
  return doc.toString({ lineWidth: 0 });
}
