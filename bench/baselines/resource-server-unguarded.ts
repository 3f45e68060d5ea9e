import 'reflect-metadata';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { type CanActivate, type ExecutionContext, Injectable, Module } from '@nestjs/common';
import { APP_GUARD } from '@nestjs/core';
import { ROOT } from '../lib/settings.js';

/**
 * The resource-server scenario's baseline: examples/resource-server's own
 * application (the same Nest + Fastify stack, the same controller and
 * route), with @gatehouse/nest's guard replaced by one that only puts a
 * fixed principal on the request — no token verification, no revocation
 * check. What the guarded example loses against it is the kit's cost.
 */
interface ExampleApp {
  AppController: new () => unknown;
  createApp: (
    module: unknown,
    options: { logger?: false },
  ) => Promise<{
    listen: (port: number, host: string) => Promise<unknown>;
    close: () => Promise<void>;
  }>;
}
// Loaded at run time from the example's build (`npm run build`), outside the bench's own sources.
const example = (await import(
  pathToFileURL(join(ROOT, 'examples', 'resource-server', 'dist', 'app.js')).href
)) as ExampleApp;

const principal = JSON.parse(process.env.BENCH_PRINCIPAL ?? '{}') as Record<string, unknown>;

@Injectable()
class FixedPrincipal implements CanActivate {
  canActivate(context: ExecutionContext): boolean {
    // Where the kit's guard puts the principal for @CurrentUser().
    context.switchToHttp().getRequest<Record<string, unknown>>().gatehouse = principal;
    return true;
  }
}

@Module({
  controllers: [example.AppController],
  providers: [{ provide: APP_GUARD, useClass: FixedPrincipal }],
})
class Unguarded {}

const app = await example.createApp(Unguarded, { logger: false });
await app.listen(Number(process.env.BENCH_PORT ?? 0), '127.0.0.1');
process.stdout.write('listening\n');
for (const signal of ['SIGTERM', 'SIGINT'] as const) {
  process.on(signal, () => void app.close().then(() => process.exit(0)));
}
