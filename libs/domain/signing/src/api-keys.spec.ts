import { generateApiKey, parseApiKey } from './index';

describe('API keys', () => {
  it('are gm_<12 lowercase letters or digits>_<43 base64url characters of 32 random bytes>', () => {
    const { id, secret, key } = generateApiKey();
    expect(id).toMatch(/^[a-z0-9]{12}$/);
    expect(secret).toMatch(/^[A-Za-z0-9_-]{43}$/);
    expect(Buffer.from(secret, 'base64url')).toHaveLength(32);
    expect(key).toBe(`gm_${id}_${secret}`);
  });

  it('are different every time', () => {
    const keys = Array.from({ length: 200 }, generateApiKey);
    expect(new Set(keys.map((k) => k.id)).size).toBe(200);
    expect(new Set(keys.map((k) => k.secret)).size).toBe(200);
  });

  it('parse back to their id and secret, even when the secret contains underscores', () => {
    const generated = generateApiKey();
    expect(parseApiKey(generated.key)).toEqual({ id: generated.id, secret: generated.secret });
    expect(parseApiKey(`  ${generated.key}\n`)).toEqual({ id: generated.id, secret: generated.secret });
    const underscored = `gm_abc123def456_${'_'.repeat(42)}A`;
    expect(parseApiKey(underscored)).toEqual({ id: 'abc123def456', secret: `${'_'.repeat(42)}A` });
  });

  it.each([
    ['empty', ''],
    ['another prefix', `gx_abc123def456_${'A'.repeat(43)}`],
    ['an upper-case id', `gm_ABC123DEF456_${'A'.repeat(43)}`],
    ['a short id', `gm_abc123def45_${'A'.repeat(43)}`],
    ['a short secret', `gm_abc123def456_${'A'.repeat(42)}`],
    ['a long secret', `gm_abc123def456_${'A'.repeat(44)}`],
    ['a secret in standard base64', `gm_abc123def456_${'A'.repeat(42)}+`],
    ['a non-canonical secret', `gm_abc123def456_${'A'.repeat(42)}B`],
    ['a bearer prefix', `Bearer gm_abc123def456_${'A'.repeat(43)}`],
    ['not a string', 42 as unknown as string],
  ])('refuse %s', (_what, text) => {
    expect(parseApiKey(text)).toBeNull();
  });
});
