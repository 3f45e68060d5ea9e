import { Controller, Get, Header, ServiceUnavailableException } from '@nestjs/common';
import { ApiOperation, ApiResponse, ApiTags } from '@nestjs/swagger';
import { HealthCheckService, type HealthCheckResult } from '@nestjs/terminus';
import { z } from 'zod';
import { Public } from '../access/access.decorators.js';
import { ApiError } from '../common/errors/api-error.js';
import { ApiZodResponse, errorResponse, type HeaderObject } from '../common/openapi/zod-openapi.js';
import { DatabaseHealthIndicator } from './database.health.js';
import { RedisHealthIndicator } from './redis.health.js';

const LiveSchema = z.object({ status: z.literal('ok') }).meta({ example: { status: 'ok' } });

const indicators = z.record(z.string(), z.looseObject({ status: z.string() }));
const ReadySchema = z
  .object({
    status: z.literal('ok'),
    info: indicators.describe('Each backing service checked: `database`, and `redis` when REDIS_URL is set'),
    error: indicators,
    details: indicators,
  })
  .meta({
    example: {
      status: 'ok',
      info: { database: { status: 'up' } },
      error: {},
      details: { database: { status: 'up' } },
    },
  });

/** Probes must see the state of now, never a cached answer. */
const NO_CACHE = 'no-cache, no-store, must-revalidate';
const NO_CACHE_HEADER: Record<string, HeaderObject> = {
  'Cache-Control': {
    description: 'Never cached',
    required: true,
    schema: { type: 'string', example: NO_CACHE },
  },
};

@ApiTags('health')
@Public()
@Controller('health')
export class HealthController {
  constructor(
    private readonly health: HealthCheckService,
    private readonly database: DatabaseHealthIndicator,
    private readonly redis: RedisHealthIndicator,
  ) {}

  @Get('live')
  @ApiOperation({ summary: 'The process is up (no backing service is checked)' })
  @ApiZodResponse(200, LiveSchema, 'Alive')
  live(): { status: 'ok' } {
    return { status: 'ok' };
  }

  @Get('ready')
  @Header('cache-control', NO_CACHE)
  @ApiOperation({ summary: 'Backing services are reachable (200), or not (503)' })
  @ApiZodResponse(
    200,
    ReadySchema,
    'Ready: the database (and Redis, when configured) answer',
    NO_CACHE_HEADER,
  )
  @ApiResponse({ status: 503, ...errorResponse(['unavailable']), headers: NO_CACHE_HEADER })
  async ready(): Promise<HealthCheckResult> {
    try {
      return await this.health.check([
        () => this.database.check(),
        ...(this.redis.configured ? [() => this.redis.check()] : []),
      ]);
    } catch (error) {
      // 503 in the contract's error shape, naming what is down (e.g. "redis").
      if (!(error instanceof ServiceUnavailableException)) throw error;
      const result = error.getResponse() as Partial<HealthCheckResult>;
      const down = Object.keys(result.error ?? {});
      throw new ApiError('unavailable', `Not ready: ${down.join(', ') || 'a backing service'} unreachable`);
    }
  }
}
