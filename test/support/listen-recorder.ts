import type { ListenHandlers } from '../../src/database/database.types.js';

export interface Recorded {
  what: 'listening' | 'lost' | 'notification' | 'heard';
  at: number;
  payload?: string;
  /** For `heard`: when the proving heartbeat was sent. */
  sentAt?: number;
}

/** LISTEN handlers that record what they hear, with a bounded wait for the next event of a kind. */
export function recorder() {
  const events: Recorded[] = [];
  const handlers: ListenHandlers = {
    onNotification: (payload) => events.push({ what: 'notification', at: performance.now(), payload }),
    onListening: () => events.push({ what: 'listening', at: performance.now() }),
    onLost: () => events.push({ what: 'lost', at: performance.now() }),
    onHeard: (sentAt) => events.push({ what: 'heard', at: performance.now(), sentAt }),
  };
  /** Resolves with the time of the first `what` after `after`; rejects after `timeoutMs`. */
  const waitFor = (what: Recorded['what'], after: number, timeoutMs: number) =>
    new Promise<number>((resolve, reject) => {
      const started = performance.now();
      const check = setInterval(() => {
        const event = events.find((e) => e.what === what && e.at > after);
        if (event) {
          clearInterval(check);
          resolve(event.at);
        } else if (performance.now() - started > timeoutMs) {
          clearInterval(check);
          reject(new Error(`no ${what} within ${timeoutMs} ms: ${JSON.stringify(events)}`));
        }
      }, 5);
    });
  return { events, handlers, waitFor };
}
