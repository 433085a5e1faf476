/**
 * Starts an emulator process on loopback for the tests (tests/global-setup.ts) and the benchmarks
 * (bench/pubsub-delivery.ts). It lives under bench/ because bench/ compiles on its own into
 * bench/dist and may not import from tests/, while the tests may import from bench/
 * (tests/emulators/start-emulator.ts re-exports this file).
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import { createServer, connect } from 'node:net';

/** An emulator process listening on loopback. */
export interface RunningEmulator {
  readonly name: string;
  /** `127.0.0.1:<port>`, the form the `*_EMULATOR_HOST` variables take. */
  readonly hostPort: string;
  /** `127.0.0.1:<port>` for each of the spec's `extraPorts`, in order. */
  readonly extraHostPorts: readonly string[];
  /**
   * The emulator's process group (its launcher's pid), so that a benchmark can read the CPU it
   * used; undefined if the spawn gave no pid.
   */
  readonly pid: number | undefined;
  stop(): Promise<void>;
}

export interface EmulatorSpec {
  readonly name: string;
  readonly command: string;
  readonly args: (port: number, extraPorts: readonly number[]) => string[];
  /** How many more ports the process listens on (e.g. gRPC beside REST); all must accept before it counts as started. */
  readonly extraPorts?: number;
  /** What to tell a user whose machine lacks it. */
  readonly installHint: string;
  readonly startTimeoutMs?: number;
  readonly env?: NodeJS.ProcessEnv;
}

/** A port nobody listens on right now (the emulator binds it a moment later). */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      const port = typeof address === 'object' && address !== null ? address.port : 0;
      server.close(() => resolve(port));
    });
  });
}

function accepts(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = connect({ port, host: '127.0.0.1' });
    socket.once('connect', () => {
      socket.destroy();
      resolve(true);
    });
    socket.once('error', () => resolve(false));
  });
}

/**
 * Starts an emulator in its own process group (the gcloud launchers are shell scripts that start
 * java, and killing only the script would leave java running) and waits until its port accepts
 * connections.
 */
export async function startEmulator(spec: EmulatorSpec): Promise<RunningEmulator> {
  if (!existsSync(spec.command)) {
    throw new Error(`${spec.name} emulator not found at ${spec.command}. ${spec.installHint}`);
  }
  const port = await freePort();
  const extraPorts: number[] = [];
  while (extraPorts.length < (spec.extraPorts ?? 0)) {
    const extra = await freePort();
    if (extra !== port && !extraPorts.includes(extra)) extraPorts.push(extra);
  }
  const child: ChildProcess = spawn(spec.command, spec.args(port, extraPorts), {
    detached: true,
    stdio: ['ignore', 'pipe', 'pipe'],
    env: { ...process.env, ...spec.env },
  });
  let output = '';
  const keep = (d: Buffer): void => {
    output = (output + d.toString()).slice(-4000);
  };
  child.stdout?.on('data', keep);
  child.stderr?.on('data', keep);
  let exited = false;
  child.once('exit', () => {
    exited = true;
  });
  const stop = async (): Promise<void> => {
    if (exited || child.pid === undefined) return;
    const done = new Promise<void>((resolve) => child.once('exit', () => resolve()));
    try {
      process.kill(-child.pid, 'SIGTERM');
    } catch {
      return;
    }
    const timer = setTimeout(() => {
      try {
        if (child.pid !== undefined) process.kill(-child.pid, 'SIGKILL');
      } catch {
        // already gone
      }
    }, 5000);
    await done;
    clearTimeout(timer);
  };
  const deadline = Date.now() + (spec.startTimeoutMs ?? 60_000);
  const allAccept = async (): Promise<boolean> =>
    (await Promise.all([port, ...extraPorts].map((p) => accepts(p)))).every(Boolean);
  while (!(await allAccept())) {
    if (exited) throw new Error(`${spec.name} emulator exited before listening:\n${output}`);
    if (Date.now() > deadline) {
      await stop();
      throw new Error(
        `${spec.name} emulator did not listen on port ${port} within ${spec.startTimeoutMs ?? 60_000} ms:\n${output}`,
      );
    }
    await new Promise((r) => setTimeout(r, 100));
  }
  return {
    name: spec.name,
    hostPort: `127.0.0.1:${port}`,
    extraHostPorts: extraPorts.map((p) => `127.0.0.1:${p}`),
    pid: child.pid,
    stop,
  };
}
