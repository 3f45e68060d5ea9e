import type autocannon from 'autocannon';

/** Each connection sends one token of `tokens` on every request (connection i gets token i). */
export function tokenPerConnection(tokens: string[]): (client: autocannon.Client) => void {
  let next = 0;
  return (client) => client.setHeaders({ authorization: `Bearer ${tokens[next++ % tokens.length]!}` });
}

/** Every request, from any connection, takes the next token of `tokens`, round and round. */
export function tokenCycle(tokens: string[], path: string): autocannon.Request[] {
  let next = 0;
  return [
    {
      method: 'GET',
      path,
      setupRequest: (request) => {
        request.headers = { ...request.headers, authorization: `Bearer ${tokens[next++ % tokens.length]!}` };
        return request;
      },
    },
  ];
}

export const pause = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));
