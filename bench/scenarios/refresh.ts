import type autocannon from 'autocannon';
import { pool, signin } from '../lib/api.js';
import { pause } from '../lib/clients.js';
import type { BenchContext } from '../lib/context.js';
import { cannon } from '../lib/load.js';

/**
 * refresh: POST /auth/refresh, each connection its own session, sending the
 * refresh token the previous response rotated to. Every run starts from
 * fresh sessions: a run cut off mid-request leaves its sessions one rotation
 * ahead of what the client saw.
 */
export async function refresh(ctx: BenchContext): Promise<void> {
  const { settings: s, section } = ctx;
  for (let run = 1; run <= s.runs; run++) {
    const sessions = await pool(
      Array.from({ length: s.connections }, (_, i) => ctx.warm[i % ctx.warm.length]!),
      8,
      (account) => signin(ctx.service.base, account.email, account.password),
    );
    await pause(s.settle / 4);
    let next = 0;
    let lost = 0;
    const setupClient = (client: autocannon.Client) => {
      const state = { refreshToken: sessions[next++ % sessions.length]!.refreshToken };
      client.setRequests([
        {
          method: 'POST',
          path: '/auth/refresh',
          headers: { 'content-type': 'application/json' },
          setupRequest: (request) => {
            request.body = JSON.stringify({ refreshToken: state.refreshToken });
            return request;
          },
          onResponse: (status, body) => {
            if (status !== 200) {
              lost++;
              return;
            }
            state.refreshToken = (JSON.parse(String(body)) as { refreshToken: string }).refreshToken;
          },
        },
      ]);
    };
    const m = await cannon({
      base: ctx.service.base,
      connections: s.connections,
      duration: s.duration,
      setupClient,
    });
    section.add('refresh', run, m, { note: `${s.connections} sessions${lost ? `, ${lost} refused` : ''}` });
    await pause(s.settle / 4);
  }
}
