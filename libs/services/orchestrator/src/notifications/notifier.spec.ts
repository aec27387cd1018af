import { NOTIFICATION_TEXT_LIMIT, reviewerNotificationText } from './notifier';

describe('reviewerNotificationText', () => {
  const facts = { event: 'arrived' as const, kind: 'approval' as const, itemId: 'ap-7', runId: 'run-42', agentId: 'finance-agent', asked: 'approve payments.transfer to ACME' };

  it('carries the essentials: kind, run, agent, what is asked, amount, level, due time and the API path', () => {
    const text = reviewerNotificationText({ ...facts, amount: { value: 82000, currency: 'EUR' }, level: 2, dueAt: new Date('2026-11-21T10:00:00Z') });
    expect(text).toBe(
      [
        '[govmesh] New approval waiting for review',
        'Asked: approve payments.transfer to ACME',
        'Run: run-42 | Agent: finance-agent',
        'Amount: 82000 EUR',
        'Level: 2',
        'Due: 2026-11-21T10:00:00.000Z',
        'Open: GET /v1/approvals/ap-7',
      ].join('\n'),
    );
  });

  it('leaves out what is absent and points escalations at /v1/escalations', () => {
    const text = reviewerNotificationText({ ...facts, event: 'escalated', kind: 'escalation', itemId: 'es-1' });
    expect(text).toBe(['[govmesh] Escalated to you: escalation', 'Asked: approve payments.transfer to ACME', 'Run: run-42 | Agent: finance-agent', 'Open: GET /v1/escalations/es-1'].join('\n'));
    expect(reviewerNotificationText({ ...facts, kind: 'checkpoint', event: 'sla_near' })).toContain('Open: GET /v1/approvals/ap-7');
  });

  it('neutralizes chat markup and control characters in untrusted text, and stays under the limit', () => {
    const text = reviewerNotificationText({ ...facts, asked: 'pay <!channel> <https://evil.example|click>\n\u0007now' + 'x'.repeat(10000), agentId: 'a'.repeat(500) });
    expect(text).not.toMatch(/[<>]/);
    expect(text).not.toContain('\u0007');
    expect(text).toContain('pay ‹!channel› ‹https://evil.example|click› now');
    expect(text.length).toBeLessThanOrEqual(NOTIFICATION_TEXT_LIMIT);
    expect(text.split('\n')).toHaveLength(4);
  });
});
