import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { EVENT_CATALOG, EventTypes } from './catalog';
import { decodeEvent, DEFAULT_MAX_MESSAGE_BYTES, type DecodeOptions, type IntentRefusalCode, type Rejection, type RejectionCode } from './codec';
import { CLOUDEVENTS_CONTENT_TYPE, CloudEventEnvelope, Headers } from './envelope';
import { JsonObject, Reason } from './events/common';
import { IntentSubmittedV1 } from './events/intent';
import { ActionGrant } from './events/policy';
import { Citation, RecordClaim } from './events/steps';
import { TOPIC_REGISTRY, Topics } from './topics';

/**
 * docs/events.md is the contract for producers in other languages; this keeps it honest.
 * It fails when an event type, a field, a required flag, a topic row, a header or a rejection
 * code of the code is missing from (or stale in) the document, or when a JSON example no
 * longer decodes.
 */

const DOC_PATH = resolve(__dirname, '../../../docs/events.md');
const doc = readFileSync(DOC_PATH, 'utf8');
const lines = doc.split('\n');

/** The parts of a JSON schema this test reads (TypeBox schemas are plain JSON schemas). */
interface JsonSchema {
  properties?: Record<string, JsonSchema>;
  required?: string[];
  anyOf?: JsonSchema[];
  items?: JsonSchema;
}
const asSchema = (schema: unknown) => schema as JsonSchema;

interface Heading {
  level: number;
  text: string;
  line: number;
}

