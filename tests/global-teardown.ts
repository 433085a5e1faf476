import type { RunningEmulator } from './emulators/start-emulator';

export default async function globalTeardown(): Promise<void> {
  const started = (globalThis as { __changefeedEmulators?: RunningEmulator[] }).__changefeedEmulators ?? [];
  await Promise.all(started.map((e) => e.stop()));
}
