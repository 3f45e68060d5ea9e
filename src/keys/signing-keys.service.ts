import {
  type BeforeApplicationShutdown,
  Inject,
  Injectable,
  Logger,
  type OnModuleDestroy,
  type OnModuleInit,
  Optional,
} from '@nestjs/common';
import type { KeyObject } from 'node:crypto';
import { APP_CONFIG } from '../config/config.module.js';
import type { AppConfig } from '../config/app-config.js';
import { DATABASE } from '../database/database.module.js';
import { LISTEN_TRUST_WINDOW_MS } from '../database/database.connection.js';
import {
  DATABASE_CONNECTION,
  type Database,
  type DatabaseConnection,
  type Executor,
  type Transaction,
} from '../database/database.types.js';
import type { SigningKeyRow } from '../database/schema.js';
import { SigningKeysRepository } from '../database/signing-keys.repository.js';
import { publicJwks } from './access-token.js';
import type { JwtAlg } from '../config/jwt-alg.js';
import { KeyEncryption } from './key-encryption.js';
import {
  exportPrivateKey,
  generateSigningKey,
  importSigningKey,
  type PublicJwk,
  type SigningKeyMaterial,
} from './signing-key.js';
import { resolveKeyEncryptionSecret } from './key-encryption-secret.js';
import { OperatorError } from '../common/errors/operator-error.js';

/** Tolerance for clocks of other verifiers when deciding a retired key can be unpublished. */
const CLOCK_SKEW_SECONDS = 60;
/** The channel the trigger of migration 0006 notifies on every change to signing_keys. */
export const KEY_CHANGE_CHANNEL = 'gatehouse_keys';
/** How often keys are re-read while that channel is not trusted (a revocation must not wait for the usual reload). */
const RELOAD_WITHOUT_CHANNEL_MS = 1_000;
/**
 * While the channel is not trusted, a token is verified only against keys read less than this long
 * before (see `current`): one read shared by every request meanwhile, so an outage costs a few reads a
 * second, not one per request. Below LISTEN_TRUST_WINDOW_MS, so that a revoked key is refused by every
 * instance within the same bound as a revoked session.
 */
const UNTRUSTED_READ_REUSE_MS = 200;

/** What revoking a key did, for the audit log and the command line. */
export interface KeyRevocation {
  kid: string;
  alg: JwtAlg;
  /** It was revoked before: nothing changed. */
  alreadyRevoked: boolean;
  /** The fresh key that signs in its place, when the revoked key was the one signing. */
  replacedBy?: string;
  /**
   * When the key may have signed tokens (with clock and reload margins), or
   * undefined if it never signed (a pending key).
   */
  signedBetween?: { from: Date; to: Date };
}

/** A rotation: the key added, or (`pending`) the one a rotation already under way added. */
export interface KeyRotation {
  kid: string;
  alg: JwtAlg;
  /** When it starts signing. */
  activatesAt: Date;
  /** A key published but not signing yet was there: nothing was added. */
  pending: boolean;
}

type KeyState = 'pending' | 'active' | 'retired' | 'revoked';

interface LoadedKey {
  material: SigningKeyMaterial;
  activatesAt: number; // ms
}

/**
 * The JWT signing keys, shared by every instance through the database.
 *
 * Timeline of a key: created → published in the JWKS → signs (from
 * activatesAt until the next key activates) → retired but still published
 * until every token it signed has expired → unpublished. A rotated key
 * activates only after JWKS caches (max-age) have seen it, so no verifier
 * ever meets a kid it cannot find.
 */
@Injectable()
export class SigningKeysService implements OnModuleInit, OnModuleDestroy, BeforeApplicationShutdown {
  private readonly logger = new Logger(SigningKeysService.name);
  private readonly encryption: KeyEncryption;
  /** Unrevoked keys of the configured algorithm, oldest activation first. */
  private keys: LoadedKey[] = [];
  /** Revoked keys of the configured algorithm (for `keys list`). */
  private revoked: { kid: string; alg: JwtAlg; activatesAt: number }[] = [];
  /** Every kid this process knows to be revoked: a revocation is final, no stale read brings one back. */
  private readonly revokedKids = new Set<string>();
  /** Reloads are numbered: one that finishes after a later one has been applied is dropped. */
  private reloadsStarted = 0;
  private reloadApplied = 0;
  private readonly removedListeners: ((kid: string) => void)[] = [];
  /**
   * Whether the change channel is up (then a change is heard at once): listening, and a read that
   * started after the LISTEN is in place (it holds what changed while the channel was down).
   */
  private channelUp = false;
  /** When the current LISTEN began (performance.now()); undefined while the channel is down. */
  private listeningSince?: number;
  /** The channel's latest proof (performance.now()): every change committed before it was heard. */
  private heardAt = -Infinity;
  /** The latest read of the keys, shared by verifications while the channel is not trusted. */
  private latestRead?: { startedAt: number; done: Promise<void>; retry?: Promise<void> };
  private reloadTimer?: NodeJS.Timeout;
  private fastReloadTimer?: NodeJS.Timeout;
  private stopListening?: () => Promise<void>;

