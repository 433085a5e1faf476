/** One page of a source API's response, already unwrapped to its records. */
export interface SourcePage {
  readonly records: readonly unknown[];
  /** Size of the response body, for metrics. */
  readonly bytes: number;
}

export interface FetchOptions {
  readonly signal?: AbortSignal;
  /** Extra query parameters for every page request, e.g. an incremental batch's cursor. */
  readonly query?: Readonly<Record<string, string>>;
}

/** Reads a source's full current state, page by page, with retries, timeouts and rate limits. */
export interface SourceClient {
  fetchPages(options?: FetchOptions): AsyncIterable<SourcePage>;
}
