/**
 * `npm run bench`: builds the service, starts it as its own process (embedded
 * database: the PostgreSQL server the service runs as its child, in DATA_DIR;
 * PostgreSQL [+ Redis] too when DATABASE_URL [REDIS_URL] is set),
 * loads it with autocannon from this process, measures the two baselines in
 * the same run, prints one table and writes bench/results/latest.json.
 * BENCH_QUICK=1 is the smoke variant. See bench/lib/settings.ts for the knobs.
 */
import { execSync } from 'node:child_process';
import { createHash, generateKeyPairSync, randomBytes, randomUUID, sign } from 'node:crypto';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { cpus, release, tmpdir, totalmem } from 'node:os';
import { dirname, join } from 'node:path';
import { hash } from '@node-rs/argon2';
import { call, decodeJwt, expect, pool, signin, signup } from './lib/api.js';
import type { Account, BenchContext } from './lib/context.js';
import { round } from './lib/load.js';
import { killAll, stopAll } from './lib/processes.js';
import { fmt, renderTable, Section } from './lib/results.js';
import { Baseline, jwsCompare, Service } from './lib/service.js';
import { ROOT, settings } from './lib/settings.js';
import {
  cleanPostgres,
  openEmbeddedUsers,
  openPostgresUsers,
  type SeedPlan,
  signingKeyIds,
  type UsersTable,
} from './lib/users-table.js';
import { forgotTiming } from './scenarios/forgot-timing.js';
import { meCold, meWarm, mintColdTokens } from './scenarios/me.js';
import { describeMemory, memory, type MemoryPoint } from './scenarios/memory.js';
import { refresh } from './scenarios/refresh.js';
import { resourceServer } from './scenarios/resource-server.js';
import { signinStorm } from './scenarios/signin-storm.js';
import { signinTiming } from './scenarios/signin-timing.js';
import { usersPage } from './scenarios/users-page.js';

const s = settings;
const runId = randomBytes(4).toString('hex');
const startedAt = new Date();
const t0 = performance.now();
const elapsed = () => `${((performance.now() - t0) / 1000).toFixed(0)} s`;
const log = (message: string) => console.log(`[${elapsed().padStart(5)}] ${message}`);

for (const signal of ['SIGINT', 'SIGTERM'] as const) {
  process.on(signal, () => {
    killAll();
    process.exit(130);
  });
}

