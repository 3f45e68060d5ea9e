import { Module } from '@nestjs/common';
import { MailDeliveryModule } from '../mail/mail.module.js';
import { OAuthModule } from '../oauth/oauth.module.js';
import { PasswordsModule } from '../passwords/passwords.module.js';
import { HttpMetricsHook } from './http-metrics.hook.js';
import { MetricsTokenGuard } from './metrics-token.guard.js';
import { MetricsController } from './metrics.controller.js';
import { MetricsService } from './metrics.service.js';

/** GET /metrics, and the request and auth-event counters behind it (one registry per app). */
@Module({
  imports: [PasswordsModule, MailDeliveryModule, OAuthModule],
  controllers: [MetricsController],
  providers: [MetricsService, HttpMetricsHook, MetricsTokenGuard],
  exports: [MetricsService],
})
export class MetricsModule {}
