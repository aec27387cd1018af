import { validateEventData } from './codec';
import { EventTypes } from './catalog';

describe('policies of govmesh.intent.decided.v1 and govmesh.action.decided.v1', () => {
  const intent = { runId: 'r-1', agentId: 'support-assistant', effect: 'allow', reasons: [{ code: 'permitted_by_policy', message: 'ok' }], policyVersion: '0123456789abcdef', intent: { intentId: 'r-1', agentId: 'support-assistant', task: 'x' } };
  const action = { runId: 'r-1', stepId: 'act#3', effect: 'deny', reasons: [{ code: 'no_permit', message: 'denied by default' }], policyVersion: '0123456789abcdef' };

  it.each([
    [EventTypes.IntentDecided, intent],
    [EventTypes.ActionDecided, action],
  ] as const)('%s: optional (older events still validate), empty allowed, at most 64 ids of 1-128 chars', (type, data) => {
    expect(validateEventData(type, data)).toBeNull();
    expect(validateEventData(type, { ...data, policies: [] })).toBeNull();
    expect(validateEventData(type, { ...data, policies: ['classification-above-clearance', 'x'.repeat(128)] })).toBeNull();
    expect(validateEventData(type, { ...data, policies: Array.from({ length: 64 }, (_, i) => `p${i}`) })).toBeNull();
    expect(validateEventData(type, { ...data, policies: Array.from({ length: 65 }, (_, i) => `p${i}`) })?.code).toBe('schema_invalid');
    expect(validateEventData(type, { ...data, policies: ['x'.repeat(129)] })?.code).toBe('schema_invalid');
    expect(validateEventData(type, { ...data, policies: [''] })?.code).toBe('schema_invalid');
    expect(validateEventData(type, { ...data, policies: 'p1' })?.code).toBe('schema_invalid');
  });
});
