import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { type SseEvent, SseParser } from '../src/sse-parser.js';

/** Parses `chunks` in order; returns what the parser reported. */
function parse(chunks: string[]) {
  const events: SseEvent[] = [];
  const comments: string[] = [];
  const retries: number[] = [];
  const parser = new SseParser({
    event: (event) => events.push(event),
    comment: (text) => comments.push(text),
    retry: (ms) => retries.push(ms),
  });
  for (const chunk of chunks) parser.push(chunk);
  return { events, comments, retries, lastEventId: parser.lastEventId };
}

const message = (data: string, type = 'message', lastEventId = ''): SseEvent => ({ type, data, lastEventId });

describe('the text/event-stream parser', () => {
  it('dispatches an event on a blank line, with its type, data and id', () => {
    const { events } = parse(['id: 7\nevent: revocation\ndata: {"a":1}\n\n']);
    expect(events).toEqual([message('{"a":1}', 'revocation', '7')]);
  });

  it('joins data lines with LF and drops one leading space only', () => {
    const { events } = parse(['data:  two spaces\ndata:none\ndata\n\n']);
    expect(events).toEqual([message(' two spaces\nnone\n')]);
  });

  it('accepts CRLF, LF and CR line ends, mixed', () => {
    const { events } = parse(['data: a\r\n\r\ndata: b\r\rdata: c\n\n']);
    expect(events.map((e) => e.data)).toEqual(['a', 'b', 'c']);
  });

  it('treats a CR at the end of a chunk and an LF at the start of the next as one line end', () => {
    const { events } = parse(['data: a\r', '\ndata: b\r', '\n\r', '\n']);
    // One event (a and b): the CR LF pairs are not read as blank lines.
    expect(events).toEqual([message('a\nb')]);
  });

  it('reports comments (keep-alives) and dispatches nothing for them', () => {
    const { events, comments } = parse([': keep-alive 2026-12-02T10:00:16.000Z\n\n']);
    expect(events).toEqual([]);
    expect(comments).toEqual([' keep-alive 2026-12-02T10:00:16.000Z']);
  });

  it('dispatches no event without a data line, but keeps its id and resets its type', () => {
    const { events, lastEventId } = parse(['event: ready\nid: 3\n\ndata: x\n\n']);
    expect(events).toEqual([message('x', 'message', '3')]);
    expect(lastEventId).toBe('3');
  });

  it('dispatches an empty data line as an event with empty data', () => {
    expect(parse(['data\n\n']).events).toEqual([message('')]);
    expect(parse(['data:\n\n']).events).toEqual([message('')]);
  });

  it('ignores an id holding NUL, unknown fields, and a retry that is not all digits', () => {
    const { events, retries } = parse(['id: 1\n\nid: a\0b\nretry: 12x\nfoo: bar\nretry: 2000\ndata: y\n\n']);
    expect(events).toEqual([message('y', 'message', '1')]);
    expect(retries).toEqual([2000]);
  });

  it('carries the last id over to later events, and an empty id resets it', () => {
    const { events } = parse(['id: 5\ndata: a\n\ndata: b\n\nid\ndata: c\n\n']);
    expect(events.map((e) => e.lastEventId)).toEqual(['5', '5', '']);
  });

  it('discards an event the stream ended in the middle of', () => {
    expect(parse(['data: complete\n\ndata: cut off\n']).events).toEqual([message('complete')]);
  });

  it('a field name is the whole line when there is no colon; colons after the first belong to the value', () => {
    const { events } = parse(['data: a: b:c\n\n']);
    expect(events).toEqual([message('a: b:c')]);
  });

  it('gives the same result however the stream is split into chunks', () => {
    const stream =
      'retry: 2000\r\n\r\nid: 2026-12-02T10:00:00.123Z\nevent: revocation\ndata: {"sid":"s1"}\r\n\r' +
      ': keep-alive\n\nevent: ready\ndata: {"at":"x"}\n\ndata: é ✓ multi\rdata: line\n\n';
    const whole = parse([stream]);
    expect(whole.events).toHaveLength(3);
    fc.assert(
      fc.property(fc.array(fc.integer({ min: 0, max: stream.length }), { maxLength: 12 }), (cuts) => {
        const points = [...new Set(cuts)].sort((a, b) => a - b);
        const chunks: string[] = [];
        let previous = 0;
        for (const point of [...points, stream.length]) {
          chunks.push(stream.slice(previous, point));
          previous = point;
        }
        const split = parse(chunks);
        expect(split.events).toEqual(whole.events);
        expect(split.comments).toEqual(whole.comments);
        expect(split.retries).toEqual(whole.retries);
      }),
      { numRuns: 300 },
    );
  });
});
