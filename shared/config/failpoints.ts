import { ValidationError } from '../errors';

/**
 * Test hooks: named places where a test may crash the process on purpose, to prove that nothing
 * is lost or doubled when the real process dies there. Set with
 * `CHANGEFEED_FAILPOINT=<name>:<action>[,...]`; without that variable no failpoint exists, and a
 * production deployment never sets it. Only a service's main.ts reads it.
 */
export const FAILPOINTS = {
  /** A publish group was acknowledged by the bus; its snapshot commit has not happened yet. */
  pollerAfterPublish: 'poller.after-publish',
  /** A `dlq replay` step was republished and acknowledged; its dead letters are not removed yet. */
  dlqAfterRepublish: 'dlq.after-republish',
  /** A delivered batch is durably in the warehouse; the bus has not recorded its acks yet. */
  loaderAfterAppend: 'loader.after-append',
} as const;
export type FailpointName = (typeof FAILPOINTS)[keyof typeof FAILPOINTS];

/** `kill`: SIGKILL this process (no cleanup at all). `throw`: fail the operation with an error. */
export type FailpointAction = 'kill' | 'throw';

const NAMES = new Set<string>(Object.values(FAILPOINTS));

export function parseFailpoints(value: string | undefined): ReadonlyMap<FailpointName, FailpointAction> {
  const out = new Map<FailpointName, FailpointAction>();
  if (value === undefined || value.trim() === '') return out;
  for (const item of value.split(',')) {
    const [name = '', action = ''] = item.trim().split(':');
    if (!NAMES.has(name)) {
      throw new ValidationError(`CHANGEFEED_FAILPOINT: unknown failpoint "${name}" (known: ${[...NAMES].join(', ')})`, [
        { path: 'CHANGEFEED_FAILPOINT', message: `unknown failpoint "${name}"` },
      ]);
    }
    if (action !== 'kill' && action !== 'throw') {
      throw new ValidationError(`CHANGEFEED_FAILPOINT: action for "${name}" must be kill or throw, got "${action}"`, [
        { path: 'CHANGEFEED_FAILPOINT', message: 'expected kill or throw' },
      ]);
    }
    out.set(name as FailpointName, action);
  }
  return out;
}

/**
 * What to run at failpoint `name`: nothing when `CHANGEFEED_FAILPOINT` does not name it. `kill` is
 * the caller's own SIGKILL (main.ts owns the process), so that this module never touches it.
 */
export function failpointHook(
  failpoints: ReadonlyMap<FailpointName, FailpointAction>,
  name: FailpointName,
  kill: () => void,
): (() => void) | undefined {
  switch (failpoints.get(name)) {
    case 'kill':
      return kill;
    case 'throw':
      return () => {
        throw new Error(`failpoint ${name}`);
      };
    case undefined:
      return undefined;
  }
}
