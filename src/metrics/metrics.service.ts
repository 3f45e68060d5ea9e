import { Inject, Injectable, Optional } from '@nestjs/common';
import { collectDefaultMetrics, Counter, Gauge, Histogram, Registry } from 'prom-client';
import { COUNTED_EVENTS, type CountedEvent } from '../common/security-events.js';
import { DATABASE_CONNECTION, type DatabaseConnection } from '../database/database.types.js';
import { DATABASE_UNAVAILABLE_CLASSES } from '../database/postgres-errors.js';
import { MailWorker } from '../mail/mail-worker.service.js';
import { RevocationFeedService } from '../oauth/revocation-feed.service.js';
import { PasswordHasher } from '../passwords/password-hasher.service.js';
import { authEventsFor } from './auth-events.js';
import { methodLabel, routeLabel } from './http-labels.js';

/** Latency buckets, in seconds: from cached reads to password hashing under load. */
const LATENCY_BUCKETS = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10];

/** One finished HTTP request, as the onResponse hook sees it. */
export interface RequestOutcome {
  method: string;
  /** The matched route pattern; undefined when no route matched. */
  route: string | undefined;
  status: number;
  durationSeconds: number;
  /** The error code of the response body, when it was an error. */
  errorCode?: string;
  /** Why the database could not serve it (`read_only`, `lock_timeout`, …), when that is why it failed. */
  databaseUnavailable?: string;
  /** Auth events the handler noted (ClientInfo.events). */
  events?: readonly CountedEvent[];
}

let processRegistry: Registry | undefined;

/**
 * prom-client's default metrics (CPU, memory, event loop, GC, …), unprefixed
 * (`process_cpu_user_seconds_total`, `nodejs_heap_size_used_bytes`, …) so
 * that standard dashboards work. They describe the process, not an app, and
 * `collectDefaultMetrics` starts observers that are never released, so they
 * are collected once per process, in a registry of their own (not
 * prom-client's global one), and every app's scrape includes them.
 */
function defaultMetricsRegistry(): Registry {
  if (!processRegistry) {
    processRegistry = new Registry();
    collectDefaultMetrics({ register: processRegistry });
  }
  return processRegistry;
}

/**
 * The app's metrics, in a registry of its own: several apps in one process
 * (the tests) never share counters. Application metrics are prefixed
 * `gatehouse_`.
 */
@Injectable()
export class MetricsService {
  private readonly registry = new Registry();

  private readonly requests = new Counter({
    name: 'gatehouse_http_requests_total',
    help: 'HTTP requests, by method, route pattern and status',
    labelNames: ['method', 'route', 'status'] as const,
    registers: [this.registry],
  });

  private readonly latency = new Histogram({
    name: 'gatehouse_http_request_duration_seconds',
    help: 'HTTP request latency in seconds, by method, route pattern and status',
    labelNames: ['method', 'route', 'status'] as const,
    buckets: LATENCY_BUCKETS,
    registers: [this.registry],
  });

  private readonly authEvents = new Counter({
    name: 'gatehouse_auth_events_total',
    help: `Auth events: ${COUNTED_EVENTS.join(', ')}`,
    labelNames: ['event'] as const,
    registers: [this.registry],
  });

  private readonly databaseUnavailable = new Counter({
    name: 'gatehouse_database_unavailable_total',
    help: `Requests answered 503 because the database could not serve them, by class: ${DATABASE_UNAVAILABLE_CLASSES.join(', ')}`,
    labelNames: ['class'] as const,
    registers: [this.registry],
  });

  constructor(
    @Optional() hasher?: PasswordHasher,
    @Optional() mail?: MailWorker,
    @Optional() feed?: RevocationFeedService,
    @Optional() @Inject(DATABASE_CONNECTION) database?: DatabaseConnection,
  ) {
    // Every event's and class's series exists from the start, at 0, so rate() sees the first one.
    for (const event of COUNTED_EVENTS) this.authEvents.inc({ event }, 0);
    for (const name of DATABASE_UNAVAILABLE_CLASSES) this.databaseUnavailable.inc({ class: name }, 0);
    if (hasher) this.hashingMetrics(hasher);
    if (mail) this.mailMetrics(mail);
    if (database) {
      this.followingCounter(
        'gatehouse_database_retries_total',
        'Transactions run again after a serialization failure or a deadlock (40001, 40P01)',
        () => database.transactionRetries(),
      );
    }
    if (feed) {
      new Gauge({
        name: 'gatehouse_revocation_streams',
        help: 'Revocation-feed streams (Server-Sent Events) open on this instance',
        registers: [this.registry],
        collect() {
          this.set(feed.openStreams);
        },
      });
    }
  }

