import { Headers, Topics, type Rejection } from '@govmesh/contracts';
import type { IncomingMessage, OutgoingMessage } from './transport';

/**
 * A dead letter keeps the original bytes, key and headers untouched and adds the reason and
 * where the message came from as headers, so an operator can read, fix and replay it.
 */
export function deadLetterFor(message: IncomingMessage, rejection: Rejection, consumerGroup: string): OutgoingMessage {
  return {
    topic: Topics.deadLetters,
    key: message.key,
    value: message.value ?? Buffer.alloc(0),
    headers: {
      ...message.headers,
      [Headers.dlqReasonCode]: rejection.code,
      [Headers.dlqReason]: rejection.message.slice(0, 2000),
      [Headers.dlqOriginalTopic]: message.topic,
      [Headers.dlqOriginalPartition]: String(message.partition),
      [Headers.dlqOriginalOffset]: message.offset,
      [Headers.dlqConsumerGroup]: consumerGroup,
      [Headers.dlqFailedAt]: new Date().toISOString(),
    },
  };
}
