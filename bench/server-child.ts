import { spawn } from 'node:child_process';
import { createInterface } from 'node:readline';

/** A server script of this folder running in its own process. */
export interface ServerChild<R> {
  /** The URL the child printed once it was listening. */
  readonly url: string;
  /** SIGTERM, then the JSON object the child printed as its last stdout line before exiting 0. */
  stop(): Promise<R>;
}

const STDERR_TAIL_CHARS = 4000;

/**
 * Starts `node [nodeArgs] script args` and resolves once the child printed `{"url": ...}` as a
 * stdout line. The server runs in its own process so that the load generator in this process
 * neither shares its event loop nor counts in its CPU profile.
 */
export function startServerChild<R>(
  script: string,
  args: readonly string[],
  options: { readonly nodeArgs?: readonly string[]; readonly readyTimeoutMs?: number } = {},
): Promise<ServerChild<R>> {
  const child = spawn(process.execPath, [...(options.nodeArgs ?? []), script, ...args], {
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const what = `${script} ${args.join(' ')}`;
  let stderr = '';
  child.stderr.setEncoding('utf8').on('data', (chunk: string) => {
    stderr = (stderr + chunk).slice(-STDERR_TAIL_CHARS);
  });
  const lines: string[] = [];
  const exited = new Promise<number | null>((resolve, reject) => {
    child.on('error', reject);
    child.on('close', resolve);
  });

  return new Promise<ServerChild<R>>((resolve, reject) => {
    let ready = false;
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`${what} printed no URL within ${options.readyTimeoutMs ?? 30_000} ms:\n${stderr}`));
    }, options.readyTimeoutMs ?? 30_000);
    createInterface({ input: child.stdout }).on('line', (line) => {
      lines.push(line);
      if (ready) return;
      const url = urlOf(line);
      if (url === undefined) return;
      ready = true;
      clearTimeout(timer);
      resolve({
        url,
        stop: async () => {
          child.kill('SIGTERM');
          const code = await exited;
          if (code !== 0) throw new Error(`${what} exited with ${String(code)} when stopped:\n${stderr}`);
          const last = lines.at(-1) ?? '';
          try {
            return JSON.parse(last) as R;
          } catch {
            throw new Error(`${what} printed no JSON report; its last line was: ${last.slice(0, 500)}`);
          }
        },
      });
    });
    exited.then(
      (code) => {
        if (ready) return;
        clearTimeout(timer);
        reject(new Error(`${what} exited with ${String(code)} before listening:\n${stderr}`));
      },
      (e: unknown) => {
        clearTimeout(timer);
        reject(e instanceof Error ? e : new Error(String(e)));
      },
    );
  });
}

function urlOf(line: string): string | undefined {
  try {
    const parsed: unknown = JSON.parse(line);
    if (typeof parsed === 'object' && parsed !== null && 'url' in parsed && typeof parsed.url === 'string') {
      return parsed.url;
    }
  } catch {
    // Not the ready line.
  }
  return undefined;
}
