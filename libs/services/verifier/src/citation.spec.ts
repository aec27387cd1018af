import { citationProblem, compareCitation, excerpt, EXCERPT_MAX, type Citation } from './citation';

const TEXT = 'Clause 1. The supplier delivers within 10 days.\nClause 2. Notice of non-renewal: at least 90 days before the end date.\nClause 3. Notice by e-mail is valid.';
const QUOTE = 'at least 90 days before the end date';
const AT = TEXT.indexOf(QUOTE);
const record = (extra: Record<string, unknown> = {}) => ({ documentId: 'doc-1', version: '2', text: TEXT, sha256: 'f'.repeat(64), ...extra });
const cite = (extra: Partial<Citation> = {}): Citation => ({ document: 'doc-1', version: '2', quote: QUOTE, offset: AT, ...extra });

describe('compareCitation', () => {
  it('passes when the quote starts exactly at the cited offset of the cited version', () => {
    expect(compareCitation(cite(), record())).toMatchObject({ result: 'pass', code: 'citation_check_passed', evidence: { observed: { atOffset: QUOTE, foundAt: [AT], length: TEXT.length } } });
  });

  it('passes when the quote is anywhere and no offset is cited; lists where it occurs', () => {
    const outcome = compareCitation(cite({ quote: 'Notice', offset: undefined }), record());
    expect(outcome).toMatchObject({ result: 'pass', evidence: { observed: { foundAt: [TEXT.indexOf('Notice'), TEXT.lastIndexOf('Notice')] } } });
    expect(outcome.evidence.cited).not.toHaveProperty('offset');
  });

  it('another version than the cited one is a version mismatch, whatever its text says', () => {
    const outcome = compareCitation(cite(), record({ version: '3' }));
    expect(outcome).toMatchObject({ result: 'mismatch', code: 'citation_version_mismatch', evidence: { cited: { version: '2' }, observed: { version: '3' } } });
    expect(outcome.message).toBe('cites doc-1 version 2, but the system of record answered version "3": the quote is not looked for in another version than the cited one');
  });

  it('versions are compared as they are: "02" is not "2"', () => {
    expect(compareCitation(cite({ version: '02' }), record()).code).toBe('citation_version_mismatch');
  });

  it('another document than the cited one is a mismatch; a record without documentId is taken as the one asked for', () => {
    expect(compareCitation(cite(), record({ documentId: 'doc-2' })).code).toBe('citation_document_mismatch');
    const { documentId: _, ...anonymous } = record();
    expect(compareCitation(cite(), anonymous).result).toBe('pass');
  });

  it('the quote elsewhere than cited is an offset mismatch naming where it is and what is at the offset', () => {
    const outcome = compareCitation(cite({ offset: AT - 3 }), record());
    expect(outcome).toMatchObject({ result: 'mismatch', code: 'citation_offset_mismatch', evidence: { observed: { foundAt: [AT], atOffset: TEXT.slice(AT - 3, AT - 3 + QUOTE.length) } } });
    expect(outcome.message).toContain(`does not start at the cited code point ${AT - 3} of doc-1 version 2, where the text is "${TEXT.slice(AT - 3, AT - 3 + QUOTE.length)}"; it occurs at ${AT}`);
    expect(compareCitation(cite({ offset: 10_000 }), record()).message).toContain(`(the text has ${TEXT.length} code points); it occurs at ${AT}`);
  });

  it('a quote that is nowhere is not found, at the offset or anywhere', () => {
    expect(compareCitation(cite({ quote: 'at least 60 days' }), record())).toMatchObject({ result: 'mismatch', code: 'citation_not_found', evidence: { observed: { foundAt: [] } } });
    expect(compareCitation(cite({ quote: 'at least 60 days', offset: undefined }), record()).code).toBe('citation_not_found');
  });

  it('matches exactly: no case, whitespace or Unicode normalisation', () => {
    for (const quote of ['At least 90 days before the end date', 'at least 90  days before the end date', 'before the end date. Clause 3']) {
      expect({ quote, code: compareCitation(cite({ quote, offset: undefined }), record()).code }).toEqual({ quote, code: 'citation_not_found' });
    }
    // é precomposed in the text, e + combining acute in the quote
    expect(compareCitation(cite({ quote: 'caf\u0065\u0301', offset: undefined }), record({ text: 'un caf\u00e9' })).code).toBe('citation_not_found');
  });

  it('offsets count code points, not UTF-16 units', () => {
    const text = '𝒜 clause: ☃ snow 𝒜 clause: rain';
    // '𝒜' is two UTF-16 units but one code point
    expect(text.indexOf('clause: rain')).toBe(21);
    expect(compareCitation(cite({ quote: 'clause: rain', offset: 19 }), record({ text })).result).toBe('pass');
    expect(compareCitation(cite({ quote: 'clause: rain', offset: 21 }), record({ text })).code).toBe('citation_offset_mismatch');
    const elsewhere = compareCitation(cite({ quote: 'clause', offset: 0 }), record({ text }));
    expect(elsewhere).toMatchObject({ code: 'citation_offset_mismatch', evidence: { observed: { foundAt: [2, 19] } } });
    expect(elsewhere.evidence.observed.length).toBe(Array.from(text).length);
  });

  it('a quote never matches half of a character', () => {
    const text = 'a 😀 b';
    const lowHalf = '😀'.charAt(1);
    expect(compareCitation(cite({ quote: lowHalf, offset: undefined }), record({ text }))).toMatchObject({ code: 'citation_not_found' });
  });

  it('a read that answered no text or no version string cannot confirm', () => {
    expect(compareCitation(cite(), { documentId: 'doc-1', version: '2' })).toMatchObject({ result: 'error', code: 'citation_read_failed', message: 'the read answered no document version: its output has no string `text`' });
    expect(compareCitation(cite(), { text: TEXT, version: 2 })).toMatchObject({ result: 'error', code: 'citation_read_failed', message: expect.stringContaining('no string `version`') });
    expect(compareCitation(cite(), undefined)).toMatchObject({ result: 'error', code: 'citation_read_failed', message: expect.stringContaining('`text` and `version`') });
  });

  it('keeps bounded evidence, never the document', () => {
    const long = `${'x'.repeat(5000)} ${QUOTE} ${'y'.repeat(5000)}`;
    const quote = `${'x'.repeat(300)} ${QUOTE}`;
    const outcome = compareCitation(cite({ quote, offset: 0 }), record({ text: long }));
    expect(outcome.code).toBe('citation_offset_mismatch');
    const evidence = JSON.stringify(outcome.evidence);
    expect(evidence.length).toBeLessThan(1000);
    expect(Array.from(outcome.evidence.cited.quote)).toHaveLength(EXCERPT_MAX);
    expect(outcome.evidence.cited.quoteLength).toBe(Array.from(quote).length);
    expect(Array.from(outcome.evidence.observed.atOffset!)).toHaveLength(EXCERPT_MAX);
    expect(outcome.message.length).toBeLessThan(1000);
  });
});

describe('citationProblem', () => {
  it('refuses an empty quote, a lone surrogate and an offset that is no position', () => {
    expect(citationProblem({ quote: '' })?.code).toBe('citation_quote_empty');
    expect(citationProblem({ quote: 'a\ud800b' })?.code).toBe('citation_quote_invalid');
    for (const offset of [-1, 1.5, Number.NaN, '3', 1e12]) expect({ offset, code: citationProblem({ quote: 'a', offset })?.code }).toEqual({ offset, code: 'citation_offset_invalid' });
    expect(citationProblem({ quote: 'a', offset: 0 })).toBeNull();
    expect(citationProblem({ quote: '😀' })).toBeNull();
  });
});

describe('excerpt', () => {
  it('cuts by code points and says so', () => {
    expect(excerpt('short')).toBe('short');
    expect(excerpt('😀'.repeat(10), 4)).toBe('😀😀😀…');
  });
});