/** The bench's own ES256 key: bare-jwt verifies tokens it signed, shaped like the service's. */
const benchKey = (() => {
  const { privateKey, publicKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' });
  const kid = `bench-${runId}`;
  return { privateKey, kid, jwk: { ...publicKey.export({ format: 'jwk' }), kid, alg: 'ES256', use: 'sig' } };
})();

/** `count` tokens with the header and claims of `template` (a service token), each its own jti. */
function tokensLike(template: string, count: number): string[] {
  const { payload } = decodeJwt(template);
  const header = Buffer.from(JSON.stringify({ alg: 'ES256', typ: 'at+jwt', kid: benchKey.kid })).toString(
    'base64url',
  );
  return Array.from({ length: count }, () => {
    const body = Buffer.from(JSON.stringify({ ...payload, jti: randomUUID() })).toString('base64url');
    const signature = sign('sha256', Buffer.from(`${header}.${body}`), {
      key: benchKey.privateKey,
      dsaEncoding: 'ieee-p1363',
    });
    return `${header}.${body}.${signature.toString('base64url')}`;
  });
}

let baselines: { http: Baseline; jwt: Baseline } | undefined;
let baselineTokens: string[] = [];

/** Started once, with the response body and token shape of the first database's me-warm user. */
async function ensureBaselines(meBody: string, template: string) {
  if (baselines) return baselines;
  const { payload } = decodeJwt(template);
  const env = {
    BENCH_BODY: meBody,
    BENCH_JWK: JSON.stringify(benchKey.jwk),
    BENCH_ISSUER: String(payload.iss),
    BENCH_AUDIENCE: String(payload.aud),
  };
  const [http, jwt] = await Promise.all([Baseline.start('bare-http', env), Baseline.start('bare-jwt', env)]);
  baselines = { http, jwt };
  baselineTokens = tokensLike(template, s.coldTokens);
  const check = await call(jwt.base, 'GET', '/users/me', { token: baselineTokens[0] });
  if (check.status !== 200) throw new Error(`bare-jwt refused the bench's token: ${check.status}`);
  return baselines;
}

const password = () => `Bench ${randomBytes(9).toString('base64url')} pass`;

async function seedTo(table: UsersTable, plan: SeedPlan, seeded: number, total: number) {
  const existing = await table.count();
  const add = Math.max(0, total - existing);
  const seconds = add > 0 ? await table.seed(plan, seeded + 1, seeded + add) : 0;
  log(
    `seeded ${add.toLocaleString('en-US')} users in ${seconds.toFixed(1)} s (table: ${(existing + add).toLocaleString('en-US')})`,
  );
  return { seeded: seeded + add, seconds: round(seconds, 1), rows: existing + add, added: add };
}

async function runDatabase(
  kind: 'embedded' | 'postgres',
  seedHash: string,
  sections: Section[],
): Promise<void> {
  const section = new Section(kind);
  sections.push(section);
  const domain = `${kind}-${runId}.bench.example.com`;
  const plan: SeedPlan = {
    tag: `${runId}-${kind}`,
    domain,
    baseMs: Date.now() - 30 * 86_400_000,
    passwordHash: seedHash,
  };
  const adminPassword = password();
  // Production defaults (a request log line each, at info), but for what the
  // load would trip: rate limits, the session cap (me-cold mints thousands of
  // sessions for a few users), and a verified-token cache smaller than
  // me-cold's token cycle so that every me-cold request verifies a signature
  // (with the default 10,000 the cycle would be served from memory after one lap).
  const env: Record<string, string> = {
    RATE_LIMIT_PER_MINUTE: '1000000',
    ACCESS_TOKEN_CACHE_SIZE: String(Math.max(1, Math.floor(s.coldTokens / 10))),
    SIGNIN_MAX_FAILURES: '1000',
    MAX_SESSIONS_PER_USER: '100000',
    MAIL_PER_ADDRESS_PER_HOUR: '1000',
    ADMIN_EMAIL: `admin@${domain}`,
    ADMIN_PASSWORD: adminPassword,
    ACCESS_TOKEN_TTL: '2h',
    ...(s.sessionCacheTtl ? { SESSION_CACHE_TTL: s.sessionCacheTtl } : {}),
  };
  // Embedded: the database. PostgreSQL: the mail the service writes as files (no SMTP_URL).
  const dataDir = mkdtempSync(join(tmpdir(), 'gatehouse-bench-'));
  env.DATA_DIR = dataDir;
  let keysBefore: string[] | undefined;
  if (kind === 'postgres') {
    env.DATABASE_URL = s.databaseUrl!;
    // Stable per database, so that signing keys this bench leaves (it removes its own) stay readable.
    env.KEY_ENCRYPTION_SECRET =
      s.keyEncryptionSecret ?? createHash('sha256').update(`gatehouse-bench:${s.databaseUrl!}`).digest('hex');
    if (s.redisUrl) env.REDIS_URL = s.redisUrl;
    keysBefore = await signingKeyIds(s.databaseUrl!);
  }
  const service = new Service(kind, env);
  const open = () => (kind === 'embedded' ? openEmbeddedUsers(dataDir) : openPostgresUsers(s.databaseUrl!));
  const seeding: Record<string, unknown> = {};
  section.scenarios.seed = seeding;

  try {
    // Schema (the service migrates at start), then the small table.
    // Start to ready: from the spawn of `node dist/bundle/main.js` until /health/ready answers 200.
    log(`${kind}: starting the service${kind === 'embedded' ? ' on a fresh DATA_DIR' : ''}`);
    seeding.firstStartSeconds = round(await service.start(), 2);
    seeding.firstStartupMs = service.lastStartupMs;
    log(
      `${kind}: ready in ${fmt(seeding.firstStartSeconds as number)} s (log's startupMs ${service.lastStartupMs})`,
    );
    let seeded = 0;
    if (kind === 'embedded') await service.stop();
    let table = await open();
    const small = await seedTo(table, plan, seeded, s.smallUsers);
    await table.close();
    seeded = small.seeded;
    seeding.small = small;
    if (kind === 'embedded') {
      seeding.restartSeconds = round(await service.start(), 2);
      seeding.restartStartupMs = service.lastStartupMs;
      log(
        `${kind}: restarted on the existing DATA_DIR, ready in ${fmt(seeding.restartSeconds as number)} s (log's startupMs ${service.lastStartupMs})`,
      );
    }

    // Accounts: the admin (ADMIN_EMAIL), one user per me-warm connection.
    const admin: Account = {
      email: `admin@${domain}`,
      password: adminPassword,
      session: await signin(service.base, `admin@${domain}`, adminPassword),
    };
    const warm = await pool(
      Array.from({ length: Math.max(s.warmUsers, s.connections) }, (_, i) => i),
      8,
      async (i): Promise<Account> => {
        const email = `warm-${i}@${domain}`;
        const pass = password();
        return { email, password: pass, session: await signup(service.base, email, pass) };
      },
    );
    log(`${kind}: ${warm.length} users signed up`);
    const meBody = JSON.stringify(
      await expect(200, service.base, 'GET', '/users/me', { token: warm[0]!.session.accessToken }),
    );
    const ctx: BenchContext = {
      settings: s,
      section,
      service,
      baselines: await ensureBaselines(meBody, warm[0]!.session.accessToken),
      baselineTokens,
      plan,
      admin,
      warm,
      coldTokens: [],
      seeded,
    };

    const want = (scenario: string) => !s.only || s.only.has(scenario);
    if (want('me-warm')) {
      log(`${kind}: me-warm`);
      await meWarm(ctx);
    }
    if (want('resource-server')) {
      log(`${kind}: resource-server`);
      await resourceServer(ctx);
    }
    if (want('me-cold') || want('memory')) {
      const minted = await mintColdTokens(ctx);
      ctx.coldTokens = minted.tokens;
      log(
        `${kind}: minted ${minted.tokens.length} access tokens by refresh in ${minted.seconds.toFixed(1)} s`,
      );
      section.scenarios.coldTokens = { count: minted.tokens.length, mintSeconds: round(minted.seconds, 1) };
    }
    if (want('me-cold')) {
      log(`${kind}: me-cold`);
      await meCold(ctx);
    }
    if (want('refresh')) {
      log(`${kind}: refresh`);
      await refresh(ctx);
    }
    if (want('signin-storm')) {
      log(`${kind}: signin-storm`);
      await signinStorm(ctx);
    }
    if (want('signin-timing')) {
      log(`${kind}: signin-timing`);
      await signinTiming(ctx);
    }
    if (want('forgot-timing')) {
      log(`${kind}: forgot-timing`);
      await forgotTiming(ctx);
    }
    const smallLabel = label(s.smallUsers);
    if (want('users-page')) {
      log(`${kind}: users-page @${smallLabel}`);
      await usersPage(ctx, smallLabel);
    }

    // The large table, then memory on a freshly started process, then users-page on it.
    await service.stop();
    if (s.largeUsers && want('users-page')) {
      table = await open();
      const large = await seedTo(table, plan, ctx.seeded, s.largeUsers);
      await table.close();
      ctx.seeded = large.seeded;
      seeding.large = large;
    }
    if (want('memory')) {
      log(`${kind}: memory`);
      await memory(ctx);
    } else {
      await service.start();
    }
    if (s.largeUsers && want('users-page')) {
      log(`${kind}: users-page @${label(s.largeUsers)}`);
      await usersPage(ctx, label(s.largeUsers));
    }
    await service.stop();
    service.removeLog();
  } catch (error) {
    // A service that died explains the failure better than the request that found it dead.
    const died = (() => {
      try {
        service.check();
        return undefined;
      } catch (death) {
        return death as Error;
      }
    })();
    if (died) died.message += `\n(noticed as: ${String(error)})`;
    log(`${kind}: the service's log is kept in ${service.logFile}`);
    throw died ?? error;
  } finally {
    await service.stop();
    rmSync(dataDir, { recursive: true, force: true });
    if (kind === 'postgres') {
      log('postgres: removing the rows this run created');
      await cleanPostgres(s.databaseUrl!, domain, keysBefore).catch((error: unknown) =>
        console.error(`bench: could not clean the PostgreSQL database: ${String(error)}`),
      );
    }
    summarise(section, kind);
  }
}

function describe(error: unknown): string {
  return error instanceof Error ? (error.stack ?? error.message) : String(error);
}

function label(users: number): string {
  return users >= 1_000_000 ? `${users / 1_000_000}M` : `${users / 1_000}k`;
}

const mean = (values: number[]) => values.reduce((sum, v) => sum + v, 0) / Math.max(values.length, 1);
const list = (values: (number | undefined)[], unit = '') => values.map((v) => `${fmt(v)}${unit}`).join(', ');

/** Per-scenario summaries for the JSON, and the issue's targets. */
function summarise(section: Section, kind: 'embedded' | 'postgres'): void {
  section.computeRatios();
  const runsOf = (name: string) =>
    section.runsOf(name).map(({ run, rps, p50, p99, vsHttp, vsJwt, non2xx, errors }) => ({
      run,
      rps,
      p50,
      p99,
      vsHttp,
      vsJwt,
      non2xx,
      errors,
    }));
  for (const name of ['bare-http', 'bare-jwt', 'me-warm', 'me-cold', 'refresh']) {
    section.scenarios[name] = { ...(section.scenarios[name] as object | undefined), runs: runsOf(name) };
  }

  // Only what ran is judged (BENCH_ONLY runs a subset).
  const warm = section.runsOf('me-warm').map((r) => r.vsHttp ?? 0);
  if (warm.length) section.check('me-warm ≥ 50 % of bare-http', '≥ 0.50', list(warm), mean(warm) >= 0.5);
  const cold = section.runsOf('me-cold').map((r) => r.vsJwt ?? 0);
  if (cold.length) section.check('me-cold ≥ 80 % of bare-jwt', '≥ 0.80', list(cold), mean(cold) >= 0.8);

  const storm = section.scenarios['signin-storm'] as
    { runs: { ratio: number; meWarmP99: number }[]; quiet: { p99: number } } | undefined;
  if (storm) {
    const ratios = storm.runs.map((r) => r.ratio);
    section.check('signin rate ≥ 80 % of raw argon2', '≥ 0.80', list(ratios), mean(ratios) >= 0.8);
    const p99s = storm.runs.map((r) => r.meWarmP99);
    section.check(
      'me-warm p99 during storm < 25 ms',
      '< 25 ms',
      `${list(p99s, ' ms')} (quiet ${fmt(storm.quiet.p99)} ms)`,
      mean(p99s) < 25,
    );
  }
  const floor = 1000;
  // The kinds of a timing scenario whose medians must not differ: each ÷ the reference kind.
  const sameTime = (scenario: string, label: string, reference: string, others: string[]) => {
    const timing = section.scenarios[scenario] as
      { summary: Record<string, { p50: number; p90: number }> } | undefined;
    if (!timing) return;
    const ref = timing.summary[reference]!;
    for (const other of others) {
      const kind = timing.summary[other]!;
      const ratio = round(kind.p50 / ref.p50, 3);
      section.check(
        `${label}: ${other} ÷ ${reference}, median`,
        '0.90–1.10',
        `${ratio} (${kind.p50} / ${ref.p50} ms; p90 ${kind.p90} / ${ref.p90} ms)`,
        ratio >= 0.9 && ratio <= 1.1,
      );
    }
  };
  sameTime('signin-timing', 'signin', 'wrong password', ['unknown email']);
  sameTime('forgot-timing', 'forgot', 'existing account', ['unknown address', 'disabled account']);
  const refreshRps = section.runsOf('refresh').map((r) => r.rps);
  if (refreshRps.length) {
    section.check(
      `refresh ≥ ${floor.toLocaleString('en-US')}/s`,
      `≥ ${floor.toLocaleString('en-US')}/s`,
      list(refreshRps, '/s'),
      mean(refreshRps) >= floor,
    );
  }

  const large = label(s.largeUsers || s.smallUsers);
  const firstP99 = section.runsOf(`users-page first @${large}`).map((r) => r.p99);
  const deepP99 = section.runsOf(`users-page deep @${large}`).map((r) => r.p99);
  if (firstP99.length && deepP99.length) {
    const ratio = mean(deepP99) / mean(firstP99);
    section.check(
      `users-page deep p99 ≤ 1.5× first @${large}`,
      '≤ 1.5×',
      `${fmt(ratio)}× (first ${list(firstP99, ' ms')}; deep ${list(deepP99, ' ms')})`,
      ratio <= 1.5,
    );
  }
  if (s.largeUsers) {
    // Not in the issue's list of targets, but its premise: no path slows down as the table grows.
    const small = section.runsOf(`users-page first @${label(s.smallUsers)}`).map((r) => r.p99);
    if (small.length && firstP99.length) {
      const growth = mean(firstP99) / mean(small);
      section.check(
        `users-page first p99 @${large} ≤ 1.5× @${label(s.smallUsers)} (premise)`,
        '≤ 1.5×',
        `${fmt(growth)}× (${list(small, ' ms')} → ${list(firstP99, ' ms')})`,
        growth <= 1.5,
      );
    }
  }
  summariseStart(section, kind);
  summariseMemory(section, kind);
}

/**
 * Start to ready (spawn of `node dist/bundle/main.js` until /health/ready answers
 * 200): the issue's targets on the embedded database, each with the log's
 * `startupMs` (the part after module loading); reported without a target
 * with DATABASE_URL.
 */
function summariseStart(section: Section, kind: 'embedded' | 'postgres'): void {
  const seed = section.scenarios.seed as
    | {
        firstStartSeconds?: number;
        firstStartupMs?: number;
        restartSeconds?: number;
        restartStartupMs?: number;
        large?: { rows: number };
      }
    | undefined;
  const memory = section.scenarios.memory as { startSeconds: number; startupMs?: number } | undefined;
  const secs = (seconds: number, startupMs: number | undefined) =>
    `${fmt(seconds)} s` + (startupMs === undefined ? '' : ` (startupMs ${fmt(startupMs / 1000)} s)`);
  const beforeMemory = memory
    ? `; before memory${seed?.large ? `, ${label(seed.large.rows)} users` : ''}: ` +
      secs(memory.startSeconds, memory.startupMs)
    : '';
  if (seed?.firstStartSeconds === undefined) return;
  if (kind === 'postgres') {
    section.check(
      'start to ready (PostgreSQL server)',
      'none',
      secs(seed.firstStartSeconds, seed.firstStartupMs) + beforeMemory,
      null,
    );
    return;
  }
  section.check(
    'start to ready, fresh DATA_DIR ≤ 3 s',
    '≤ 3 s',
    secs(seed.firstStartSeconds, seed.firstStartupMs),
    seed.firstStartSeconds <= 3,
  );
  if (seed.restartSeconds !== undefined) {
    section.check(
      'start to ready, existing DATA_DIR ≤ 1.5 s',
      '≤ 1.5 s',
      `${label(s.smallUsers)} users: ${secs(seed.restartSeconds, seed.restartStartupMs)}${beforeMemory}`,
      seed.restartSeconds <= 1.5,
    );
  }
}

/**
 * Memory as PSS of the service plus its database processes: at rest and
 * after the last checkpoint ≤ 250 MB on the embedded database (with
 * DATABASE_URL the service alone, reported without a target), and no growth
 * between the checkpoints.
 */
function summariseMemory(section: Section, kind: 'embedded' | 'postgres'): void {
  const mem = section.scenarios.memory as { points: MemoryPoint[]; checkpoints: number[] } | undefined;
  if (!mem || mem.points.length < 2) return;
  const limit = 250;
  const embedded = kind === 'embedded';
  const what = embedded ? `≤ ${limit} MB (PSS, service + database)` : '(PSS, service alone)';
  const rest = mem.points[0]!;
  section.check(
    `memory at rest ${what}`,
    embedded ? `≤ ${limit} MB` : 'none',
    describeMemory(rest),
    embedded ? rest.pssMB <= limit : null,
  );
  const last = mem.points.at(-1)!;
  const wanted = mem.checkpoints.at(-1) ?? last.requests;
  const reached = last.requests >= wanted;
  const between = mem.points
    .slice(1, -1)
    .map((p) => `${p.requests.toLocaleString('en-US')}: ${p.pssMB.toFixed(0)} MB`)
    .join(', ');
  section.check(
    `memory after ${wanted.toLocaleString('en-US')} requests ${what}`,
    embedded ? `≤ ${limit} MB` : 'none',
    `${describeMemory(last)}` +
      (reached ? '' : `; only ${last.requests.toLocaleString('en-US')} requests (time limit)`) +
      (between ? `; after ${between}` : ''),
    embedded ? reached && last.pssMB <= limit : null,
  );
  if (mem.points.length >= 3) {
    const a = mem.points.at(-2)!;
    const growth = last.pssMB / a.pssMB - 1;
    section.check(
      `PSS after ${last.requests.toLocaleString('en-US')} ≤ 110 % of after ${a.requests.toLocaleString('en-US')}`,
      '≤ +10 %',
      `${a.pssMB} MB → ${last.pssMB} MB (${growth >= 0 ? '+' : ''}${(growth * 100).toFixed(1)} %);` +
        ` node RSS ${a.nodeRssMB} → ${last.nodeRssMB} MB`,
      growth <= 0.1,
    );
  }
}

async function main(): Promise<void> {
  console.log(
    `Gatehouse bench${s.quick ? ' (BENCH_QUICK: smoke variant)' : ''}: ${cpus().length} × ${cpus()[0]?.model ?? '?'}, ` +
      `node ${process.version}; ${s.runs} runs × ${s.duration} s, ${s.connections} connections`,
  );
  if (!s.skipBuild) {
    log('npm run build');
    execSync('npm run build --silent', { cwd: ROOT, stdio: 'inherit' });
  }
  const seedHash = await hash(password(), { algorithm: 2, memoryCost: 19_456, timeCost: 2, parallelism: 1 });

  const sections: Section[] = [];
  const kinds: ('embedded' | 'postgres')[] = ['embedded', ...(s.databaseUrl ? (['postgres'] as const) : [])];
  let failure: unknown;
  try {
    for (const kind of kinds) await runDatabase(kind, seedHash, sections);
  } catch (error) {
    failure = error;
  } finally {
    await baselines?.http.stop();
    await baselines?.jwt.stop();
    await stopAll();
  }

  // JWS by hand vs jose, in a process of its own once the service has stopped (see the script).
  let jws: Awaited<ReturnType<typeof jwsCompare>> | { error: string } | undefined;
  if (!failure && (!s.only || s.only.has('jws'))) {
    log('jws: ours vs jose');
    jws = await jwsCompare(s.quick).catch((error: unknown) => ({ error: describe(error) }));
  }

  const totalSeconds = round((performance.now() - t0) / 1000, 1);
  const results = {
    startedAt: startedAt.toISOString(),
    totalSeconds,
    quick: s.quick,
    machine: {
      cpus: cpus().length,
      cpuModel: cpus()[0]?.model,
      memoryGB: round(totalmem() / 1024 ** 3, 1),
      kernel: release(),
      node: process.version,
    },
    settings: {
      runs: s.runs,
      durationSeconds: s.duration,
      connections: s.connections,
      smallUsers: s.smallUsers,
      largeUsers: s.largeUsers,
      coldTokens: s.coldTokens,
      stormSignins: s.stormSignins,
      stormProbeRate: s.stormProbeRate,
      memoryCheckpoints: s.memoryCheckpoints,
      databases: kinds,
      redis: Boolean(s.databaseUrl && s.redisUrl),
    },
    ...(failure ? { error: describe(failure) } : {}),
    ...(jws ? { jws } : {}),
    databases: Object.fromEntries(
      sections.map((section) => [
        section.name,
        { scenarios: section.scenarios, checks: section.checks, rows: section.rows },
      ]),
    ),
  };
  mkdirSync(dirname(s.out), { recursive: true });
  writeFileSync(s.out, `${JSON.stringify(results, null, 2)}\n`);

  console.log('');
  console.log(renderTable(sections));
  if (jws) console.log(`\nJWS: ${'summary' in jws ? jws.summary : `failed: ${jws.error}`}`);
  console.log('');
  console.log(`Total ${totalSeconds} s. Results: ${s.out}`);
  if (failure) {
    console.error(`\nbench failed: ${describe(failure)}`);
    process.exitCode = 1;
  }
}

await main();
