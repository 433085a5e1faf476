/** What `changefeed gcp setup` found or did for one resource. */
export interface ResourceReport {
  readonly kind: 'topic' | 'subscription' | 'dataset';
  /** What it is for, e.g. `events topic`, `loader pull subscription`. */
  readonly role: string;
  /** The full name: `projects/p/topics/t`, `p.dataset`. */
  readonly name: string;
  /** `skipped`: not changefeed's to create here (see `notes`). */
  readonly status: 'created' | 'exists' | 'skipped';
  /**
   * Where an existing resource differs from what the config asks for in a way that matters;
   * setup leaves it as it is.
   */
  readonly warnings: readonly string[];
  /** Anything else worth a line: why it was skipped, a setting adjusted to the service's range. */
  readonly notes: readonly string[];
}