/** Markdown headings outside code fences (a `# comment` in a Python block is not a heading). */
const headings: Heading[] = (() => {
  const found: Heading[] = [];
  let inFence = false;
  lines.forEach((text, line) => {
    if (text.startsWith('```')) inFence = !inFence;
    const match = inFence ? null : /^(#{1,6})\s+(.*?)\s*$/.exec(text);
    if (match) found.push({ level: match[1].length, text: match[2], line });
  });
  return found;
})();

/** The text under a heading, up to the next heading of the same or a higher level. Numbering ("5. ") is ignored. */
function section(title: string): string {
  const matches = headings.filter((h) => h.text.replace(/^\d+\.\s+/, '') === title);
  if (matches.length !== 1) throw new Error(`docs/events.md should have exactly one heading "${title}", found ${matches.length}`);
  const [heading] = matches;
  const next = headings.find((h) => h.line > heading.line && h.level <= heading.level);
  return lines.slice(heading.line + 1, next ? next.line : lines.length).join('\n');
}

/** Cells of a markdown table row; `\|` inside a cell is not a separator. */
function cells(row: string): string[] {
  return row
    .trim()
    .replace(/^\|/, '')
    .replace(/\|$/, '')
    .split(/(?<!\\)\|/)
    .map((c) => c.trim());
}

/** The first table in a text: its header cells and its rows (without the separator). */
function firstTable(text: string): { header: string[]; rows: string[][] } {
  const rows: string[][] = [];
  for (const line of text.split('\n')) {
    if (line.trim().startsWith('|')) rows.push(cells(line));
    else if (rows.length > 0) break;
  }
  return { header: rows[0] ?? [], rows: rows.slice(2) };
}

/** Table rows of a text keyed by their first cell, which names a field as `name`. */
function rowsByName(rows: string[][]): Map<string, string[]> {
  return new Map(rows.filter((r) => /^`[^`]+`$/.test(r[0])).map((r) => [r[0].slice(1, -1), r]));
}

/** Checks a field table against a schema: the same fields, each with its required flag. */
function expectFieldTable(where: string, text: string, schema: JsonSchema): void {
  const table = firstTable(text);
  const requiredColumn = table.header.indexOf('required');
  expect({ where, requiredColumn: requiredColumn > 0 }).toEqual({ where, requiredColumn: true });
  const rows = rowsByName(table.rows);
  const required = new Set(schema.required ?? []);
  const properties = Object.keys(schema.properties ?? {});
  for (const field of properties) {
    const row = rows.get(field);
    expect({ where, field, documented: Boolean(row) }).toEqual({ where, field, documented: true });
    expect({ where, field, required: row?.[requiredColumn] }).toEqual({ where, field, required: required.has(field) ? 'yes' : 'no' });
  }
  expect({ where, fields: [...rows.keys()].sort() }).toEqual({ where, fields: [...properties].sort() });
}

/** Objects with their own section in the document, referenced by name from the event tables. */
const SHARED_TYPES: Array<[string, JsonSchema]> = [
  ['Reason', asSchema(Reason)],
  ['ActionGrant', asSchema(ActionGrant)],
  ['Citation', asSchema(Citation)],
  ['RecordClaim', asSchema(RecordClaim)],
];
const documentedElsewhere = [...SHARED_TYPES.map(([, s]) => s), asSchema(IntentSubmittedV1), asSchema(JsonObject)];
const sameSchema = (a: JsonSchema, b: JsonSchema) => JSON.stringify(a) === JSON.stringify(b);

/** Property names of objects nested inline in a schema (not the shared types), at any depth. */
function inlineNestedFields(schema: JsonSchema, top = true): string[] {
  if (!top && documentedElsewhere.some((s) => sameSchema(s, schema))) return [];
  const own = top ? [] : Object.keys(schema.properties ?? {});
  const children = [...Object.values(schema.properties ?? {}), ...(schema.anyOf ?? []), ...(schema.items ? [schema.items] : [])];
  return [...own, ...children.flatMap((child) => inlineNestedFields(child, false))];
}

const eventSection = (type: string) => section(`\`${type}\``);

describe('docs/events.md', () => {
  describe('event catalog', () => {
    it.each(Object.values(EVENT_CATALOG).map((d) => [d.type, d] as const))('documents %s with its topic and description', (type, definition) => {
      const text = eventSection(type);
      expect(text).toContain(`Topic: \`${definition.topic}\``);
      expect(text).toContain(definition.description);
    });

    it.each(Object.values(EVENT_CATALOG).map((d) => [d.type, d] as const))('lists every field of the data of %s, with its required flag', (type, definition) => {
      expectFieldTable(type, eventSection(type), asSchema(definition.schema));
    });

    it.each(Object.values(EVENT_CATALOG).map((d) => [d.type, d] as const))('describes the nested objects of %s', (type, definition) => {
      const text = eventSection(type);
      for (const field of inlineNestedFields(asSchema(definition.schema))) {
        expect({ type, field, documented: text.includes(`\`${field}\``) }).toEqual({ type, field, documented: true });
      }
    });

    it.each(SHARED_TYPES)('defines the shared type %s field by field', (name, schema) => {
      expectFieldTable(name, section(name), schema);
    });

    it('has no section for an event type the catalog does not have', () => {
      const documented = headings.map((h) => /^`(govmesh\.[a-z-]+\.[a-z-]+\.v\d+)`$/.exec(h.text)?.[1]).filter((t): t is string => Boolean(t));
      expect(documented.sort()).toEqual(Object.keys(EVENT_CATALOG).sort());
    });
  });

  describe('topic registry', () => {
    const rows = () => rowsByName(firstTable(section('Topics')).rows);

    it.each(TOPIC_REGISTRY.map((t) => [t.name, t] as const))('has a row for %s copied from the registry', (name, spec) => {
      const row = rows().get(name);
      expect({ name, row }).toEqual({
        name,
        row: [`\`${name}\``, `\`${spec.key}\``, String(spec.partitions), spec.producers.join(', '), spec.consumers.join(', '), spec.description],
      });
    });

    it('lists no topic the registry does not have', () => {
      expect([...rows().keys()].sort()).toEqual(TOPIC_REGISTRY.map((t) => t.name).sort());
    });
  });

  describe('envelope', () => {
    it('lists every envelope attribute with its required flag', () => {
      expectFieldTable('envelope', section('The envelope'), asSchema(CloudEventEnvelope));
    });

    it('names every Kafka header govmesh sets or adds to a dead letter, and the content type', () => {
      for (const header of Object.values(Headers)) expect({ header, documented: doc.includes(`\`${header}\``) }).toEqual({ header, documented: true });
      expect(doc).toContain(`\`${CLOUDEVENTS_CONTENT_TYPE}\``);
    });

    it('states the default message size limit and how to change it', () => {
      expect(section('The envelope')).toContain(String(DEFAULT_MAX_MESSAGE_BYTES));
      expect(section('The envelope')).toContain('GOVMESH_MAX_MESSAGE_BYTES');
    });
  });

  describe('dead letters', () => {
    /** What decodeEvent rejects with, in the order it checks. */
    const DECODER_CODES = ['empty', 'oversized', 'key_too_long', 'malformed_json', 'invalid_envelope', 'unknown_type', 'unexpected_type', 'schema_invalid', 'unstorable_text'] as const satisfies readonly RejectionCode[];
    /** What the policy service refuses a decoded intent with (never the decoder). */
    const POLICY_REFUSAL_CODES = [
      'intent_unsigned',
      'intent_key_unknown',
      'intent_key_revoked',
      'intent_signature_invalid',
      'intent_timestamp_invalid',
      'intent_stale',
      'intent_from_future',
      'intent_replayed',
    ] as const satisfies readonly IntentRefusalCode[];
    const REJECTION_CODES = [...DECODER_CODES, 'handler_failed', ...POLICY_REFUSAL_CODES] as const satisfies readonly Rejection['code'][];
    // The type check (npm run lint) fails here when codec.ts gains a code these lists lack.
    const everyCodeListed: [Exclude<Rejection['code'], (typeof REJECTION_CODES)[number]>] extends [never] ? true : never = true;
    const everyDecoderCodeListed: [Exclude<RejectionCode, (typeof DECODER_CODES)[number]>] extends [never] ? true : never = true;
    const everyRefusalCodeListed: [Exclude<IntentRefusalCode, (typeof POLICY_REFUSAL_CODES)[number]>] extends [never] ? true : never = true;

    /** The `raised by` column of the table: which component produces the code. */
    const raisedBy = (code: (typeof REJECTION_CODES)[number]): string =>
      (DECODER_CODES as readonly string[]).includes(code) ? 'every consumer (decoder)' : code === 'handler_failed' ? 'every consumer (handler)' : 'policy (intents)';

    it('explains every rejection code, and no other', () => {
      expect([everyCodeListed, everyDecoderCodeListed, everyRefusalCodeListed]).toEqual([true, true, true]);
      const rows = rowsByName(firstTable(section('Rejection codes')).rows);
      expect([...rows.keys()].sort()).toEqual([...REJECTION_CODES].sort());
      for (const [code, row] of rows) expect({ code, explained: (row[1] ?? '').length > 20 }).toEqual({ code, explained: true });
    });

    it('says which component raises each code, in the order of the checks', () => {
      const table = firstTable(section('Rejection codes'));
      expect(table.header).toEqual(['code', 'when it happens', 'raised by']);
      const rows = rowsByName(table.rows);
      for (const code of REJECTION_CODES) expect({ code, raisedBy: rows.get(code)?.[2] }).toEqual({ code, raisedBy: raisedBy(code) });
      expect([...rows.keys()]).toEqual([...REJECTION_CODES]);
    });

    it('uses the codes the decoder really produces', () => {
      const data = { intentId: 'run-1', agentId: 'support-assistant', task: 'What is the status of account acc-001?' };
      const envelope = { specversion: '1.0', id: 'event-1', source: 'urn:test', type: EventTypes.IntentSubmitted, time: '2026-11-21T09:30:00Z', data };
      const json = (value: unknown) => Buffer.from(JSON.stringify(value), 'utf8');
      const cases: Array<[(typeof DECODER_CODES)[number], Buffer | null, DecodeOptions]> = [
        ['empty', null, {}],
        ['oversized', Buffer.alloc(2048, 0x20), { maxBytes: 1024 }],
        ['malformed_json', Buffer.from('{"specversion": "1.0", "id": '), {}],
        ['invalid_envelope', json({ ...envelope, time: '2026-11-21T09:30:00' }), {}],
        ['invalid_envelope', json({ ...envelope, govmeshsig: 'not-a-signature' }), {}],
        ['invalid_envelope', json({ ...envelope, govmeshsig: 'A'.repeat(86), govmeshsigner: 'operator' }), {}],
        ['unknown_type', json({ ...envelope, type: 'govmesh.intent.teleported.v9' }), {}],
        ['unexpected_type', json(envelope), { topic: Topics.results }],
        ['schema_invalid', json({ ...envelope, data: { ...data, extra: true } }), {}],
        ['key_too_long', json(envelope), { key: 'k'.repeat(200) }],
        ['unstorable_text', json({ ...envelope, data: { ...data, task: 'status of acc-001\u0000' } }), {}],
      ];
      expect([...new Set(cases.map(([code]) => code))].sort()).toEqual([...DECODER_CODES].sort());
      for (const [code, value, options] of cases) {
        const decoded = decodeEvent(value, options);
        expect({ code, got: decoded.ok ? 'accepted' : decoded.rejection.code }).toEqual({ code, got: code });
      }
    });

    it('leaves the policy refusals to policy: the decoder accepts an unsigned or a well-formed signed intent', () => {
      const data = { intentId: 'run-1', agentId: 'support-assistant', task: 'What is the status of account acc-001?' };
      const envelope = { specversion: '1.0', id: 'event-1', source: 'urn:test', type: EventTypes.IntentSubmitted, time: '2026-11-21T09:30:00Z', data };
      for (const value of [envelope, { ...envelope, govmeshsig: 'A'.repeat(86), govmeshsigner: 'agent' }, { ...envelope, govmeshsig: 'A'.repeat(86), govmeshsigner: 'ingress' }]) {
        const decoded = decodeEvent(Buffer.from(JSON.stringify(value), 'utf8'), { topic: Topics.intents });
        expect(decoded.ok ? 'accepted' : decoded.rejection.code).toBe('accepted');
      }
    });
  });

  describe('JSON examples', () => {
    const examples = (() => {
      const found: Array<Record<string, unknown>> = [];
      for (const match of doc.matchAll(/```json\n([\s\S]*?)```/g)) {
        const value = JSON.parse(match[1]) as unknown;
        if (value && typeof value === 'object' && 'specversion' in value) found.push(value as Record<string, unknown>);
      }
      return found;
    })();

    it('has a full example of an intent and of a result', () => {
      const types = examples.map((e) => e['type']);
      expect(types).toEqual(expect.arrayContaining([EventTypes.IntentSubmitted, EventTypes.RunCompleted]));
    });

    it('shows only events that govmesh would accept on their topic, keyed by their run', () => {
      for (const example of examples) {
        const type = String(example['type']);
        const topic = type in EVENT_CATALOG ? EVENT_CATALOG[type as keyof typeof EVENT_CATALOG].topic : undefined;
        const decoded = decodeEvent(Buffer.from(JSON.stringify(example), 'utf8'), { topic });
        expect({ type, rejection: decoded.ok ? null : decoded.rejection }).toEqual({ type, rejection: null });
        const data = example['data'] as { runId?: string; intentId?: string };
        const runId = data.runId ?? data.intentId;
        expect({ type, subject: example['subject'], correlationid: example['correlationid'] }).toEqual({ type, subject: runId, correlationid: runId });
      }
    });
  });
});
