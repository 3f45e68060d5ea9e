import { Controller, Get, Header, Res, UseGuards } from '@nestjs/common';
import { ApiOperation, ApiResponse, ApiSecurity, ApiTags } from '@nestjs/swagger';
import type { FastifyReply } from 'fastify';
import { Public } from '../access/access.decorators.js';
import { ApiErrors } from '../common/openapi/zod-openapi.js';
import { MetricsTokenGuard } from './metrics-token.guard.js';
import { MetricsService } from './metrics.service.js';

@ApiTags('operations')
@Public()
@Controller('metrics')
export class MetricsController {
  constructor(private readonly metrics: MetricsService) {}

  @Get()
  @UseGuards(MetricsTokenGuard)
  @Header('cache-control', 'no-store')
  @ApiOperation({
    summary: 'Prometheus metrics (text exposition format)',
    description:
      'Public unless `METRICS_TOKEN` is set; then it needs `Authorization: Bearer <METRICS_TOKEN>` ' +
      '(that token, not an access token). Application metrics are prefixed `gatehouse_`; ' +
      "prom-client's default process metrics are not.",
  })
  // Public (no access token), and the metrics token when METRICS_TOKEN is set.
  @ApiSecurity('metricsToken')
  @ApiResponse({
    status: 200,
    description: 'The metrics',
    headers: {
      'Cache-Control': {
        description: 'Never cached',
        required: true,
        schema: { type: 'string', example: 'no-store' },
      },
    },
    content: {
      'text/plain': {
        schema: {
          type: 'string',
          example:
            '# HELP gatehouse_http_requests_total HTTP requests, by method, route pattern and status\n' +
            '# TYPE gatehouse_http_requests_total counter\n' +
            'gatehouse_http_requests_total{method="GET",route="/users/me",status="200"} 3\n',
        },
      },
    },
  })
  @ApiErrors('missing_token', 'invalid_token')
  async scrape(@Res({ passthrough: true }) reply: FastifyReply): Promise<string> {
    const text = await this.metrics.text();
    void reply.header('content-type', this.metrics.contentType);
    return text;
  }
}
