import type { ComponentChildren } from 'preact';

/** A message about the page: `error` is an alert (announced at once), the others a status. */
export function Notice(props: {
  kind: 'error' | 'success' | 'info';
  children: ComponentChildren;
  title?: string;
}) {
  return (
    <div class={`notice notice-${props.kind}`} role={props.kind === 'error' ? 'alert' : 'status'}>
      {props.title && <p class="notice-title">{props.title}</p>}
      <div>{props.children}</div>
    </div>
  );
}

/** What an empty list shows instead of an empty table. */
export function EmptyState(props: { title: string; children?: ComponentChildren }) {
  return (
    <div class="empty">
      <p class="empty-title">{props.title}</p>
      {props.children && <p>{props.children}</p>}
    </div>
  );
}

/** A region that is loading: announced politely, with a spinner. */
export function Loading(props: { label?: string }) {
  return (
    <p class="loading" role="status">
      <span class="spinner" aria-hidden="true" />
      {props.label ?? 'Loading…'}
    </p>
  );
}
