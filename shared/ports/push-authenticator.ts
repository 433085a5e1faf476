/** What an authentication check of a push request decided; a refusal is answered with its status and no detail. */
export type PushAuthResult = { readonly ok: true } | { readonly ok: false; readonly status: 401 | 403 };

/**
 * Checks a push request's credentials, e.g. the OIDC token Pub/Sub signs for a push subscription
 * (https://cloud.google.com/pubsub/docs/authenticate-push-subscriptions). Rejecting means "could
 * not check" (say, the signing keys could not be fetched): the request is answered 503 and retried.
 */
export type PushAuthenticator = (request: { readonly authorization: string | undefined }) => Promise<PushAuthResult>;
