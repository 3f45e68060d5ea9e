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

/**
 * A confirmation for a destructive action, as a modal <dialog>: the rest of the page is inert
 * while it is open (focus stays inside), Escape or Cancel closes it, and the focus goes back to
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
