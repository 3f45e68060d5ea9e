import { useState } from 'preact/hooks';
import { Notice } from './notice';

/** A message for the next page to show once (after a navigation): "Password changed", … */
let pending: string | undefined;

export function flash(message: string): void {
  pending = message;
}

/** Shows the pending message, once. */
export function Flash() {
  const [message] = useState(() => {
    const taken = pending;
    pending = undefined;
    return taken;
  });
  return message ? <Notice kind="success">{message}</Notice> : null;
}
