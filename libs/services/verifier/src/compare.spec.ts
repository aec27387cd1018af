import { compareClaim } from './compare';

const what = 'sandbox account acc-001';
const record = { holder: 'Ada Lovelace', status: 'active', balanceCents: 125000, tags: ['vip'], address: { city: 'London' } };

describe('compareClaim', () => {
  it('confirms a claim that the system of record reads back, listing the fields checked', () => {
    const claimed = { holder: 'Ada Lovelace', status: 'active', balanceCents: 125000 };
    expect(compareClaim(claimed, record, what)).toEqual({
      verdict: 'confirmed',
      reasons: [{ code: 'read_back_matches', message: 'sandbox account acc-001 read back from the system of record matches the claim (holder, status, balanceCents)' }],
    });
  });

  it('compares nested values by content, not by reference', () => {
    expect(compareClaim({ tags: ['vip'], address: { city: 'London' } }, record, what).verdict).toBe('confirmed');
    expect(compareClaim({ address: { city: 'Paris' } }, record, what).verdict).toBe('mismatch');
  });

  it('reports a mismatch naming the field, the claimed value and the recorded value', () => {
    const result = compareClaim({ holder: 'Ada Lovelace', balanceCents: 8200000 }, record, what);
    expect(result).toEqual({
      verdict: 'mismatch',
      reasons: [{ code: 'field_mismatch', message: 'sandbox account acc-001: balanceCents claimed 8200000 but the record says 125000' }],
    });
  });

  it('gives one reason per differing field', () => {
    const result = compareClaim({ holder: 'Grace Hopper', status: 'frozen', balanceCents: 125000 }, record, what);
    expect(result.verdict).toBe('mismatch');
    expect(result.reasons.map((r) => r.message)).toEqual([
      'sandbox account acc-001: holder claimed "Grace Hopper" but the record says "Ada Lovelace"',
      'sandbox account acc-001: status claimed "frozen" but the record says "active"',
    ]);
  });

  it('does not confirm a number claimed as a string', () => {
    const result = compareClaim({ balanceCents: '125000' }, record, what);
    expect(result.verdict).toBe('mismatch');
    expect(result.reasons[0].message).toBe('sandbox account acc-001: balanceCents claimed "125000" but the record says 125000');
  });

  it('reports a claimed field the record does not have as a mismatch', () => {
    const result = compareClaim({ overdraftLimit: 5000 }, record, what);
    expect(result.verdict).toBe('mismatch');
    expect(result.reasons[0].message).toBe('sandbox account acc-001: overdraftLimit claimed 5000 but the record says undefined');
  });

  it('reports a record that does not exist as not_found', () => {
    expect(compareClaim({ holder: 'Ada Lovelace' }, undefined, 'sandbox account acc-999')).toEqual({
      verdict: 'not_found',
      reasons: [{ code: 'record_not_found', message: 'sandbox account acc-999 does not exist in the system of record' }],
    });
  });
});

describe('compareClaim with nothing claimed', () => {
  it('does not confirm a claim that names no fields', () => {
    const result = compareClaim({}, { status: 'active' }, 'sandbox account acc-001');
    expect(result.verdict).toBe('mismatch');
    expect(result.reasons[0].code).toBe('empty_claim');
  });
});
