import type { ComponentChildren } from 'preact';

export interface ButtonProps {
  children: ComponentChildren;
  /** While true: disabled, with a spinner and `busyLabel` in place of the label. */
  busy?: boolean;
  busyLabel?: string;
  variant?: 'primary' | 'secondary' | 'danger' | 'quiet';
  type?: 'button' | 'submit';
  disabled?: boolean;
  onClick?: () => void;
  class?: string;
  id?: string;
}

/** Every action's button: shows that it is working, and cannot be pressed twice meanwhile. */
export function Button({ busy = false, variant = 'primary', type = 'button', ...props }: ButtonProps) {
  return (
    <button
      type={type}
      id={props.id}
      class={`button button-${variant}${props.class ? ` ${props.class}` : ''}`}
      disabled={busy || props.disabled}
      aria-busy={busy || undefined}
      onClick={props.onClick}
    >
      {busy && <span class="spinner" aria-hidden="true" />}
      <span>{busy ? (props.busyLabel ?? 'Working…') : props.children}</span>
    </button>
  );
}
