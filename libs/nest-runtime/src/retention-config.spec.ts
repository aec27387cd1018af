import { INBOX_RETENTION_MIN_DAYS, toGovmeshConfig, validateEnvironment } from './config';

describe('retention settings', () => {
  it('keeps inbox ids 30 days, dead letters and run timelines 90 days by default', () => {
    expect(toGovmeshConfig(validateEnvironment({}), 'telemetry', 8087).retention).toEqual({ inboxDays: 30, deadLetterDays: 90, runTimelineDays: 90, intervalMinutes: 60 });
  });

  it('refuses an inbox retention shorter than a redelivery can come, and takes 0 as forever', () => {
    expect(() => validateEnvironment({ GOVMESH_RETENTION_INBOX_DAYS: '3' })).toThrow(/GOVMESH_RETENTION_INBOX_DAYS.*shorter than a redelivery can come/);
    expect(() => validateEnvironment({ GOVMESH_RETENTION_INBOX_DAYS: String(INBOX_RETENTION_MIN_DAYS - 1) })).toThrow(/GOVMESH_RETENTION_INBOX_DAYS/);
    expect(validateEnvironment({ GOVMESH_RETENTION_INBOX_DAYS: '0' })).toMatchObject({ GOVMESH_RETENTION_INBOX_DAYS: 0 });
    expect(validateEnvironment({ GOVMESH_RETENTION_INBOX_DAYS: String(INBOX_RETENTION_MIN_DAYS) })).toMatchObject({ GOVMESH_RETENTION_INBOX_DAYS: INBOX_RETENTION_MIN_DAYS });
  });

  it('names a negative retention and a baseline warm-up below one run', () => {
    expect(() => validateEnvironment({ GOVMESH_RETENTION_DEAD_LETTERS_DAYS: '-1' })).toThrow(/GOVMESH_RETENTION_DEAD_LETTERS_DAYS/);
    expect(() => validateEnvironment({ GOVMESH_BASELINE_MIN_RUNS: '0' })).toThrow(/GOVMESH_BASELINE_MIN_RUNS/);
  });
});