  constructor(
    @Inject(APP_CONFIG) private readonly config: AppConfig,
    @Inject(DATABASE) private readonly db: Database,
    // Stateless: a default lets a second service be built outside Nest (tests of restarts).
    private readonly repository: SigningKeysRepository = new SigningKeysRepository(),
    // Without it (a service built outside Nest) keys are only re-read periodically.
    @Optional() @Inject(DATABASE_CONNECTION) private readonly connection?: DatabaseConnection,
  ) {
    this.encryption = new KeyEncryption(resolveKeyEncryptionSecret(config));
  }

  /**
   * Called with the kid of every key this process stops knowing (revoked, or
   * its row deleted), after it stopped using it: the verified-token cache
   * drops the tokens that key signed.
   */
  onKeyRemoved(listener: (kid: string) => void): void {
    this.removedListeners.push(listener);
  }

  /** How often keys are re-read, to see rotations made by another instance or the CLI. */
  get reloadIntervalMs(): number {
    return Math.min(30_000, (this.config.jwt.jwksMaxAge * 1000) / 4);
  }

  async onModuleInit(): Promise<void> {
    await this.ensureActiveKey();
    await this.reload();
    const reloadLogged = () =>
      this.reload().catch((error: unknown) =>
        this.logger.warn(`could not reload signing keys: ${String(error)}`),
      );
    this.reloadTimer = setInterval(() => void reloadLogged(), this.reloadIntervalMs);
    this.reloadTimer.unref();
    if (!this.connection) return;
    // A revocation (or a rotation) by another instance or the command line is heard at once;
    // while the channel is not trusted (down, or silent), keys are re-read every second too (the JWKS).
    this.fastReloadTimer = setInterval(() => {
      if (!this.channelTrusted) void reloadLogged();
    }, RELOAD_WITHOUT_CHANNEL_MS);
    this.fastReloadTimer.unref();
    this.stopListening = this.connection.listen(KEY_CHANGE_CHANNEL, {
      onNotification: (payload) => {
        this.onKeyChange(payload);
        void reloadLogged();
      },
      onListening: () => {
        this.listeningSince = performance.now();
        void reloadLogged(); // whatever changed while the channel was down; once in place, the channel is up
      },
      onLost: () => {
        this.listeningSince = undefined;
        this.channelUp = false;
      },
      onHeard: (sentAt) => {
        this.heardAt = Math.max(this.heardAt, sentAt);
      },
    });
  }

  onModuleDestroy(): void {
    clearInterval(this.reloadTimer);
    clearInterval(this.fastReloadTimer);
  }

  /** After onModuleDestroy, before the database closes. */
  async beforeApplicationShutdown(): Promise<void> {
    await this.stopListening?.();
  }

  /**
   * Whether the keys in memory hold every change committed until LISTEN_TRUST_WINDOW_MS ago: the
   * channel is up and proved less than that ago that it had delivered every change committed before
   * the proof. The session cache's test (AuthStateService), on this channel's own connection: a
   * connection that dies without a word is noticed only after about a second, which is too late.
   */
  get channelTrusted(): boolean {
    return this.channelUp && performance.now() - this.heardAt < LISTEN_TRUST_WINDOW_MS;
  }

  /**
   * Resolves when a token may be verified against the keys in memory: at once (undefined) while the
   * channel is trusted; otherwise once a read started less than UNTRUSTED_READ_REUSE_MS ago is in place
   * (the latest one, or a new one), so a key revoked elsewhere is refused within the trust window even
   * if the channel went silent. Rejects when that read fails (the database is unreachable). A service
   * built outside Nest has no channel and only the periodic reload.
   */
  current(): Promise<void> | undefined {
    if (!this.connection || this.channelTrusted) return undefined;
    const latest = this.latestRead;
    if (latest && performance.now() - latest.startedAt < UNTRUSTED_READ_REUSE_MS) {
      // A shared read that failed (begun while the database was away) is not the verdict for requests
      // that came later: one more read, shared too (it starts after them), so the first requests after
      // the database is back do not answer 503.
      latest.retry ??= latest.done.catch(() => this.reload());
      return latest.retry;
    }
    return this.reload();
  }

