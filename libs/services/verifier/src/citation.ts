/**
 * Citation checks: the quoted text exists in the cited version of a document, at the cited offset.
 *
 * The citation is what the verified call says (the check's CEL expressions over `arguments`,
 * `output` and `claim`); the document version is what a read tool answers when the gateway runs
 * it under the verifier's identity. Matching is exact: no case, whitespace or Unicode
 * normalisation, so a quote that differs only in spacing is not found. Offsets count Unicode
 * code points from 0 (not UTF-16 units, not bytes). Evidence is bounded: the cited quote and the
 * text at the cited offset are cut to EXCERPT_MAX code points, and the document is never kept.
 */

/** What a call cites. */
export interface Citation {
  document: string;
  version: string;
  quote: string;
  /** Where the quote starts, in code points; absent: anywhere. */
  offset?: number;
}

/** The longest excerpt (of the quote, or of the text at the cited offset) kept as evidence. */
export const EXCERPT_MAX = 200;
/** How many places of the quote in the text are listed as evidence. */
const PLACES_LISTED = 5;
/** The largest offset a citation may name. */
const OFFSET_MAX = 100_000_000;

export type CitationOutcome =
  | { result: 'pass'; code: 'citation_check_passed'; message: string; evidence: CitationEvidence }
  | { result: 'mismatch'; code: 'citation_version_mismatch' | 'citation_document_mismatch' | 'citation_not_found' | 'citation_offset_mismatch'; message: string; evidence: CitationEvidence }
  | { result: 'error'; code: 'citation_read_failed'; message: string; evidence: CitationEvidence };

/** What was cited and what the system of record answered, bounded: never the whole document. */
export interface CitationEvidence {
  cited: { documentId: string; version: string; quote: string; quoteLength: number; offset?: number };
  observed: {
    documentId?: unknown;
    version?: unknown;
    /** The text's length in code points. */
    length?: number;
    sha256?: string;
    /** The text at the cited offset, as long as the quote (at most EXCERPT_MAX code points). */
    atOffset?: string;
    /** Where the quote occurs (code points), the first few. */
    foundAt?: number[];
  };
}

/** A string cut to EXCERPT_MAX code points, with `…` when cut. */
export function excerpt(text: string, max = EXCERPT_MAX): string {
  const points = Array.from(text);
  return points.length > max ? `${points.slice(0, max - 1).join('')}…` : text;
}

/** Why a cited quote or offset cannot be checked, or null when it can. */
export function citationProblem(citation: { quote: string; offset?: unknown }): { code: 'citation_quote_empty' | 'citation_quote_invalid' | 'citation_offset_invalid'; message: string } | null {
  if (citation.quote.length === 0) return { code: 'citation_quote_empty', message: 'the quote is empty: an empty quote occurs everywhere and proves nothing' };
  // A lone surrogate could match half of a character.
  if (/\p{Surrogate}/u.test(citation.quote)) return { code: 'citation_quote_invalid', message: 'the quote is not well-formed Unicode (it holds a lone surrogate)' };
  const offset = citation.offset;
  if (offset !== undefined && !(typeof offset === 'number' && Number.isInteger(offset) && offset >= 0 && offset <= OFFSET_MAX)) {
    return { code: 'citation_offset_invalid', message: `the offset must be an integer from 0 to ${OFFSET_MAX} (code points), not ${String(offset).slice(0, 40)}` };
  }
  return null;
}

/** How many code points the UTF-16 units [from, to) of `text` hold. */
function codePointsBetween(text: string, from: number, to: number): number {
  let points = 0;
  for (let i = from; i < to; i++) {
    const unit = text.charCodeAt(i);
    // A high surrogate followed by a low one is one code point.
    if (unit >= 0xd800 && unit <= 0xdbff && i + 1 < to) {
      const next = text.charCodeAt(i + 1);
      if (next >= 0xdc00 && next <= 0xdfff) i++;
    }
    points++;
  }
  return points;
}

