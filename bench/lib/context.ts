import type { Session } from './api.js';
import type { Section } from './results.js';
import type { Baseline, Service } from './service.js';
import type { Settings } from './settings.js';
import type { SeedPlan } from './users-table.js';

export interface Account {
  email: string;
  password: string;
  session: Session;
}

/** What the scenarios of one database share. */
export interface BenchContext {
  settings: Settings;
  section: Section;
  service: Service;
  baselines: { http: Baseline; jwt: Baseline };
  /** Tokens of the service's shape signed with the bench's own key, for bare-jwt. */
  baselineTokens: string[];
  plan: SeedPlan;
  admin: Account;
  /** One signed-up user per connection of me-warm. */
  warm: Account[];
  /** Distinct valid access tokens for me-cold. */
  coldTokens: string[];
  /** Rows seeded into users so far (seeded rows 1..seeded exist). */
  seeded: number;
}
