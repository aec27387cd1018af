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
    const fields: FieldProblem[] = (validate.errors ?? []).slice(0, 10).map((e) => {
      const extra = e.params && 'additionalProperty' in e.params ? String(e.params['additionalProperty']) : undefined;
      const missing = e.params && 'missingProperty' in e.params ? String(e.params['missingProperty']) : undefined;
      const field = `${e.instancePath}${extra ? `/${extra}` : missing ? `/${missing}` : ''}` || '/';
      return { field, problem: extra ? 'is not a known field' : missing ? 'is required' : (e.message ?? 'is invalid') };
    });
    throw new BadRequestException({ code, message: fields.map((f) => `${f.field} ${f.problem}`).join('; '), fields });
  }
  const unstorable = findUnstorableText(body);
  if (unstorable) throw new BadRequestException({ code: 'unstorable_text', message: `text at ${unstorable} contains U+0000, which cannot be stored`, fields: [{ field: unstorable, problem: 'contains U+0000' }] });
  return body as Static<S>;
}