/** Where the quote occurs in the text (code points), the first `limit` places, each starting on a whole code point. */
function placesOf(text: string, quote: string, limit: number): number[] {
  const places: number[] = [];
  let unit = 0;
  let point = 0;
  for (let at = text.indexOf(quote); at !== -1 && places.length < limit; at = text.indexOf(quote, at + 1)) {
    // A match starting on the low half of a surrogate pair is inside a character: not a place.
    const previous = at > 0 ? text.charCodeAt(at - 1) : 0;
    const current = text.charCodeAt(at);
    if (previous >= 0xd800 && previous <= 0xdbff && current >= 0xdc00 && current <= 0xdfff) continue;
    point += codePointsBetween(text, unit, at);
    unit = at;
    places.push(point);
  }
  return places;
}

const quoted = (text: string) => JSON.stringify(excerpt(text));

/**
 * Checks a citation against the document version a read tool answered (its output): `version`
 * must be the cited one, `documentId` (when the tool answers one) the cited document, and the
 * quote must occur in `text` at the cited offset (or anywhere when none is cited).
 */
export function compareCitation(citation: Citation, record: Record<string, unknown> | undefined): CitationOutcome {
  const { document, version, quote, offset } = citation;
  const quoteLength = Array.from(quote).length;
  const evidence: CitationEvidence = { cited: { documentId: document, version, quote: excerpt(quote), quoteLength, ...(offset !== undefined ? { offset } : {}) }, observed: {} };
  const where = `${document} version ${version}`;
  const text = record?.['text'];
  const observedVersion = record?.['version'];
  if (record) {
    if (record['documentId'] !== undefined) evidence.observed.documentId = record['documentId'];
    if (observedVersion !== undefined) evidence.observed.version = typeof observedVersion === 'string' ? excerpt(observedVersion, 64) : observedVersion;
    if (typeof record['sha256'] === 'string') evidence.observed.sha256 = excerpt(record['sha256'], 128);
  }
  if (typeof text !== 'string' || typeof observedVersion !== 'string') {
    const lacks = [typeof text !== 'string' ? '`text`' : '', typeof observedVersion !== 'string' ? '`version`' : ''].filter(Boolean).join(' and ');
    return { result: 'error', code: 'citation_read_failed', message: `the read answered no document version: its output has no string ${lacks}`, evidence };
  }
  if (record?.['documentId'] !== undefined && record['documentId'] !== document) {
    return { result: 'mismatch', code: 'citation_document_mismatch', message: `cites document ${document}, but the read answered document ${JSON.stringify(record['documentId']).slice(0, 80)}`, evidence };
  }
  if (observedVersion !== version) {
    return {
      result: 'mismatch',
      code: 'citation_version_mismatch',
      message: `cites ${where}, but the system of record answered version ${JSON.stringify(excerpt(observedVersion, 64))}: the quote is not looked for in another version than the cited one`,
      evidence,
    };
  }
  const points = Array.from(text);
  evidence.observed.length = points.length;
  const places = placesOf(text, quote, PLACES_LISTED);
  evidence.observed.foundAt = places;
  const exact = '(compared exactly: no case, whitespace or Unicode normalisation)';
  if (offset === undefined) {
    if (places.length > 0) {
      return { result: 'pass', code: 'citation_check_passed', message: `the quote ${quoted(quote)} occurs in ${where} at code point ${places[0]} (no offset cited)`, evidence };
    }
    return { result: 'mismatch', code: 'citation_not_found', message: `the quote ${quoted(quote)} (${quoteLength} code points) does not occur in ${where} (${points.length} code points) ${exact}`, evidence };
  }
  const there = points.slice(offset, offset + quoteLength).join('');
  evidence.observed.atOffset = excerpt(there);
  if (there === quote) {
    return { result: 'pass', code: 'citation_check_passed', message: `the quote ${quoted(quote)} occurs in ${where} at code point ${offset}, as cited`, evidence };
  }
  if (places.length === 0) {
    return { result: 'mismatch', code: 'citation_not_found', message: `the quote ${quoted(quote)} (${quoteLength} code points) does not occur in ${where} (${points.length} code points) ${exact}, at code point ${offset} or anywhere`, evidence };
  }
  const beyond = offset >= points.length ? ` (the text has ${points.length} code points)` : `, where the text is ${quoted(there)}`;
  return {
    result: 'mismatch',
    code: 'citation_offset_mismatch',
    message: `the quote ${quoted(quote)} does not start at the cited code point ${offset} of ${where}${beyond}; it occurs at ${places.join(', ')}${places.length === PLACES_LISTED ? ' and perhaps further' : ''}`,
    evidence,
  };
}
