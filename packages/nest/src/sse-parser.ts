/** One event of a `text/event-stream`, as the HTML standard's parser dispatches it. */
export interface SseEvent {
  /** The `event:` field, `message` when absent. */
  type: string;
  /** The `data:` lines joined with `\n`. */
  data: string;
  /** The last event id seen on the stream so far (ids carry over to later events). */
  lastEventId: string;
}

export interface SseHandlers {
  event: (event: SseEvent) => void;
  /** A `:` comment line: servers send them as keep-alives. */
  comment?: (text: string) => void;
  /** A valid `retry:` field, in milliseconds. */
  retry?: (ms: number) => void;
}

/**
 * An incremental parser of the `text/event-stream` format (HTML standard,
 * "Server-sent events", 9.2.6), for Node, which has no EventSource: feed it
 * the decoded text in chunks of any size. Lines end in CRLF, LF or CR — a CR
 * at the end of one chunk and an LF at the start of the next are one line
 * end. A byte-order mark is the decoder's to strip (TextDecoder does).
 * Incomplete events at the end of the stream are discarded, as the standard says.
 */
export class SseParser {
  private buffer = '';
  /** The previous chunk ended in CR: an LF starting the next one belongs to that line end. */
  private afterCR = false;
  private data = '';
  private hasData = false;
  private type = '';
  private lastEventIdBuffer = '';
  /** The id of the last dispatched event (what a reconnection sends as `Last-Event-ID`). */
  lastEventId = '';

  constructor(private readonly handlers: SseHandlers) {}

  push(chunk: string): void {
    let text = chunk;
    if (this.afterCR && text.startsWith('\n')) text = text.slice(1);
    this.afterCR = false;
    let start = 0;
    let buffer = this.buffer;
    for (let i = 0; i < text.length; i++) {
      const c = text.charCodeAt(i);
      if (c !== 13 && c !== 10) continue;
      this.line(buffer + text.slice(start, i));
      buffer = '';
      if (c === 13) {
        if (i + 1 === text.length) this.afterCR = true;
        else if (text.charCodeAt(i + 1) === 10) i++;
      }
      start = i + 1;
    }
    this.buffer = buffer + text.slice(start);
  }

  private line(line: string): void {
    if (line === '') return this.dispatch();
    const colon = line.indexOf(':');
    if (colon === 0) {
      this.handlers.comment?.(line.slice(1));
      return;
    }
    const field = colon === -1 ? line : line.slice(0, colon);
    let value = colon === -1 ? '' : line.slice(colon + 1);
    if (value.startsWith(' ')) value = value.slice(1);
    switch (field) {
      case 'event':
        this.type = value;
        break;
      case 'data':
        this.data += this.hasData ? `\n${value}` : value;
        this.hasData = true;
        break;
      case 'id':
        if (!value.includes('\0')) this.lastEventIdBuffer = value;
        break;
      case 'retry':
        if (/^[0-9]+$/.test(value)) this.handlers.retry?.(Number(value));
        break;
      default:
      // Unknown fields are ignored.
    }
  }

  private dispatch(): void {
    this.lastEventId = this.lastEventIdBuffer;
    const { hasData, data, type } = this;
    this.data = '';
    this.hasData = false;
    this.type = '';
    if (!hasData) return;
    this.handlers.event({ type: type || 'message', data, lastEventId: this.lastEventId });
  }
}