  /** The key that signs now. */
  currentKey(now = Date.now()): SigningKeyMaterial {
    // The first key activates at the database's clock; should this host's clock
    // lag behind it, sign with the oldest key rather than with none.
    let current: LoadedKey | undefined = this.keys[0];
    for (const key of this.keys) if (key.activatesAt <= now) current = key;
    if (!current) throw new Error('no signing key');
    return current.material;
  }

  /** The public key for a kid, if that key is published now (and of the configured algorithm). */
  publicKeyFor(kid: string): KeyObject | undefined {
    return this.published().find((key) => key.kid === kid)?.publicKey;
  }

  jwks(): { keys: PublicJwk[] } {
    return publicJwks(this.published());
  }

  /**
   * Adds a new key that starts signing once every JWKS cache has seen it
   * (unless a rotation is under way: see rotateIn), then reloads.
   */
  async rotate(): Promise<KeyRotation> {
    const rotation = await this.db.transaction((tx) => this.rotateIn(tx));
    await this.reload();
    return rotation;
  }

  /**
   * The rotation, inside the caller's transaction (which may write the audit
   * event with it): a new key, published at once, that signs after JWKS_MAX_AGE
   * and one reload interval. One rotation at a time: while a key is pending,
   * nothing is added and that key is returned (`pending`), so that repeated
   * calls cannot grow the JWKS without bound. Other instances hear of it through
   * the trigger's notification at the commit; call `reload()` after it for this one.
   */
  async rotateIn(tx: Transaction): Promise<KeyRotation> {
    await this.repository.lockCreation(tx); // one key change at a time across instances
    const alg = this.config.jwt.alg;
    const now = Date.now();
    const pending = (await this.repository.listByAlg(tx, alg)).find(
      (key) => key.revokedAt === null && key.activatesAt.getTime() > now,
    );
    if (pending) return { kid: pending.kid, alg, activatesAt: pending.activatesAt, pending: true };
    const activatesAt = new Date(now + this.config.jwt.jwksMaxAge * 1000 + this.reloadIntervalMs);
    const kid = await this.insertKey(tx, alg, activatesAt);
    return { kid, alg, activatesAt, pending: false };
  }

  /** The keys and where each stands in its timeline (for the command line). */
  describe(now = Date.now()): {
    kid: string;
    alg: JwtAlg;
    state: KeyState;
    published: boolean;
    activatesAt: string;
  }[] {
    const current = this.currentKey(now).kid;
    const published = new Set(this.published(now).map((key) => key.kid));
    const listed: { kid: string; alg: JwtAlg; state: KeyState; published: boolean; activatesAt: number }[] = [
      ...this.keys.map(({ material, activatesAt }) => ({
        kid: material.kid,
        alg: material.alg,
        state:
          activatesAt > now
            ? ('pending' as const)
            : material.kid === current
              ? ('active' as const)
              : ('retired' as const),
        published: published.has(material.kid),
        activatesAt,
      })),
      ...this.revoked.map((key) => ({ ...key, state: 'revoked' as const, published: false })),
    ];
    return listed
      .sort((a, b) => a.activatesAt - b.activatesAt)
      .map((key) => ({ ...key, activatesAt: new Date(key.activatesAt).toISOString() }));
  }

  /** Re-reads the keys from the database. */
  reload(): Promise<void> {
    const startedAt = performance.now();
    const done = this.read(startedAt);
    this.latestRead = { startedAt, done };
    return done;
  }

  private async read(startedAt: number): Promise<void> {
    const sequence = ++this.reloadsStarted;
    const rows = await this.repository.listByAlg(this.db, this.config.jwt.alg);
    if (sequence < this.reloadApplied) return; // a later read is already in place
    this.reloadApplied = sequence;
    for (const row of rows) if (row.revokedAt !== null) this.revokedKids.add(row.kid);
    // Decrypt each key once per process; its activation time is read afresh.
    const known = new Map(this.keys.map((key) => [key.material.kid, key.material]));
    const live = rows.filter((row) => !this.revokedKids.has(row.kid));
    this.keys = live.map((row) => {
      const material = known.get(row.kid);
      return material ? { material, activatesAt: row.activatesAt.getTime() } : this.decrypt(row);
    });
    this.revoked = rows
      .filter((row) => this.revokedKids.has(row.kid))
      .map((row) => ({ kid: row.kid, alg: row.alg as JwtAlg, activatesAt: row.activatesAt.getTime() }));
    const kept = new Set(this.keys.map((key) => key.material.kid));
    for (const kid of known.keys()) if (!kept.has(kid)) this.removed(kid);
    if (this.listeningSince !== undefined && startedAt >= this.listeningSince) this.channelUp = true;
  }

