import { pause } from '../lib/clients.js';
import type { BenchContext } from '../lib/context.js';
import { cannon, paced, round } from '../lib/load.js';
import { argon2Rate } from '../lib/service.js';

/**
 * signin-storm: `stormSignins` concurrent signins (closed loop, autocannon)
 * while me-warm runs as an open-loop probe at a fixed rate (each request
 * timed from its send, as a client would see it). Alternates with the raw
 * argon2id hash rate of the machine (bench/baselines/argon2-rate.ts, same
 * parameters and concurrency as the service), so that signin rate / hash rate
 * is taken within seconds.
 *
 * me-warm runs at a fixed rate, not flat out: on two cores a closed-loop
 * me-warm would take a core of its own (plus one for the load generator), and
 * the signin rate would then measure the CPU left over, not the service.
 */
export async function signinStorm(ctx: BenchContext): Promise<void> {
  const { settings: s, section } = ctx;
  const tokens = ctx.warm.map((account) => account.session.accessToken);
  const probe = () =>
    paced({
      base: ctx.service.base,
      path: '/users/me',
      rate: s.stormProbeRate,
      seconds: s.duration,
      headers: (i) => ({ authorization: `Bearer ${tokens[i % tokens.length]!}` }),
    });

  // The same probe without the storm: what the storm adds to it.
  const quiet = await probe();
  section.add('me-warm probe (quiet)', 1, quiet, {
    note: `open loop ${s.stormProbeRate}/s`,
    fixedRate: true,
  });

  const account = ctx.warm[0]!;
  const runs = [];
  for (let run = 1; run <= s.runs; run++) {
    const hashRate = await argon2Rate(s.hashSeconds, s.hashConcurrency);
    await pause(s.settle / 4);
    const [storm, during] = await Promise.all([
      cannon({
        base: ctx.service.base,
        path: '/auth/signin',
        method: 'POST',
        connections: s.stormSignins,
        duration: s.duration,
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ email: account.email, password: account.password }),
      }),
      probe(),
    ]);
    const ratio = round(storm.rps / hashRate, 3);
    section.add('signin-storm', run, storm, {
      note: `${s.stormSignins} concurrent; raw argon2 ${hashRate.toFixed(1)}/s; signins = ${(ratio * 100).toFixed(0)} % of it`,
    });
    section.add('me-warm during storm', run, during, {
      note: `open loop ${s.stormProbeRate}/s`,
      fixedRate: true,
    });
    runs.push({
      signinRate: storm.rps,
      signinP99: storm.p99,
      hashRate: round(hashRate, 1),
      ratio,
      meWarmRps: during.rps,
      meWarmP50: during.p50,
      meWarmP99: during.p99,
      meWarmNon2xx: during.non2xx + during.errors,
    });
    // Signins still in flight when the run stopped finish before anything else is measured.
    await pause(s.settle);
  }
  ctx.section.scenarios['signin-storm'] = {
    concurrentSignins: s.stormSignins,
    probeRate: s.stormProbeRate,
    quiet: { rps: quiet.rps, p50: quiet.p50, p99: quiet.p99 },
    runs,
  };
}
