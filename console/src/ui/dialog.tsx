import type { ComponentChildren } from 'preact';
import { useEffect, useRef, useState } from 'preact/hooks';
import { Button } from './button';

export interface ConfirmProps {
  title: string;
  children: ComponentChildren;
  confirmLabel: string;
  busyLabel?: string;
  danger?: boolean;
  /** Runs on confirmation; the dialog stays open (busy) until it settles, and shows what it throws. */
  onConfirm: () => Promise<void>;
  onClose: () => void;
}

/** What Tab moves between inside the dialog. */
const FOCUSABLE =
  'button:not([disabled]), [href], input:not([disabled]), select, textarea, [tabindex]:not([tabindex="-1"])';

/**
 * Keeps Tab and Shift+Tab inside the dialog: a modal <dialog> makes the page inert, but the
 * browser would still let the focus leave for its own interface.
 */
function trapTab(event: KeyboardEvent): void {
  if (event.key !== 'Tab') return;
  const dialog = event.currentTarget as HTMLElement;
  const items = [...dialog.querySelectorAll<HTMLElement>(FOCUSABLE)];
  const first = items[0];
  const last = items[items.length - 1];
  if (!first || !last) return;
  if (event.shiftKey && document.activeElement === first) {
    event.preventDefault();
    last.focus();
  } else if (!event.shiftKey && document.activeElement === last) {
    event.preventDefault();
    first.focus();
  }
}

/**
 * A confirmation for a destructive action, as a modal <dialog>: the rest of the page is inert
 * while it is open, Tab stays inside it, Escape or Cancel closes it, and the focus goes back to
 * what opened it.
 */
export function ConfirmDialog(props: ConfirmProps) {
  const ref = useRef<HTMLDialogElement>(null);
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<string>();
  useEffect(() => {
    const opener = document.activeElement as HTMLElement | null;
    ref.current?.showModal();
    return () => opener?.focus();
  }, []);
  const confirm = () => {
    setBusy(true);
    setError(undefined);
    props.onConfirm().then(
      () => props.onClose(),
      (failure: unknown) => {
        setBusy(false);
        setError(failure instanceof Error ? failure.message : 'Something went wrong.');
      },
    );
  };
  return (
    <dialog
      ref={ref}
      class="dialog"
      aria-labelledby="dialog-title"
      aria-describedby="dialog-body"
      onKeyDown={trapTab}
      onCancel={(event) => {
        event.preventDefault();
        if (!busy) props.onClose();
      }}
    >
      <h2 id="dialog-title">{props.title}</h2>
      <div id="dialog-body" class="dialog-body">
        {props.children}
      </div>
      {error && (
        <p class="field-error" role="alert">
          {error}
        </p>
      )}
      <div class="actions">
        <Button variant="secondary" onClick={props.onClose} disabled={busy}>
          Cancel
        </Button>
        <Button
          variant={props.danger === false ? 'primary' : 'danger'}
          busy={busy}
          busyLabel={props.busyLabel}
          onClick={confirm}
        >
          {props.confirmLabel}
        </Button>
      </div>
    </dialog>
  );
}

/** A dialog opened by a button: `open()` shows it. */
export function useConfirm(): [ComponentChildren, (props: Omit<ConfirmProps, 'onClose'>) => void] {
  const [current, setCurrent] = useState<Omit<ConfirmProps, 'onClose'>>();
  const element = current ? <ConfirmDialog {...current} onClose={() => setCurrent(undefined)} /> : null;
  return [element, setCurrent];
}
