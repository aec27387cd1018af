/**
 * What a system sends back may carry the credential the connector sent it (an API that echoes the
 * request's key, a "who am I" answer, a debug field). Nothing a system answers is allowed to carry
 * a connection's credential further: the connectors scrub it from what they return, so that it
 * reaches no event, ledger row, prompt or answer.
 */

export const REDACTED = '[redacted]';

/** Shorter values are not scrubbed: they would mangle ordinary text (a connection's secret is longer). */
export const MIN_SCRUBBED_LENGTH = 8;

/**
 * The texts to scrub for these credential values (header values as sent, for instance): each value
 * whole, each of its words (`Bearer <token>` gives the token), and for HTTP Basic the decoded
 * `user:password` and the password; longest first, at least `MIN_SCRUBBED_LENGTH` characters.
 */
export function credentialWords(values: readonly string[]): string[] {
  const words = new Set<string>();
  for (const value of values) {
    words.add(value);
    for (const word of value.split(/\s+/)) words.add(word);
    const basic = /^basic\s+([A-Za-z0-9+/]+={0,2})$/i.exec(value.trim());
    if (basic) {
      const decoded = Buffer.from(basic[1], 'base64').toString('utf8');
      words.add(decoded);
      if (decoded.includes(':')) words.add(decoded.slice(decoded.indexOf(':') + 1));
    }
  }
  return [...words].filter((w) => w.length >= MIN_SCRUBBED_LENGTH).sort((a, b) => b.length - a.length);
}

export function scrubText(text: string, words: readonly string[]): string {
  let scrubbed = text;
  for (const word of words) if (scrubbed.includes(word)) scrubbed = scrubbed.split(word).join(REDACTED);
  return scrubbed;
}

/** A copy of a JSON value with every credential word replaced in its strings and keys. */
export function scrubJson<T>(value: T, words: readonly string[]): T {
  if (words.length === 0) return value;
  const walk = (v: unknown): unknown => {
    if (typeof v === 'string') return scrubText(v, words);
    if (Array.isArray(v)) return v.map(walk);
    if (v !== null && typeof v === 'object') return Object.fromEntries(Object.entries(v).map(([k, x]) => [scrubText(k, words), walk(x)]));
    return v;
  };
  return walk(value) as T;
}
