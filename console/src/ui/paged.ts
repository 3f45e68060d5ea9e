import { useCallback, useEffect, useState } from 'preact/hooks';
import type { Answer } from '../api/client';

export interface Paged<T> {
  items: T[] | undefined;
  loading: boolean;
  /** What the last read threw (an ApiError: the page maps it to its filter fields). */
  error?: unknown;
  page: number;
  hasNext: boolean;
  next: () => void;
  previous: () => void;
  reload: () => void;
}

/**
 * A list read page by page with the API's cursors: the cursor of each page seen is kept, so
 * Previous goes back without the API having to page backwards. `key` names the query (filters):
 * a new key starts again at page 1.
 */
export function usePaged<T>(
  load: (cursor: string | undefined) => Promise<Answer<T[]>>,
  key: string,
): Paged<T> {
  const [position, setPosition] = useState<{ key: string; cursors: (string | undefined)[] }>({
    key,
    cursors: [undefined],
  });
  const [answer, setAnswer] = useState<Answer<T[]>>();
  const [loading, setLoading] = useState(true);
  const [error, setError] = useState<unknown>();
  const [tick, setTick] = useState(0);
  // A new query starts again at page 1.
  if (position.key !== key) setPosition({ key, cursors: [undefined] });
  const { cursors } = position;
  const page = cursors.length;

  useEffect(() => {
    let current = true;
    setLoading(true);
    setError(undefined);
    load(cursors[cursors.length - 1]).then(
      (result) => {
        if (!current) return;
        setAnswer(result);
        setLoading(false);
      },
      (failure: unknown) => {
        if (!current) return;
        setError(failure ?? new Error('The list could not be read.'));
        setLoading(false);
      },
    );
    return () => {
      current = false;
    };
    // `load` changes with `key`, which moves `position`.
  }, [position, tick]);

  return {
    items: answer?.data,
    loading,
    error,
    page,
    hasNext: answer?.nextCursor !== undefined,
    next: useCallback(() => {
      const cursor = answer?.nextCursor;
      if (cursor) setPosition((at) => ({ ...at, cursors: [...at.cursors, cursor] }));
    }, [answer]),
    previous: useCallback(
      () => setPosition((at) => (at.cursors.length > 1 ? { ...at, cursors: at.cursors.slice(0, -1) } : at)),
      [],
    ),
    reload: useCallback(() => setTick((n) => n + 1), []),
  };
}
