import { afterAll, beforeAll } from 'vitest';
import { EventEmitter } from 'node:events';
import { createServer, type Server, type Socket } from 'node:net';
import { simpleParser } from 'mailparser';
import { generate } from 'selfsigned';
import { SMTPServer, type SMTPServerOptions } from 'smtp-server';
import { freePort } from './process.js';

/** One message the server accepted, parsed as a mail program would. */
export interface ReceivedMail {
  from: string;
  /** The envelope's recipients (RCPT TO). */
  to: string[];
  subject: string;
  text: string;
  html: string;
  /** The whole message as sent (headers and both parts). */
  raw: string;
  /** Whether the session ran over TLS (STARTTLS or implicit) when the message came. */
  secure: boolean;
  /** The user the client authenticated as, if it did. */
  user?: string;
  /** The first link of the text part that carries a token in its fragment, and that token. */
  link?: string;
  token?: string;
}

export interface TestSmtpOptions {
  /** `none`: no TLS offered; `starttls`: offered, and the client must upgrade (it is required). */
  tls?: 'none' | 'starttls';
  /** Require AUTH with these credentials (over TLS when `tls` is starttls). */
  auth?: { user: string; pass: string };
  /** The port to listen on (another server's, once it is closed); a free one by default. */
  port?: number;
}

