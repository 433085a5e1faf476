import winston from 'winston';
export { logProcessWarnings } from './process-warnings';

/**
 * JSON lines that Cloud Logging parses into structured entries: `severity` instead of winston's
 * `level`, `message`, and the `logging.googleapis.com/*` special keys.
 * https://cloud.google.com/logging/docs/structured-logging#special-payload-fields
 */
export type Logger = winston.Logger;

export const LogLevel = {
  error: 'error',
  warn: 'warn',
  info: 'info',
  debug: 'debug',
} as const;
export type LogLevel = (typeof LogLevel)[keyof typeof LogLevel];

const SEVERITY: Readonly<Record<string, string>> = {
  error: 'ERROR',
  warn: 'WARNING',
  info: 'INFO',
  http: 'INFO',
  verbose: 'DEBUG',
  debug: 'DEBUG',
  silly: 'DEBUG',
};

const cloudLoggingFormat = winston.format((info) => {
  const out = info as winston.Logform.TransformableInfo & Record<string, unknown>;
  out['severity'] = SEVERITY[info.level] ?? 'DEFAULT';
  const err = out['error'];
  if (err instanceof Error) {
    out['error'] = { message: err.message, name: err.name, code: (err as { code?: unknown }).code };
  }
  return out;
});

export interface LoggerOptions {
  readonly level?: LogLevel;
  /** Where lines go; stdout by default. Tests pass a stream to read what was logged. */
  readonly stream?: NodeJS.WritableStream;
  /** More destinations, each with its own minimum level (e.g. a log file at info, stderr at warn). */
  readonly streams?: readonly { readonly stream: NodeJS.WritableStream; readonly level?: LogLevel }[];
  readonly silent?: boolean;
}

export function createLogger(component: string, options: LoggerOptions = {}): Logger {
  return winston.createLogger({
    level: options.level ?? 'info',
    silent: options.silent ?? false,
    defaultMeta: { component },
    format: winston.format.combine(
      cloudLoggingFormat(),
      winston.format.timestamp({ alias: 'time' }),
      winston.format.json(),
    ),
    transports:
      options.streams !== undefined
        ? options.streams.map((s) => new winston.transports.Stream({ stream: s.stream, level: s.level }))
        : [
            options.stream === undefined
              ? new winston.transports.Console({ stderrLevels: [] })
              : new winston.transports.Stream({ stream: options.stream }),
          ],
  });
}

/** A logger that drops everything; for tests and tools that print their own output. */
export function createSilentLogger(): Logger {
  return createLogger('silent', { silent: true });
}

/** The trace key Cloud Logging uses to group a request's lines under its trace. */
export function traceField(projectId: string | undefined, traceHeader: string | undefined): Record<string, string> {
  if (projectId === undefined || traceHeader === undefined) return {};
  const traceId = traceHeader.split('/')[0];
  if (traceId === undefined || traceId === '') return {};
  return { 'logging.googleapis.com/trace': `projects/${projectId}/traces/${traceId}` };
}
