/**
 * The message of anything thrown, for log lines and for wrapping in an `AppError`.
 *
 * Anything with a string `message` counts, not only `instanceof Error`: errors from a native
 * binding (DuckDB) or from another realm (jest's VM context) fail `instanceof Error` but still
 * carry their message. Anything else is shown as JSON where it has a JSON form (a rejected plain
 * object says what it holds, not `[object Object]`), else as `String(e)`.
 */
export function errorMessage(e: unknown): string {
  if (typeof e === 'object' && e !== null && 'message' in e && typeof e.message === 'string') return e.message;
  if (typeof e === 'string') return e;
  try {
    // undefined, functions and symbols have no JSON form: stringify answers undefined for them.
    return JSON.stringify(e) ?? String(e);
  } catch {
    // BigInts and cyclic objects throw.
    return String(e);
  }
}
