/**
 * Text Postgres can store. Postgres `text` and `jsonb` cannot hold U+0000, and `jsonb` refuses an
 * unpaired UTF-16 surrogate (`"\ud800"` in JSON, which JSON.parse accepts), while `text` silently
 * turns one into U+FFFD. A record that carries such text is stored with it escaped, losslessly:
 *
 * - a string that holds U+0000 or an unpaired surrogate, or that starts with the marker
 *   `STORABLE_TEXT_MARKER`, is stored as the marker followed by the string with every `\` doubled
 *   and every U+0000 or unpaired surrogate written as `\u` and four lowercase hex digits;
 * - every other string is stored as it is.
 *
 * So an escaped string always starts with the marker, an unescaped one never does, and
 * `fromStorableText` gives back exactly the original. Object keys are escaped the same way.
 */
export const STORABLE_TEXT_MARKER = 'govmesh-escaped:';

/** U+0000, or a surrogate without its other half. */
// eslint-disable-next-line no-control-regex -- U+0000 is exactly what this looks for
const UNSTORABLE = /\u0000|[\ud800-\udbff](?![\udc00-\udfff])|(?<![\ud800-\udbff])[\udc00-\udfff]/;
const UNSTORABLE_ALL = new RegExp(UNSTORABLE.source, 'g');

/** Whether Postgres can store the string as it is (no U+0000, no unpaired surrogate). */
export function isStorableText(s: string): boolean {
  return !UNSTORABLE.test(s);
}

const hex4 = (c: string) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`;

/** The string as it is stored: itself, or escaped (see the module comment). */
export function toStorableString(s: string): string {
  if (isStorableText(s) && !s.startsWith(STORABLE_TEXT_MARKER)) return s;
  return STORABLE_TEXT_MARKER + s.replace(/\\/g, '\\\\').replace(UNSTORABLE_ALL, hex4);
}

/** The original of a stored string. */
export function fromStorableString(s: string): string {
  if (!s.startsWith(STORABLE_TEXT_MARKER)) return s;
  return s.slice(STORABLE_TEXT_MARKER.length).replace(/\\(\\|u[0-9a-f]{4})/g, (_, e: string) => (e === '\\' ? '\\' : String.fromCharCode(parseInt(e.slice(1), 16))));
}

function mapStrings(value: unknown, f: (s: string) => string): unknown {
  if (typeof value === 'string') return f(value);
  if (Array.isArray(value)) return value.map((v) => mapStrings(v, f));
  if (value && typeof value === 'object') {
    const out: Record<string, unknown> = {};
    for (const [k, v] of Object.entries(value)) out[f(k)] = mapStrings(v, f);
    return out;
  }
  return value;
}

/** A JSON value with every string and key made storable; other values untouched. */
export function toStorable<T>(value: T): T {
  return mapStrings(value, toStorableString) as T;
}

/** The original of a value `toStorable` made. */
export function fromStorable<T>(value: T): T {
  return mapStrings(value, fromStorableString) as T;
}

/** A string with U+0000 and unpaired surrogates shown as `\uXXXX`, for a message a human reads. */
export function showUnstorable(s: string): string {
  return s.replace(UNSTORABLE_ALL, hex4);
}
