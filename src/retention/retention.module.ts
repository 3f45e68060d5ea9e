import { Module } from '@nestjs/common';
import { RepositoriesModule } from '../database/repositories.module.js';
import { RetentionService } from './retention.service.js';

/** The retention job: deletes expired audit events and ended sessions, once across instances. */
@Module({ imports: [RepositoriesModule], providers: [RetentionService], exports: [RetentionService] })
export class RetentionModule {}
