import { spawn, type ChildProcess } from 'node:child_process';
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { createInterface } from 'node:readline';
import { REPO_ROOT } from './measure';

const CLI = path.join(REPO_ROOT, 'bin', 'changefeed.js');

/** The demo API as its own process (`changefeed demo-api`), as both tools see it: over loopback HTTP. */
export class DemoApiProcess {
  private constructor(
    private readonly child: ChildProcess,
    readonly url: string,
    private readonly carts: number,
    private readonly seed: number,
  ) {}

  static async start(options: { carts: number; seed: number }): Promise<DemoApiProcess> {
    const child = spawn(
      process.execPath,
      [
        CLI,
        'demo-api',
        '--port',
        '0',
        '--carts',
        String(options.carts),
        '--changes-per-second',
        '0',
        '--seed',
        String(options.seed),
      ],
      { stdio: ['ignore', 'pipe', 'inherit'] },
    );
    if (child.stdout === null) throw new Error('the demo API child has no stdout');
    const lines = createInterface({ input: child.stdout });
    const url = await new Promise<string>((resolve, reject) => {
      child.once('exit', (code) => reject(new Error(`the demo API exited with ${String(code)} before listening`)));
      lines.on('line', (line) => {
        const match = /^demo API on (http:\/\/\S+): /.exec(line);
        if (match?.[1] !== undefined) resolve(match[1]);
      });
    });
    return new DemoApiProcess(child, url, options.carts, options.seed);
  }

  /** Back to the initial carts, with the mutator's sequence restarted: every tool sees the same data and churn. */
  async reset(carts = this.carts): Promise<void> {
    await this.admin('/admin/reset', { carts, seed: this.seed });
  }

  /** Applies `count` reproducible mutations; returns a digest of what they were, to compare runs. */
  async mutate(count: number): Promise<string> {
    const body = await this.admin('/admin/mutate', { count });
    return createHash('sha256').update(JSON.stringify(body)).digest('hex').slice(0, 16);
  }

  async cartCount(): Promise<number> {
    const response = await fetch(`${this.url}/admin/stats`);
    const stats = (await response.json()) as { carts: number };
    return stats.carts;
  }

  /** Peak resident memory of the API process so far (Linux), or null where /proc is not there. */
  peakRssBytes(): number | null {
    try {
      const status = readFileSync(`/proc/${String(this.child.pid)}/status`, 'utf8');
      const match = /VmHWM:\s+(\d+) kB/.exec(status);
      return match?.[1] === undefined ? null : Number(match[1]) * 1024;
    } catch {
      return null;
    }
  }

  async stop(): Promise<void> {
    if (this.child.exitCode !== null) return;
    const exited = new Promise((resolve) => this.child.once('exit', resolve));
    this.child.kill('SIGTERM');
    await exited;
  }

  private async admin(route: string, body: unknown): Promise<unknown> {
    const response = await fetch(`${this.url}${route}`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify(body),
    });
    if (!response.ok) throw new Error(`demo API ${route} answered ${response.status}: ${await response.text()}`);
    return response.status === 204 ? null : await response.json();
  }
}
