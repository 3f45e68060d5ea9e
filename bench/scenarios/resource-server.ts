import { join } from 'node:path';
import { call, decodeJwt, expect } from '../lib/api.js';
import { tokenPerConnection } from '../lib/clients.js';
import type { BenchContext } from '../lib/context.js';
import { cannon, round } from '../lib/load.js';
import { freePort, Managed } from '../lib/processes.js';
import { fmt } from '../lib/results.js';
import { BENCH_DIST, ROOT } from '../lib/settings.js';

/**
 * resource-server: examples/resource-server's `GET /me` behind @gatehouse/nest
 * (local verification, the revocation feed followed, a revocation check on
 * every request), against the same application and route with the kit's
 * guard replaced by a fixed principal (bench/baselines/resource-server-unguarded.ts),
 * run for run. Each connection reuses its user's token, as clients do. The
 * goal, ≥ 80 %, is what "no network call per request" buys.
 */
export async function resourceServer(ctx: BenchContext): Promise<void> {
  const { settings: s, section, service } = ctx;
  const client = await expect(201, service.base, 'POST', '/clients', {
    token: ctx.admin.session.accessToken,
    body: { name: 'bench-resource-server', scopes: ['revocations:read'] },
  });
  const tokens = ctx.warm.map((account) => account.session.accessToken);
  const env = { PATH: process.env.PATH ?? '/usr/bin:/bin', NODE_ENV: 'production' };

  const guardedPort = await freePort();
  const guarded = new Managed(
    'resource-server (guarded)',
    ['--enable-source-maps', join(ROOT, 'examples', 'resource-server', 'dist', 'main.js')],
    {
      ...env,
      // The tokens' `iss` (the service's PUBLIC_URL, localhost by default), not the address the bench uses.
      GATEHOUSE_ISSUER: String(decodeJwt(tokens[0]!).payload.iss),
      GATEHOUSE_CLIENT_ID: client.clientId as string,
      GATEHOUSE_CLIENT_SECRET: client.clientSecret as string,
      PORT: String(guardedPort),
      HOST: '127.0.0.1',
    },
    ROOT,
  );
  const guardedBase = `http://127.0.0.1:${guardedPort}`;
  try {
    await guarded.waitForLine(/listening/, 60_000);
    // Protected routes answer once the kit has caught up with the feed.
    const deadline = Date.now() + 60_000;
    let me = await call(guardedBase, 'GET', '/me', { token: tokens[0] });
    while (me.status !== 200) {
      if (Date.now() > deadline) {
        throw new Error(
          `the example never answered /me: ${me.status} ${JSON.stringify(me.body)}\n${guarded.log}`,
        );
      }
      await new Promise((resolve) => setTimeout(resolve, 100));
      me = await call(guardedBase, 'GET', '/me', { token: tokens[0] });
    }

    const unguardedPort = await freePort();
    const unguarded = new Managed(
      'resource-server (unguarded)',
      [join(BENCH_DIST, 'baselines', 'resource-server-unguarded.js')],
      { ...env, BENCH_PORT: String(unguardedPort), BENCH_PRINCIPAL: JSON.stringify(me.body) },
      ROOT,
    );
    const unguardedBase = `http://127.0.0.1:${unguardedPort}`;
    try {
      await unguarded.waitForLine(/listening/, 60_000);
      const load = (base: string, duration: number) =>
        cannon({
          base,
          path: '/me',
          connections: s.connections,
          duration,
          setupClient: tokenPerConnection(tokens),
        });
      if (s.warmup) {
        await load(unguardedBase, s.warmup);
        await load(guardedBase, s.warmup);
      }
      const ratios: number[] = [];
      for (let run = 1; run <= s.runs; run++) {
        const base = section.add('rs-unguarded', run, await load(unguardedBase, s.duration));
        const kit = section.add('rs-guarded', run, await load(guardedBase, s.duration), {
          note: '@gatehouse/nest',
        });
        ratios.push(round(kit.rps / base.rps, 3));
      }
      const mean = ratios.reduce((sum, ratio) => sum + ratio, 0) / ratios.length;
      section.scenarios['resource-server'] = {
        runs: ratios.map((ratio, i) => ({
          run: i + 1,
          ratio,
          guarded: section.runsOf('rs-guarded')[i],
          unguarded: section.runsOf('rs-unguarded')[i],
        })),
      };
      section.check(
        'resource-server /me ≥ 80 % of it unguarded',
        '≥ 0.80',
        ratios.map((ratio) => fmt(ratio)).join(', '),
        mean >= 0.8,
      );
    } finally {
      await unguarded.stop();
    }
  } finally {
    await guarded.stop();
  }
}
