import { type DynamicModule, Module, type Type } from '@nestjs/common';
import { NestFactory } from '@nestjs/core';
import { FastifyAdapter, type NestFastifyApplication } from '@nestjs/platform-fastify';
import { GatehouseModule, type GatehouseModuleOptions } from '@gatehouse/nest';
import { AppController } from './app.controller.js';

export { AppController };

/** The example application: its controller behind GatehouseModule (every route protected unless @Public()). */
@Module({})
export class AppModule {
  static register(gatehouse: GatehouseModuleOptions): DynamicModule {
    return { module: AppModule, imports: [GatehouseModule.forRoot(gatehouse)], controllers: [AppController] };
  }
}

/** A Nest application on Fastify for `module` (the example's, or a variant of it). */
export async function createApp(
  module: DynamicModule | Type<unknown>,
  options: { logger?: false | ('log' | 'error' | 'warn')[] } = {},
): Promise<NestFastifyApplication> {
  const app = await NestFactory.create<NestFastifyApplication>(module, new FastifyAdapter(), {
    logger: options.logger ?? ['log', 'warn', 'error'],
  });
  app.enableShutdownHooks();
  return app;
}

/** The kit's options from the environment: GATEHOUSE_ISSUER, GATEHOUSE_CLIENT_ID, GATEHOUSE_CLIENT_SECRET, … */
export function optionsFromEnv(env: NodeJS.ProcessEnv): GatehouseModuleOptions {
  const required = (name: string): string => {
    const value = env[name];
    if (!value) throw new Error(`${name} is required`);
    return value;
  };
  const ms = (name: string): number | undefined => {
    const value = env[name];
    if (value === undefined || value === '') return undefined;
    if (!/^\d+$/.test(value)) throw new Error(`${name} must be a number of milliseconds`);
    return Number(value);
  };
  const failClosedAfter = ms('GATEHOUSE_FAIL_CLOSED_AFTER');
  return {
    issuer: required('GATEHOUSE_ISSUER'),
    clientId: required('GATEHOUSE_CLIENT_ID'),
    clientSecret: required('GATEHOUSE_CLIENT_SECRET'),
    ...(env.GATEHOUSE_AUDIENCE ? { audience: env.GATEHOUSE_AUDIENCE } : {}),
    ...(failClosedAfter === undefined ? {} : { failClosedAfter }),
  };
}
