import { BadRequestException } from '@nestjs/common';

/**
 * A whole-number query parameter in range: undefined when absent, otherwise the number or a 400
 * `invalid_query` naming the parameter. Digits only: no sign, exponent, fraction or spaces.
 */
export function wholeNumber(field: string, text: string | undefined, min: number, max: number): number | undefined {
  if (text === undefined) return undefined;
  const n = /^[0-9]{1,16}$/.test(text) ? Number(text) : NaN;
  if (!Number.isSafeInteger(n) || n < min || n > max) {
    throw new BadRequestException({ code: 'invalid_query', message: `${field} must be a whole number from ${min} to ${max}`, fields: [{ field, problem: `is not a whole number from ${min} to ${max}` }] });
  }
  return n;
}
