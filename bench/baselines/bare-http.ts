import Fastify from 'fastify';

/**
 * Baseline (a), the ceiling of the HTTP stack: a bare Fastify route that
 * answers GET /users/me with the same small JSON the service returns, and
 * does nothing else (no token check, no database).
 */
const body = process.env.BENCH_BODY ?? '{}';
const app = Fastify({ logger: false });
app.get('/users/me', async (_request, reply) => reply.type('application/json; charset=utf-8').send(body));
app.get('/health/live', async () => ({ status: 'ok' }));

await app.listen({ host: '127.0.0.1', port: Number(process.env.BENCH_PORT ?? 0) });
process.stdout.write('listening\n');
for (const signal of ['SIGTERM', 'SIGINT'] as const) {
  process.on(signal, () => void app.close().then(() => process.exit(0)));
}