  /** A counter that follows a total kept elsewhere, read at each scrape. */
  private followingCounter(name: string, help: string, read: () => number): void {
    let reported = 0;
    new Counter({
      name,
      help,
      registers: [this.registry],
      collect() {
        const total = read();
        this.inc(total - reported);
        reported = total;
      },
    });
  }

  /** Mail delivery, from this instance's worker; the outbox depth from the database (shared). */
  private mailMetrics(mail: MailWorker): void {
    this.followingCounter(
      'gatehouse_mail_sent_total',
      'Mails delivered by this instance',
      () => mail.counters.sent,
    );
    this.followingCounter(
      'gatehouse_mail_failed_total',
      'Mails given up by this instance after MAIL_MAX_ATTEMPTS (see `mail failed`)',
      () => mail.counters.failed,
    );
    this.followingCounter(
      'gatehouse_mail_retried_total',
      'Mail deliveries that failed on this instance and were scheduled again',
      () => mail.counters.retried,
    );
    new Gauge({
      name: 'gatehouse_mail_outbox_depth',
      help: 'Mails waiting in the outbox (all instances): growing means delivery is failing',
      registers: [this.registry],
      async collect() {
        // The database may be down: the scrape still answers, with the last value.
        const pending = await mail.pendingCount().catch(() => undefined);
        if (pending !== undefined) this.set(pending);
      },
    });
  }

  /** The password-hashing queue, read from the hasher at each scrape. */
  private hashingMetrics(hasher: PasswordHasher): void {
    new Gauge({
      name: 'gatehouse_password_hash_queue',
      help: 'Password hashing operations waiting for a thread (at most PASSWORD_HASH_QUEUE)',
      registers: [this.registry],
      collect() {
        this.set(hasher.queued);
      },
    });
    const counter = (name: string, help: string, read: () => number) =>
      this.followingCounter(name, help, read);
    counter(
      'gatehouse_password_hash_rejected_total',
      'Password hashing operations refused because the queue was full (answered 503 unavailable)',
      () => hasher.rejected,
    );
    counter(
      'gatehouse_password_hash_dropped_total',
      'Password hashing operations dropped before they started because the client closed the request',
      () => hasher.dropped,
    );
  }

  /**
   * The counter and histogram children of each (method, route, status), so
   * that a request costs two increments rather than hashing its labels twice.
   * Bounded: routes are patterns and methods a fixed set.
   */
  private readonly series = new Map<
    string,
    {
      requests: Counter.Internal;
      latency: Histogram.Internal<'method' | 'route' | 'status'>;
    }
  >();

  /** Counts one finished request, the auth event it stands for and the database trouble that failed it, if any. */
  record(outcome: RequestOutcome): void {
    const route = routeLabel(outcome.route);
    const method = methodLabel(outcome.method);
    const key = `${method} ${outcome.status} ${route}`;
    let series = this.series.get(key);
    if (!series) {
      const labels = { method, route, status: String(outcome.status) };
      series = { requests: this.requests.labels(labels), latency: this.latency.labels(labels) };
      this.series.set(key, series);
    }
    series.requests.inc();
    series.latency.observe(outcome.durationSeconds);
    if (outcome.databaseUnavailable) this.databaseUnavailable.inc({ class: outcome.databaseUnavailable });
    for (const event of authEventsFor(
      outcome.method,
      route,
      outcome.status,
      outcome.errorCode,
      outcome.events,
    )) {
      this.authEvents.inc({ event });
    }
  }

  /** The Content-Type of `text()`: Prometheus text exposition format. */
  get contentType(): string {
    return this.registry.contentType;
  }

  /** Everything, in the Prometheus text format: process metrics, then the app's. */
  text(): Promise<string> {
    return Registry.merge([defaultMetricsRegistry(), this.registry]).metrics();
  }
}
