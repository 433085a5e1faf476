/**
 * A message as it goes onto the bus: the CloudEvent in Pub/Sub binary content mode, i.e. the event
 * data as the payload and every context attribute as a `ce-*` message attribute.
 * https://github.com/cloudevents/spec/blob/main/cloudevents/bindings/google-cloud-pubsub-protocol-binding.md
 */
export interface OutboundMessage {
  /** The CloudEvent id; used to match publish outcomes to events. */
  readonly id: string;
  readonly orderingKey: string;
  readonly data: Buffer;
  readonly attributes: Readonly<Record<string, string>>;
}

export type PublishOutcome =
  | { readonly id: string; readonly ok: true; readonly messageId: string }
  | { readonly id: string; readonly ok: false; readonly error: Error };

export interface EventPublisher {
  /**
   * Publishes every message and settles once each has been acknowledged or has failed. Never
   * rejects for a per-message failure: the outcome says which messages the bus durably holds,
   * so the caller can commit exactly those.
   */
  publish(messages: readonly OutboundMessage[]): Promise<PublishOutcome[]>;
  close(): Promise<void>;
}
