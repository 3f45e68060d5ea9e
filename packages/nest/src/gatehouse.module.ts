import { type DynamicModule, Module, type ModuleMetadata, type Provider } from '@nestjs/common';
import { APP_GUARD } from '@nestjs/core';
import { GatehouseClient } from './gatehouse.client.js';
import { GatehouseGuard } from './gatehouse.guard.js';
import { GATEHOUSE_OPTIONS, type GatehouseModuleOptions, resolveOptions } from './options.js';

export interface GatehouseModuleAsyncOptions extends Pick<ModuleMetadata, 'imports'> {
  useFactory: (...args: never[]) => GatehouseModuleOptions | Promise<GatehouseModuleOptions>;
  inject?: (string | symbol | (abstract new (...args: never[]) => unknown))[];
  /** Register GatehouseGuard globally. Default true (it cannot come from the factory: guards are registered first). */
  globalGuard?: boolean;
}

/**
 * Protects a NestJS application with Gatehouse: `GatehouseModule.forRoot({
 * issuer, clientId, clientSecret })` in the root module makes every route
 * need a valid, unrevoked Gatehouse access token unless it is @Public().
 */
@Module({})
export class GatehouseModule {
  static forRoot(options: GatehouseModuleOptions): DynamicModule {
    const resolved = resolveOptions(options);
    return GatehouseModule.build([{ provide: GATEHOUSE_OPTIONS, useValue: resolved }], resolved.globalGuard);
  }

  static forRootAsync(options: GatehouseModuleAsyncOptions): DynamicModule {
    const provider: Provider = {
      provide: GATEHOUSE_OPTIONS,
      useFactory: async (...args: never[]) => resolveOptions(await options.useFactory(...args)),
      inject: options.inject ?? [],
    };
    return {
      ...GatehouseModule.build([provider], options.globalGuard ?? true),
      imports: options.imports ?? [],
    };
  }

  private static build(providers: Provider[], globalGuard: boolean): DynamicModule {
    return {
      module: GatehouseModule,
      global: true,
      providers: [
        ...providers,
        GatehouseClient,
        GatehouseGuard,
        ...(globalGuard ? [{ provide: APP_GUARD, useExisting: GatehouseGuard }] : []),
      ],
      exports: [GATEHOUSE_OPTIONS, GatehouseClient, GatehouseGuard],
    };
  }
}
