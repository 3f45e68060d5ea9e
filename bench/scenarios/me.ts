import { tokenCycle, tokenPerConnection } from '../lib/clients.js';
import type { BenchContext } from '../lib/context.js';
import { cannon } from '../lib/load.js';

/**
 * me-warm: GET /users/me, each connection reusing its own user's token (how
 * real clients behave). Alternates with bare-http, the ceiling of the HTTP
 * stack, run for run.
 */
export async function meWarm(ctx: BenchContext): Promise<void> {
  const { settings: s, section } = ctx;
  const tokens = ctx.warm.map((account) => account.session.accessToken);
  const load = (base: string, duration: number) =>
    cannon({
      base,
      path: '/users/me',
      connections: s.connections,
      duration,
      setupClient: tokenPerConnection(tokens),
    });

  if (s.warmup) {
    await load(ctx.baselines.http.base, s.warmup);
    await load(ctx.service.base, s.warmup);
  }
  for (let run = 1; run <= s.runs; run++) {
    section.add('bare-http', run, await load(ctx.baselines.http.base, s.duration));
    section.add('me-warm', run, await load(ctx.service.base, s.duration), {
      pairedWith: { baseline: 'bare-http', run },
    });
  }
}

/**
 * me-cold: GET /users/me cycling through many distinct valid tokens.
 * Alternates with bare-jwt (one ES256 verification per request with
 * node:crypto), cycling through as many tokens of the same shape.
 */
export async function meCold(ctx: BenchContext): Promise<void> {
  const { settings: s, section } = ctx;
  const load = (base: string, tokens: string[], duration: number) =>
    cannon({ base, connections: s.connections, duration, requests: tokenCycle(tokens, '/users/me') });
  const note = `${ctx.coldTokens.length} tokens`;

  if (s.warmup) await load(ctx.baselines.jwt.base, ctx.baselineTokens, s.warmup);
  for (let run = 1; run <= s.runs; run++) {
    section.add('bare-jwt', run, await load(ctx.baselines.jwt.base, ctx.baselineTokens, s.duration), {
      note,
    });
    section.add('me-cold', run, await load(ctx.service.base, ctx.coldTokens, s.duration), {
      pairedWith: { baseline: 'bare-jwt', run },
      note,
    });
  }
}

/**
 * Distinct valid access tokens for me-cold, without paying argon2 for each:
 * every signed-up user's session is refreshed over and over (one chain per
 * user, all chains at once); each refresh yields a new access token, and the
 * earlier ones stay valid. Stops at `coldTokens` or after `coldMintSeconds`.
 */
export async function mintColdTokens(ctx: BenchContext): Promise<{ tokens: string[]; seconds: number }> {
  const { settings: s } = ctx;
  const tokens: string[] = [];
  const started = performance.now();
  const deadline = Date.now() + s.coldMintSeconds * 1000;
  await Promise.all(
    ctx.warm.map(async (account) => {
      while (tokens.length < s.coldTokens && Date.now() < deadline) {
        const response = await fetch(`${ctx.service.base}/auth/refresh`, {
          method: 'POST',
          headers: { 'content-type': 'application/json' },
          body: JSON.stringify({ refreshToken: account.session.refreshToken }),
        });
        const body = (await response.json()) as { accessToken: string; refreshToken: string };
        if (response.status !== 200)
          throw new Error(`POST /auth/refresh: ${response.status} ${JSON.stringify(body)}`);
        account.session.refreshToken = body.refreshToken;
        tokens.push(body.accessToken);
      }
    }),
  );
  return { tokens: tokens.slice(0, s.coldTokens), seconds: (performance.now() - started) / 1000 };
}