  /**
   * Revokes a key inside the caller's transaction (which may end sessions and
   * write the audit event with it). If the key is the one signing now, a fresh
   * key takes its place in the timeline — it signs at once — so that an older,
   * retired key never signs again and no instance is left without a key.
   * Other instances hear of it through the trigger's notification when the
   * transaction commits; call `reload()` after the commit for this one.
   */
  async revokeIn(tx: Transaction, kid: string, at: Date): Promise<KeyRevocation | undefined> {
    await this.repository.lockCreation(tx); // one key change at a time across instances
    const row = await this.repository.lockOne(tx, kid);
    if (!row) return undefined;
    const alg = row.alg as JwtAlg;
    if (row.revokedAt !== null) return { kid, alg, alreadyRevoked: true };
    const now = at.getTime();
    const live = (await this.repository.listByAlg(tx, alg)).filter(
      (key) => key.revokedAt === null && key.kid !== kid,
    );
    const activatesAt = row.activatesAt.getTime();
    // The next key to have activated after it ended its signing; none: it signs now (or is pending).
    const successor = live.find(
      (key) => key.activatesAt.getTime() >= activatesAt && key.activatesAt.getTime() <= now,
    );
    await this.repository.markRevoked(tx, kid, at);
    const revocation: KeyRevocation = { kid, alg, alreadyRevoked: false };
    if (!successor && activatesAt <= now) {
      revocation.replacedBy = await this.insertKey(tx, alg, row.activatesAt);
    }
    // Instances' clocks differ from the database's, and an instance may sign with
    // a key until its next reload: widen the window by both.
    const from = activatesAt - CLOCK_SKEW_SECONDS * 1000;
    const to =
      (successor ? successor.activatesAt.getTime() : now) + CLOCK_SKEW_SECONDS * 1000 + this.reloadIntervalMs;
    if (from <= now) revocation.signedBetween = { from: new Date(from), to: new Date(Math.min(to, now)) };
    return revocation;
  }

  /** A notification of the trigger: a key that is gone is dropped before the reload confirms it. */
  private onKeyChange(payload: string): void {
    let change: { kid?: unknown; gone?: unknown };
    try {
      change = JSON.parse(payload) as { kid?: unknown; gone?: unknown };
    } catch {
      return; // the reload that follows sees whatever it was
    }
    if (typeof change.kid !== 'string' || change.gone !== true) return;
    this.revokedKids.add(change.kid);
    const before = this.keys.length;
    this.keys = this.keys.filter((key) => key.material.kid !== change.kid);
    if (this.keys.length !== before) this.removed(change.kid);
  }

  private removed(kid: string): void {
    this.logger.warn(`signing key ${kid} is revoked or gone: it no longer verifies or is published`);
    for (const listener of this.removedListeners) listener(kid);
  }

  /** First start (or a new JWT_ALG): create a key that signs at once, exactly once across instances. */
  private async ensureActiveKey(): Promise<void> {
    const alg = this.config.jwt.alg;
    const kid = await this.db.transaction(async (tx) => {
      await this.repository.lockCreation(tx);
      if (await this.repository.hasActive(tx, alg)) return undefined;
      return this.insertKey(tx, alg, 'now');
    });
    // After the commit: a run retried after a deadlock must not announce the key it rolled back.
    if (kid) this.logger.log(`created signing key ${kid} (${alg})`);
  }

  private async insertKey(executor: Executor, alg: JwtAlg, activatesAt: Date | 'now'): Promise<string> {
    const key = generateSigningKey(alg);
    await this.repository.insert(executor, {
      kid: key.kid,
      alg,
      publicJwk: key.publicJwk,
      privateKeyEncrypted: this.encryption.encrypt(exportPrivateKey(key.privateKey)),
      activatesAt,
    });
    return key.kid;
  }

  private decrypt(row: SigningKeyRow): LoadedKey {
    let der: Buffer;
    try {
      der = this.encryption.decrypt(row.privateKeyEncrypted);
    } catch {
      throw new OperatorError(
        `cannot decrypt signing key ${row.kid}: KEY_ENCRYPTION_SECRET differs from the one it was stored with`,
      );
    }
    return {
      material: importSigningKey(row.alg as JwtAlg, row.kid, der),
      activatesAt: row.activatesAt.getTime(),
    };
  }

  /**
   * Pending keys, the active key, and retired keys whose tokens may still be
   * unexpired (a key retires when the next one activates).
   */
  private published(now = Date.now()): SigningKeyMaterial[] {
    const ttlMs = (this.config.jwt.accessTokenTtl + CLOCK_SKEW_SECONDS) * 1000;
    return this.keys
      .filter((key, index) => {
        const successor = this.keys.slice(index + 1).find((next) => next.activatesAt <= now);
        return !successor || successor.activatesAt + ttlMs > now;
      })
      .map((key) => key.material);
  }
}
