import { Headers, Topics } from '@govmesh/contracts';
import { deadLetterFor } from './dead-letter';
import type { IncomingMessage } from './transport';

const original: IncomingMessage = {
  topic: Topics.toolCommands,
  partition: 4,
  offset: '1337',
  key: 'run-42',
  value: Buffer.from([0x7b, 0x22, 0xff, 0x00, 0xfe]),
  headers: { 'content-type': 'application/cloudevents+json; charset=UTF-8', ce_type: 'govmesh.tool.requested.v1', traceparent: '00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01' },
  timestamp: '1793000000000',
};

describe('deadLetterFor', () => {
  it('sends the original bytes, key and headers to the dead-letter topic untouched', () => {
    const dead = deadLetterFor(original, { code: 'malformed_json', message: 'value is not JSON: Unexpected token' }, 'govmesh.tool-gateway');
    expect(dead.topic).toBe(Topics.deadLetters);
    expect(dead.key).toBe('run-42');
    expect(dead.value.equals(Buffer.from([0x7b, 0x22, 0xff, 0x00, 0xfe]))).toBe(true);
    for (const [name, value] of Object.entries(original.headers)) expect(dead.headers[name]).toBe(value);
  });

  it('adds why it failed and where it came from, so an operator can replay it', () => {
    const before = Date.now();
    const dead = deadLetterFor(original, { code: 'schema_invalid', message: 'data of govmesh.tool.requested.v1 is invalid: /grant must be object' }, 'govmesh.tool-gateway');
    expect(dead.headers).toMatchObject({
      [Headers.dlqReasonCode]: 'schema_invalid',
      [Headers.dlqReason]: 'data of govmesh.tool.requested.v1 is invalid: /grant must be object',
      [Headers.dlqOriginalTopic]: 'govmesh.commands.tool',
      [Headers.dlqOriginalPartition]: '4',
      [Headers.dlqOriginalOffset]: '1337',
      [Headers.dlqConsumerGroup]: 'govmesh.tool-gateway',
    });
    const failedAt = Date.parse(dead.headers[Headers.dlqFailedAt]);
    expect(failedAt).toBeGreaterThanOrEqual(before - 1);
    expect(failedAt).toBeLessThanOrEqual(Date.now());
  });

  it('does not change the message it was given', () => {
    const headersBefore = { ...original.headers };
    deadLetterFor(original, { code: 'handler_failed', message: 'boom' }, 'g');
    expect(original.headers).toEqual(headersBefore);
  });

  it('keeps a message that had no value as empty bytes, and keeps a missing key missing', () => {
    const dead = deadLetterFor({ ...original, key: null, value: null }, { code: 'empty', message: 'message has no value' }, 'g');
    expect(dead.key).toBeNull();
    expect(dead.value.length).toBe(0);
    expect(dead.headers[Headers.dlqReasonCode]).toBe('empty');
  });

  it('cuts a very long reason to 2000 characters so the headers stay small', () => {
    const dead = deadLetterFor(original, { code: 'handler_failed', message: 'x'.repeat(10000) }, 'g');
    expect(dead.headers[Headers.dlqReason]).toHaveLength(2000);
  });

  it('describes the latest failure when a replayed dead letter fails again', () => {
    const first = deadLetterFor(original, { code: 'handler_failed', message: 'first' }, 'g1');
    const replayed: IncomingMessage = { ...original, topic: Topics.toolCommands, offset: '2000', headers: first.headers };
    const second = deadLetterFor(replayed, { code: 'schema_invalid', message: 'second' }, 'g2');
    expect(second.headers[Headers.dlqReason]).toBe('second');
    expect(second.headers[Headers.dlqConsumerGroup]).toBe('g2');
    expect(second.headers[Headers.dlqOriginalOffset]).toBe('2000');
    expect(second.headers['ce_type']).toBe('govmesh.tool.requested.v1');
  });
});
