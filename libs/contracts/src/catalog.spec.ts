import { EVENT_CATALOG, eventKey, EventTypes, eventsOnTopic, isKnownEventType, isRunScoped } from './catalog';
import { TOPIC_REGISTRY, Topics, topicSpec } from './topics';

describe('event catalog and topic registry', () => {
  it('lists every event type exactly once, under its own type', () => {
    const types = Object.values(EventTypes);
    expect(new Set(types).size).toBe(types.length);
    expect(Object.keys(EVENT_CATALOG).sort()).toEqual([...types].sort());
    for (const [type, definition] of Object.entries(EVENT_CATALOG)) expect(definition.type).toBe(type);
  });

  it('names event types govmesh.<entity>.<event>.v<N>', () => {
    for (const type of Object.values(EventTypes)) expect(type).toMatch(/^govmesh\.[a-z]+\.[a-z]+\.v[1-9][0-9]*$/);
  });

  it('sends every event type over a topic that the registry provisions', () => {
    const registered = new Set(TOPIC_REGISTRY.map((t) => t.name));
    for (const definition of Object.values(EVENT_CATALOG)) {
      expect({ type: definition.type, registered: registered.has(definition.topic) }).toEqual({ type: definition.type, registered: true });
    }
  });

  it('registers every named topic once, and nothing else', () => {
    const names = TOPIC_REGISTRY.map((t) => t.name);
    expect(new Set(names).size).toBe(names.length);
    expect([...names].sort()).toEqual(Object.values(Topics).sort());
  });

  it('keys every run topic by run id, so one run stays in order on one partition, and registry topics by entity id', () => {
    for (const definition of Object.values(EVENT_CATALOG)) {
      const expected = isRunScoped(definition.type) ? 'runId' : 'entityId';
      expect({ type: definition.type, key: topicSpec(definition.topic)?.key }).toEqual({ type: definition.type, key: expected });
    }
    expect(topicSpec(Topics.deadLetters)?.key).toBe('none');
  });

  it('takes the key of an event from the field its type declares', () => {
    expect(eventKey(EventTypes.IntentSubmitted, { intentId: 'run-1', agentId: 'a', task: 't' })).toBe('run-1');
    expect(eventKey(EventTypes.ContextRequested, { runId: 'run-2', stepId: 's', agentId: 'a', query: 'q', limit: 1 })).toBe('run-2');
    expect(
      eventKey(EventTypes.AgentChanged, { agentId: 'agent-7', change: 'registered', agent: { version: '1', owner: 'o', tier: 'assist', status: 'active' }, actor: { kind: 'system', id: 'seed' } }),
    ).toBe('agent-7');
  });

  it('gives every run event a run id in its data, which is what the runId key is taken from', () => {
    for (const definition of Object.values(EVENT_CATALOG).filter((d) => isRunScoped(d.type))) {
      const properties = (definition.schema as unknown as { properties: Record<string, unknown>; required?: string[] }).properties;
      const required = (definition.schema as unknown as { required?: string[] }).required ?? [];
      const runIdField = definition.type === EventTypes.IntentSubmitted ? 'intentId' : 'runId';
      expect({ type: definition.type, has: runIdField in properties && required.includes(runIdField) }).toEqual({ type: definition.type, has: true });
    }
  });

  it('gives every topic at least one partition, a producer and a consumer', () => {
    for (const t of TOPIC_REGISTRY) {
      expect(t.partitions).toBeGreaterThanOrEqual(1);
      expect(t.producers.length).toBeGreaterThan(0);
      expect(t.consumers.length).toBeGreaterThan(0);
    }
  });

  it('routes every step outcome back to the orchestrator on the outcomes topic', () => {
    expect(eventsOnTopic(Topics.outcomes).sort()).toEqual(
      [EventTypes.ContextRetrieved, EventTypes.ModelCompleted, EventTypes.ToolExecuted, EventTypes.VerificationCompleted].sort(),
    );
    expect(eventsOnTopic('govmesh.nope')).toEqual([]);
  });

  it('knows catalog types and nothing inherited from Object', () => {
    expect(isKnownEventType(EventTypes.RunCompleted)).toBe(true);
    expect(isKnownEventType('toString')).toBe(false);
    expect(isKnownEventType('__proto__')).toBe(false);
    expect(topicSpec('govmesh.unknown')).toBeUndefined();
  });
});
