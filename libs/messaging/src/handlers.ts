import 'reflect-metadata';
import type { EventType, GovmeshEvent, Rejection } from '@govmesh/contracts';
import type { IncomingMessage } from './transport';
import type { UnitOfWork } from './unit-of-work';

/** An event as a handler receives it: decoded and validated, with the message it came in. */
export interface Consumed<T extends EventType = EventType> {
  event: GovmeshEvent<T>;
  message: IncomingMessage;
  /** Where the event holds text Postgres cannot store as is; only for a handler that `acceptsUnstorableText`. */
  unstorableAt?: string;
}

/**
 * Handles the events of the types it declares, a whole consumed batch at once, inside the batch's
 * one transaction. Declared with `@HandlesEvents` on a provider and discovered at start.
 */
export interface BatchEventHandler<T extends EventType = EventType> {
  handle(events: ReadonlyArray<Consumed<T>>, uow: UnitOfWork): Promise<void>;
}

/** Handles raw messages of a topic that is not decoded (the dead-letter topic). */
export interface RawMessageHandler {
  handleRaw(messages: readonly IncomingMessage[], uow: UnitOfWork): Promise<void>;
  /**
   * Keeps, with its reason, a message `handleRaw` kept failing on, in its own transaction. Only
   * for the dead-letter topic, where such a message has nowhere else to go: it is never published
   * to the dead-letter topic again. Without it, the message is only logged and counted.
   */
  setAside?(message: IncomingMessage, rejection: Rejection): Promise<void>;
}

export interface HandlerDeclaration extends HandlerOptions {
  service: string;
  types: readonly EventType[];
  /** Raw topics (not decoded) this handler reads. */
  rawTopics: readonly string[];
}

export interface HandlerOptions {
  /** Trade latency for larger batches: wait up to this long for more messages. */
  lingerMs?: number;
  /**
   * Types this handler takes even when their text cannot be stored in Postgres as is (U+0000, an
   * unpaired surrogate): it escapes or refuses such events itself (`Consumed.unstorableAt` says
   * where the text is). Other handlers never see them; with none taking the type, the event is
   * dead-lettered as `unstorable_text`.
   */
  acceptsUnstorableText?: readonly EventType[];
  /**
   * Topics this handler only observes (the audit ledger): another service consumes them and
   * dead-letters what cannot be decoded there, so this service's consumer does not dead-letter it
   * again (whichever of its handlers says so): it counts it in
   * `govmesh_rejections_left_to_owner_total` and goes on. Its own handlers' failures are still
   * dead-lettered.
   */
  deadLetteredElsewhere?: readonly string[];
}

export interface HandlerRegistration extends HandlerDeclaration {
  name: string;
  handler: Partial<BatchEventHandler & RawMessageHandler>;
}

const HANDLER_METADATA = 'govmesh:handles-events';

/** Declares a provider as the handler of `types` for `service`. */
export function HandlesEvents(service: string, types: readonly EventType[], options: HandlerOptions = {}): ClassDecorator {
  return (target) => {
    Reflect.defineMetadata(HANDLER_METADATA, { service, types, rawTopics: [], ...options } satisfies HandlerDeclaration, target);
  };
}

/** Declares a provider as the raw handler of `topics` (not decoded) for `service`. */
export function HandlesRawTopics(service: string, topics: readonly string[], options: HandlerOptions = {}): ClassDecorator {
  return (target) => {
    Reflect.defineMetadata(HANDLER_METADATA, { service, types: [], rawTopics: topics, ...options } satisfies HandlerDeclaration, target);
  };
}

/** The declaration of a handler instance, if its class has one. */
export function handlerDeclarationOf(instance: unknown): HandlerDeclaration | undefined {
  if (!instance || typeof instance !== 'object') return undefined;
  return Reflect.getMetadata(HANDLER_METADATA, (instance as object).constructor) as HandlerDeclaration | undefined;
}

export function registrationOf(instance: object): HandlerRegistration | undefined {
  const declaration = handlerDeclarationOf(instance);
  return declaration ? { ...declaration, name: instance.constructor.name, handler: instance as HandlerRegistration['handler'] } : undefined;
}

const PERFORMER_METADATA = 'govmesh:performs-effects';

/** Declares a provider (an EffectPerformer) as performing side effects for `service`. */
export function PerformsEffects(service: string): ClassDecorator {
  return (target) => {
    Reflect.defineMetadata(PERFORMER_METADATA, service, target);
  };
}

/** The service a performer instance works for, if its class is declared as one. */
export function performerServiceOf(instance: unknown): string | undefined {
  if (!instance || typeof instance !== 'object') return undefined;
  return Reflect.getMetadata(PERFORMER_METADATA, (instance as object).constructor) as string | undefined;
}
