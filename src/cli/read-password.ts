import { read } from 'read';

/**
 * A password from a hidden prompt when a person is at the terminal, or the
 * first line of standard input when it is piped (scripts). Never from the
 * command line, where it would land in shell history and `ps`.
 * The line is taken exactly as typed: only the line ending is removed.
 */
export async function readPassword(prompt: string): Promise<string> {
  if (process.stdin.isTTY) {
    const first = await read({ prompt, silent: true, replace: '' });
    const again = await read({ prompt: 'Repeat it: ', silent: true, replace: '' });
    if (first !== again) throw new Error('the two passwords differ');
    return first;
  }
  const chunks: Buffer[] = [];
  for await (const chunk of process.stdin) chunks.push(chunk as Buffer);
  const text = Buffer.concat(chunks).toString('utf8');
  const end = text.search(/\r?\n/);
  return end === -1 ? text : text.slice(0, end);
}
