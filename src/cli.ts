import type { INestApplicationContext } from '@nestjs/common';
import { NestFactory } from '@nestjs/core';
import { Command } from 'commander';
import { CliModule } from './cli/cli.module.js';
import { errorDetail, errorSummary } from './common/errors/error-detail.js';
import { asOperatorError, isOperatorFacing } from './common/errors/operator-error.js';
import { ConfigError, loadConfig } from './config/app-config.js';
import { readPassword } from './cli/read-password.js';
import { openDatabase } from './database/database.connection.js';
import { KeyAdminService } from './key-admin/key-admin.service.js';
import { SigningKeysService } from './keys/signing-keys.service.js';
import { FailedMailService } from './mail/failed-mail.service.js';
import { KeyRevocationService } from './sessions/key-revocation.service.js';
import { AdminBootstrapService } from './users/admin-bootstrap.service.js';
import { createLogger, PinoNestLogger } from './logging/logger.js';

// Whatever this process creates (DATA_DIR, the secret) is its user's alone, whatever umask it inherited.
process.umask(0o077);

/**
 * `npm run cli -- <command>`: administration from the operator's shell.
 * It uses the same configuration (environment) as the service. On the
 * embedded database, while the service runs (it holds DATA_DIR), the command
 * line works through the service's own embedded server, over its Unix
 * socket; otherwise it starts the server itself, for the command's duration.
 *
 * The database is opened here, outside Nest, so that it is closed (and the
 * embedded server stopped, DATA_DIR unlocked) whatever happens: when set-up
 * fails half-way (a wrong KEY_ENCRYPTION_SECRET), Nest hands back no context
 * to close, and the open pool, server and listener would keep the process
 * alive for ever.
 */
async function withContext<T>(work: (context: INestApplicationContext) => Promise<T>): Promise<T> {
  const config = loadConfig();
  const logger = createLogger({ logLevel: config.logLevel === 'info' ? 'warn' : config.logLevel });
  const connection = await openDatabase(config.database, { besideRunningService: true }).catch(
    (error: unknown) => {
      throw asOperatorError(error, 'cannot open the database');
    },
  );
  let context: INestApplicationContext | undefined;
  try {
    context = await NestFactory.createApplicationContext(CliModule.forRoot(config, connection), {
      logger: new PinoNestLogger(logger),
      abortOnError: false,
    });
    return await work(context);
  } finally {
    // The context owns the connection once it exists (DatabaseModule closes it).
    await (context ? context.close() : connection.close());
  }
}

const program = new Command('gatehouse')
  .description('Gatehouse administration')
  .option('--verbose', 'show the full detail of errors');

const keys = program.command('keys').description('JWT signing keys');

keys
  .command('rotate')
  .description(
    'Add a new signing key. It is published in the JWKS at once and starts signing once every ' +
      'JWKS cache has expired (JWKS_MAX_AGE); the old key stays published until its tokens expire. ' +
      'One rotation at a time. Audited. (Also POST /keys/rotate.)',
  )
  .action(async () => {
    const { kid, activatesAt } = await withContext((context) =>
      context.get(KeyAdminService).rotate({ actorId: null }),
    );
    process.stdout.write(`New signing key ${kid}: published now, signs from ${activatesAt}.\n`);
  });

keys
  .command('list')
  .description('Show the signing keys of the configured algorithm and their state')
  .action(async () => {
    const rows = await withContext(async (context) => context.get(SigningKeysService).describe());
    for (const row of rows) {
      const state = row.state === 'retired' && !row.published ? 'expired' : row.state; // revoked stays revoked
      process.stdout.write(`${row.kid}  ${row.alg}  ${state.padEnd(8)}  activates ${row.activatesAt}\n`);
    }
  });

