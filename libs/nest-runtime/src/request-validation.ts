import { BadRequestException } from '@nestjs/common';
import Ajv, { type ValidateFunction } from 'ajv';
import addFormats from 'ajv-formats';
import type { Static, TSchema } from '@sinclair/typebox';
import { findUnstorableText } from '@govmesh/contracts';

const ajv = new Ajv({ allErrors: true, strict: false });
addFormats(ajv);
const compiled = new WeakMap<TSchema, ValidateFunction>();

export interface FieldProblem {
  /** JSON pointer of the field, `/` for the body itself. */
  field: string;
  problem: string;
}

/**
 * Checks a request body against its schema: a 400 naming every offending field (length, type,
 * unknown property, format), never a 500 from the database later. Text with U+0000 is refused too,
 * since Postgres cannot store it.
 */
export function validateRequest<S extends TSchema>(schema: S, body: unknown, code = 'invalid_request'): Static<S> {
  let validate = compiled.get(schema);
  if (!validate) {
    validate = ajv.compile(schema);
    compiled.set(schema, validate);
  }
  if (!validate(body)) {
    // One problem per field; a union of constants (an enum) is said as the values it allows.
    const byField = new Map<string, string>();
    const allowed = new Map<string, string[]>();
    for (const e of validate.errors ?? []) {
      const extra = e.params && 'additionalProperty' in e.params ? String(e.params['additionalProperty']) : undefined;
      const missing = e.params && 'missingProperty' in e.params ? String(e.params['missingProperty']) : undefined;
      const field = `${e.instancePath}${extra ? `/${extra}` : missing ? `/${missing}` : ''}` || '/';
      if (e.keyword === 'const') allowed.set(field, [...(allowed.get(field) ?? []), String(e.params['allowedValue'])]);
      else if (!byField.has(field) || e.keyword === 'anyOf') byField.set(field, extra ? 'is not a known field' : missing ? 'is required' : (e.message ?? 'is invalid'));
    }
    for (const [field, values] of allowed) byField.set(field, `must be one of ${values.join(', ')}`);
    const fields: FieldProblem[] = [...byField].slice(0, 10).map(([field, problem]) => ({ field, problem }));
    throw new BadRequestException({ code, message: fields.map((f) => `${f.field} ${f.problem}`).join('; '), fields });
  }
  const unstorable = findUnstorableText(body);
  if (unstorable) throw new BadRequestException({ code: 'unstorable_text', message: `text at ${unstorable} contains U+0000, which cannot be stored`, fields: [{ field: unstorable, problem: 'contains U+0000' }] });
  return body as Static<S>;
}
