import { spawn } from 'node:child_process';
import { ROOT } from './process.js';

export interface CliRun {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
  /** Milliseconds from spawn to exit. */
  ms: number;
}

/**
 * Runs `node dist/bundle/cli.js <args>` (`npm run cli`) with only the given environment; `stdin` is
 * piped (not a TTY) and closed. A run still going after `timeoutMs` is
 * killed and reported as such (signal SIGKILL), not thrown: a hang is what
 * some tests look for.
 */
export function runCli(
  args: string[],
  env: Record<string, string>,
  options: { stdin?: string; timeoutMs?: number } = {},
): Promise<CliRun> {
  return new Promise((resolve, reject) => {
    const started = performance.now();
    const child = spawn(process.execPath, ['dist/bundle/cli.js', ...args], {
      cwd: ROOT,
      env: { PATH: process.env.PATH ?? '/usr/bin:/bin', ...env },
      stdio: ['pipe', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    child.stdout.setEncoding('utf8').on('data', (chunk: string) => (stdout += chunk));
    child.stderr.setEncoding('utf8').on('data', (chunk: string) => (stderr += chunk));
    const timer = setTimeout(() => child.kill('SIGKILL'), options.timeoutMs ?? 60_000);
    child.on('error', reject);
    child.on('exit', (code, signal) => {
      clearTimeout(timer);
      resolve({ code, signal, stdout, stderr, ms: performance.now() - started });
    });
    child.stdin.on('error', () => undefined); // the CLI may exit without reading stdin
    child.stdin.end(options.stdin ?? '');
  });
}