keys
  .command('revoke')
  .description(
    'Revoke a compromised signing key at once, on every instance: tokens it signed are refused and ' +
      'it leaves the JWKS. If it is the key signing now, a fresh key replaces it and signs at once ' +
      '(verifiers refetch the JWKS for its unknown kid). Audited.',
  )
  .argument('<kid>', 'the key to revoke (see `keys list`)')
  // A kid is base64url: one in 64 starts with '-', which must read as the kid, not as an option.
  .allowUnknownOption()
  .option(
    '--end-sessions',
    'also sign out every session that may hold a token it signed (opened before the key stopped ' +
      'signing and used after it started)',
  )
  .action(async (kid: string, options: { endSessions?: boolean }) => {
    const outcome = await withContext((context) =>
      context.get(KeyRevocationService).revoke(kid, { endSessions: options.endSessions === true }),
    );
    if (!outcome) throw new Error(`no signing key ${kid}: see \`keys list\``);
    if (outcome.alreadyRevoked) {
      process.stdout.write(`Signing key ${kid} was already revoked: nothing changed.\n`);
      return;
    }
    process.stdout.write(`Signing key ${kid} revoked: no longer accepted or published.\n`);
    if (outcome.replacedBy) {
      process.stdout.write(`New signing key ${outcome.replacedBy} signs from now.\n`);
    }
    if (options.endSessions) process.stdout.write(`Sessions signed out: ${outcome.sessionsEnded}.\n`);
  });

const mail = program.command('mail').description('Mail delivery (the outbox)');

mail
  .command('failed')
  .description(
    'List mail given up after MAIL_MAX_ATTEMPTS: id, kind, recipient, attempts, when, and the last error ' +
      '(never the content: the outbox holds no link)',
  )
  .action(async () => {
    const rows = await withContext((context) => context.get(FailedMailService).list());
    if (rows.length === 0) {
      process.stdout.write('No failed mail.\n');
      return;
    }
    for (const row of rows) {
      const failedAt = (row.finishedAt ?? row.createdAt).toISOString();
      process.stdout.write(
        `${row.id}  ${row.kind}  ${row.recipient}  ${row.attempts} attempts  failed ${failedAt}  ${row.lastError ?? ''}\n`,
      );
    }
  });

mail
  .command('retry')
  .description(
    'Queue failed mail again with a fresh count of attempts: one (its id, from `mail failed`) or all of ' +
      'them. A running service sends it within a second; a link mail gets a new link then.',
  )
  .argument('[id]', 'the failed mail to retry')
  .option('--all', 'retry every failed mail')
  .action(async (id: string | undefined, options: { all?: boolean }) => {
    if ((id === undefined) === (options.all !== true)) throw new Error('give a mail id, or --all');
    if (id !== undefined && !/^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i.test(id)) {
      throw new Error(`${id} is no mail id: see \`mail failed\``);
    }
    const requeued = await withContext((context) => context.get(FailedMailService).retry(id));
    if (id !== undefined && requeued.length === 0)
      throw new Error(`no failed mail ${id}: see \`mail failed\``);
    process.stdout.write(`Queued again: ${requeued.length} mail${requeued.length === 1 ? '' : 's'}.\n`);
  });

const admin = program.command('admin').description('Administrators');

admin
  .command('create')
  .description(
    'Create an admin account, or make an existing account an active admin: the admin role, ' +
      'enabled if it was disabled (its password is kept). ' +
      'The password is read from a hidden prompt, or from the first line of standard input.',
  )
  .requiredOption('--email <email>', 'email of the account')
  .action(async (options: { email: string }) => {
    const outcome = await withContext(async (context) => {
      const bootstrap = context.get(AdminBootstrapService);
      // An existing account keeps its password: ask for one only when creating.
      const exists = await bootstrap.accountExists(options.email);
      const password = exists ? '' : await readPassword('Password for the new admin: ');
      return bootstrap.ensureAdmin(options.email, password);
    });
    const said = {
      created: 'created with the admin role',
      promoted: 'given the admin role (password unchanged)',
      enabled: 'was disabled: enabled again (it had the admin role; password unchanged)',
      'promoted-and-enabled': 'given the admin role and enabled again (password unchanged)',
      unchanged: 'already an active admin: nothing changed',
    }[outcome];
    process.stdout.write(`${options.email.trim()}: ${said}.\n`);
  });

try {
  await program.parseAsync(process.argv);
} catch (error) {
  const verbose = program.opts<{ verbose?: boolean }>().verbose;
  const message =
    verbose && !(error instanceof ConfigError) && !isOperatorFacing(error)
      ? errorDetail(error)
      : error instanceof ConfigError
        ? error.message
        : errorSummary(error);
  process.stderr.write(`gatehouse: ${message}\n`);
  // Whatever a failed set-up left running (a listener's reconnection, a worker) must not keep the
  // process alive: the database is closed already (withContext).
  process.exit(1);
}
