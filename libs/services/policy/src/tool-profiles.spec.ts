import { compareVersions, newestPerTool, supersedes } from '@govmesh/contracts';
import type { ToolProfileChange } from './tool-profiles';

const change = (name: string, version: string, changedAt: string, status: ToolProfileChange['status'] = 'active'): ToolProfileChange => ({
  name,
  version,
  status,
  sideEffect: 'read',
  classification: 'internal',
  maxTier: null,
  resourceArgument: null,
  resourceKind: null,
  changedAt,
});

describe('tool profile versions', () => {
  it.each([
    ['1.0.0', '1.0.0', 0],
    ['1.0.1', '1.0.0', 1],
    ['1.10.0', '1.9.0', 1],
    ['10.0.0', '9.5.0', 1],
    ['0.9.9', '1.0.0', -1],
  ])('compares %s with %s by number', (a, b, sign) => {
    expect(Math.sign(compareVersions(a, b))).toBe(sign);
  });

  it('lets a newer version win whatever its time, and of one version the later event', () => {
    expect(supersedes({ version: '2.0.0', changedAt: '2026-01-01T00:00:00Z' }, { version: '1.0.0', changedAt: '2026-06-01T00:00:00Z' })).toBe(true);
    expect(supersedes({ version: '1.0.0', changedAt: '2026-06-01T00:00:00Z' }, { version: '2.0.0', changedAt: '2026-01-01T00:00:00Z' })).toBe(false);
    expect(supersedes({ version: '1.0.0', changedAt: '2026-01-01T00:00:01Z' }, { version: '1.0.0', changedAt: '2026-01-01T00:00:00.500Z' })).toBe(true);
    expect(supersedes({ version: '1.0.0', changedAt: '2026-01-01T00:00:00Z' }, { version: '1.0.0', changedAt: '2026-01-01T00:00:01Z' })).toBe(false);
  });

  it('keeps the newest change of each tool of a batch, whatever the order they came in', () => {
    const kept = newestPerTool([
      change('a.x', '2.0.0', '2026-01-01T00:00:00Z'),
      change('b.y', '1.0.0', '2026-01-01T00:00:00Z'),
      change('a.x', '1.0.0', '2026-02-01T00:00:00Z'),
      change('b.y', '1.0.0', '2026-01-02T00:00:00Z', 'retired'),
    ]);
    expect(kept.map((c) => [c.name, c.version, c.status])).toEqual([
      ['a.x', '2.0.0', 'active'],
      ['b.y', '1.0.0', 'retired'],
    ]);
  });
});