const LINK = /(https?:\/\/\S+#token=(gh_lt_[A-Za-z0-9_-]{43}))/;

let certificate: Promise<{ key: string; cert: string }> | undefined;
/** One self-signed certificate for every STARTTLS server of the run. */
function testCertificate(): Promise<{ key: string; cert: string }> {
  // An EC key: quick to make, whatever the machine's load.
  certificate ??= generate([{ name: 'commonName', value: '127.0.0.1' }], {
    keyType: 'ec',
    curve: 'P-256',
  }).then((pems) => ({ key: pems.private, cert: pems.cert }));
  return certificate;
}

/**
 * A real SMTP server (the `smtp-server` package) on 127.0.0.1 for the tests:
 * plain or STARTTLS, with or without AUTH. It keeps every message it accepts,
 * can refuse mail with a temporary error (451), and can be stopped (nothing
 * listens: connections are refused) and started again on the same port.
 */
export class TestSmtpServer {
  readonly received: ReceivedMail[] = [];
  /** While set, every recipient is refused with this temporary error. */
  refusing: string | undefined;
  /** Connections accepted, in all. */
  connections = 0;
  private server: SMTPServer | undefined;
  private readonly events = new EventEmitter();

  private constructor(
    readonly port: number,
    private readonly options: TestSmtpOptions,
    private readonly tls: { key: string; cert: string } | undefined,
  ) {}

  static async start(options: TestSmtpOptions = {}): Promise<TestSmtpServer> {
    const tls = options.tls === 'starttls' ? await testCertificate() : undefined;
    const server = new TestSmtpServer(options.port ?? (await freePort()), options, tls);
    await server.listen();
    return server;
  }

  /**
   * SMTP_URL for this server. With STARTTLS, the client is made to require it
   * and to accept the test's self-signed certificate.
   */
  get url(): string {
    const auth = this.options.auth
      ? `${encodeURIComponent(this.options.auth.user)}:${encodeURIComponent(this.options.auth.pass)}@`
      : '';
    const query = this.options.tls === 'starttls' ? '?requireTLS=true&tls.rejectUnauthorized=false' : '';
    return `smtp://${auth}127.0.0.1:${this.port}${query}`;
  }

  /** Listens (again) on its port. */
  async listen(): Promise<void> {
    const { auth } = this.options;
    const options: SMTPServerOptions = {
      logger: false,
      disableReverseLookup: true,
      closeTimeout: 100,
      ...(this.tls ? { key: this.tls.key, cert: this.tls.cert } : { disabledCommands: ['STARTTLS'] }),
      ...(auth
        ? {
            authMethods: ['PLAIN', 'LOGIN'],
            allowInsecureAuth: !this.tls,
            onAuth: (credentials, _session, callback) => {
              if (credentials.username === auth.user && credentials.password === auth.pass) {
                callback(null, { user: credentials.username });
              } else {
                callback(Object.assign(new Error('Invalid username or password'), { responseCode: 535 }));
              }
            },
          }
        : { authOptional: true, disabledCommands: this.tls ? ['AUTH'] : ['AUTH', 'STARTTLS'] }),
      onConnect: (_session, callback) => {
        this.connections++;
        callback();
      },
      onRcptTo: (_address, _session, callback) => {
        if (this.refusing) {
          callback(Object.assign(new Error(this.refusing), { responseCode: 451 }));
        } else {
          callback();
        }
      },
      onData: (stream, session, callback) => {
        const chunks: Buffer[] = [];
        stream.on('data', (chunk: Buffer) => chunks.push(chunk));
        stream.on('end', () => {
          const raw = Buffer.concat(chunks).toString('utf8');
          void simpleParser(raw).then(
            (parsed) => {
              const text = parsed.text ?? '';
              const match = LINK.exec(text);
              this.received.push({
                from: session.envelope.mailFrom ? session.envelope.mailFrom.address : '',
                to: session.envelope.rcptTo.map((rcpt) => rcpt.address),
                subject: parsed.subject ?? '',
                text,
                html: typeof parsed.html === 'string' ? parsed.html : '',
                raw,
                secure: session.secure,
                user: typeof session.user === 'string' ? session.user : undefined,
                link: match?.[1],
                token: match?.[2],
              });
              this.events.emit('mail');
              callback();
            },
            (error: unknown) => callback(error as Error),
          );
        });
      },
    };
    const server = new SMTPServer(options);
    server.on('error', () => {}); // a client that goes away mid-session
    await new Promise<void>((resolve, reject) => {
      server.server.once('error', reject);
      server.listen(this.port, '127.0.0.1', () => resolve());
    });
    this.server = server;
  }

  /** Stops listening: from now on connections are refused, until `listen()`. */
  async stop(): Promise<void> {
    const server = this.server;
    this.server = undefined;
    if (server) await new Promise<void>((resolve) => server.close(() => resolve()));
  }

  /** Mail received for this address (any case). */
  mailTo(address: string): ReceivedMail[] {
    return this.received.filter((mail) => mail.to.some((to) => to.toLowerCase() === address.toLowerCase()));
  }

  /** Resolves with the first mail (received already or to come) that matches; rejects after `timeoutMs`. */
  async waitFor(match: (mail: ReceivedMail) => boolean, timeoutMs = 30_000): Promise<ReceivedMail> {
    const found = this.received.find(match);
    if (found) return found;
    return new Promise((resolve, reject) => {
      const onMail = () => {
        const mail = this.received.find(match);
        if (mail) {
          cleanup();
          resolve(mail);
        }
      };
      const timer = setTimeout(() => {
        cleanup();
        reject(new Error(`no matching mail within ${timeoutMs} ms (${this.received.length} received)`));
      }, timeoutMs);
      const cleanup = () => {
        clearTimeout(timer);
        this.events.off('mail', onMail);
      };
      this.events.on('mail', onMail);
    });
  }

  /** The next mail to `address` with `subject` containing the text given, if any. */
  waitForMailTo(address: string, subject?: string, timeoutMs?: number): Promise<ReceivedMail> {
    return this.waitFor(
      (mail) =>
        mail.to.some((to) => to.toLowerCase() === address.toLowerCase()) &&
        (subject === undefined || mail.subject.includes(subject)),
      timeoutMs,
    );
  }

  /**
   * The next mail to `address` whose subject contains `subject`, after those
   * received so far: call it before the request that sends the mail.
   */
  nextMailTo(address: string, subject: string, timeoutMs?: number): Promise<ReceivedMail> {
    const matches = (mail: ReceivedMail) =>
      mail.to.some((to) => to.toLowerCase() === address.toLowerCase()) && mail.subject.includes(subject);
    const seen = new Set(this.received.filter(matches));
    return this.waitFor((mail) => matches(mail) && !seen.has(mail), timeoutMs);
  }

  /** Resolves once `count` mails in all have arrived; rejects after `timeoutMs`. */
  async waitForCount(count: number, timeoutMs = 60_000): Promise<void> {
    await this.waitFor(() => this.received.length >= count, timeoutMs);
  }
}

/**
 * A TCP server that accepts connections and never says a word: an SMTP
 * server that hangs before its greeting. `connected` resolves at the first
 * connection.
 */
export async function startSilentServer(): Promise<{
  port: number;
  connected: Promise<void>;
  close: () => Promise<void>;
}> {
  const port = await freePort();
  const sockets = new Set<Socket>();
  let onConnection!: () => void;
  const connected = new Promise<void>((resolve) => (onConnection = resolve));
  const server: Server = createServer((socket) => {
    sockets.add(socket);
    socket.on('error', () => {});
    socket.on('close', () => sockets.delete(socket));
    onConnection();
  });
  await new Promise<void>((resolve) => server.listen(port, '127.0.0.1', resolve));
  return {
    port,
    connected,
    close: async () => {
      for (const socket of sockets) socket.destroy();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}

/**
 * The suite's SMTP server: started before the enclosing `describe`'s tests (and before a
 * `useTestApp` declared after it, whose env may name it), stopped after them.
 */
export function useSmtpServer(options: TestSmtpOptions = {}): TestSmtpServer {
  let current: TestSmtpServer | undefined;
  beforeAll(async () => {
    current = await TestSmtpServer.start(options);
  });
  afterAll(() => current?.stop());
  return new Proxy({} as TestSmtpServer, {
    get(_, key) {
      if (!current)
        throw new Error('useSmtpServer: the server exists only in hooks and tests of its describe');
      const value: unknown = Reflect.get(current, key, current);
      return typeof value === 'function' ? (value as (...args: unknown[]) => unknown).bind(current) : value;
    },
  });
}
