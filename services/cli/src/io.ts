/** What a command may touch of the outside world; main.ts passes the real ones, tests their own. */
export interface CliIo {
  readonly stdout: NodeJS.WritableStream & { readonly isTTY?: boolean; readonly columns?: number };
  readonly stderr: NodeJS.WritableStream;
  readonly env: Readonly<Record<string, string | undefined>>;
  readonly cwd: string;
}

/** A command's outcome: the process exit code. */
export type ExitCode = 0 | 1 | 2;

/** Exit codes: 0 success, 1 the work failed, 2 the command was used wrongly (bad flags, bad config). */
export const Exit = { ok: 0, failed: 1, usage: 2 } as const satisfies Record<string, ExitCode>;
