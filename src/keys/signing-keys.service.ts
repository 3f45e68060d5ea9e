import { Inject, Injectable, Logger, type OnModuleDestroy, type OnModuleInit } from '@nestjs/common';
import type { KeyObject } from 'node:crypto';
import { APP_CONFIG } from '../config/config.module.js';
import type { AppConfig } from '../config/app-config.js';
import { DATABASE } from '../database/database.module.js';
import type { Database, Executor } from '../database/database.types.js';
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
export class SigningKeysService implements OnModuleInit, OnModuleDestroy {
  private readonly logger = new Logger(SigningKeysService.name);
  private readonly encryption: KeyEncryption;
  /** Keys of the configured algorithm, oldest activation first. */
  private keys: LoadedKey[] = [];
  private reloadTimer?: NodeJS.Timeout;

  constructor(
    @Inject(APP_CONFIG) private readonly config: AppConfig,
    @Inject(DATABASE) private readonly db: Database,
    // Stateless: a default lets a second service be built outside Nest (tests of restarts).
    private readonly repository: SigningKeysRepository = new SigningKeysRepository(),
  ) {
    this.encryption = new KeyEncryption(resolveKeyEncryptionSecret(config));
  }

  /** How often keys are re-read, to see rotations made by another instance or the CLI. */
  get reloadIntervalMs(): number {
    return Math.min(30_000, (this.config.jwt.jwksMaxAge * 1000) / 4);
  }

  async onModuleInit(): Promise<void> {
    await this.ensureActiveKey();
    await this.reload();
    this.reloadTimer = setInterval(() => {
      this.reload().catch((error: unknown) =>
        this.logger.warn(`could not reload signing keys: ${String(error)}`),
      );
    }, this.reloadIntervalMs);
    this.reloadTimer.unref();
  }

  onModuleDestroy(): void {
    clearInterval(this.reloadTimer);
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
   * Adds a new key that starts signing once every JWKS cache has seen it.
   * Returns its kid and activation time.
   */
  async rotate(): Promise<{ kid: string; activatesAt: Date }> {
    const delayMs = this.config.jwt.jwksMaxAge * 1000 + this.reloadIntervalMs;
    const activatesAt = new Date(Date.now() + delayMs);
    const kid = await this.insertKey(this.db, this.config.jwt.alg, activatesAt);
    await this.reload();
    return { kid, activatesAt };
  }

  /** The keys and where each stands in its timeline (for the command line). */
  describe(now = Date.now()): {
    kid: string;
    alg: JwtAlg;
    state: 'pending' | 'active' | 'retired';
    published: boolean;
    activatesAt: string;
  }[] {
    const current = this.currentKey(now).kid;
    const published = new Set(this.published(now).map((key) => key.kid));
    return this.keys.map(({ material, activatesAt }) => ({
      kid: material.kid,
      alg: material.alg,
      state: activatesAt > now ? 'pending' : material.kid === current ? 'active' : 'retired',
      published: published.has(material.kid),
      activatesAt: new Date(activatesAt).toISOString(),
    }));
  }

  /** Re-reads the keys from the database. */
  async reload(): Promise<void> {
    const rows = await this.repository.listByAlg(this.db, this.config.jwt.alg);
    // Decrypt each key once per process; its activation time is read afresh.
    const known = new Map(this.keys.map((key) => [key.material.kid, key.material]));
    this.keys = rows.map((row) => {
      const material = known.get(row.kid);
      return material ? { material, activatesAt: row.activatesAt.getTime() } : this.decrypt(row);
    });
  }

  /** First start (or a new JWT_ALG): create a key that signs at once, exactly once across instances. */
  private async ensureActiveKey(): Promise<void> {
    const alg = this.config.jwt.alg;
    await this.db.transaction(async (tx) => {
      await this.repository.lockCreation(tx);
      if (!(await this.repository.hasActive(tx, alg))) {
        const kid = await this.insertKey(tx, alg, 'now');
        this.logger.log(`created signing key ${kid} (${alg})`);
      }
    });
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
