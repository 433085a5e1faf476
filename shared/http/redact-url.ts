/** What replaces a secret in a URL that is logged or put in an error message. */
export const REDACTED = 'REDACTED';

/**
 * Query parameters that carry credentials often enough that they are hidden even when no auth
 * config names them (an API key pasted into `request.url` must not reach the logs either).
 */
const USUAL_SECRET_PARAMS = [
  'api_key',
  'apikey',
  'api-key',
  'key',
  'token',
  'access_token',
  'auth',
  'secret',
  'client_secret',
  'password',
  'signature',
  'sig',
];

/**
 * `url` with the values of secret query parameters and any userinfo replaced by `REDACTED`, for
 * logs and error messages. `secretParams` adds names (compared case-insensitively) to the usual ones.
 * Text that is not a URL is returned with everything after `?` hidden.
 */
export function redactUrl(url: string | URL, secretParams: readonly string[] = []): string {
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    const text = String(url);
    const q = text.indexOf('?');
    return q < 0 ? text : `${text.slice(0, q)}?${REDACTED}`;
  }
  const secrets = new Set([...USUAL_SECRET_PARAMS, ...secretParams].map((p) => p.toLowerCase()));
  if (parsed.username !== '') parsed.username = REDACTED;
  if (parsed.password !== '') parsed.password = REDACTED;
  for (const name of [...new Set(parsed.searchParams.keys())]) {
    if (secrets.has(name.toLowerCase())) parsed.searchParams.set(name, REDACTED);
  }
  return parsed.toString();
}
