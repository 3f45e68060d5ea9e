import { Button } from './button';

/** Previous / Next for a cursor-paged list (the API's `Link: rel="next"`); page numbers are ours. */
export function Pager(props: {
  page: number;
  hasNext: boolean;
  busy?: boolean;
  onPrevious: () => void;
  onNext: () => void;
  label: string;
}) {
  if (props.page === 1 && !props.hasNext) return null;
  return (
    <nav class="pager" aria-label={props.label}>
      <Button variant="secondary" disabled={props.page === 1 || props.busy} onClick={props.onPrevious}>
        ← Previous
      </Button>
      <span class="pager-page">Page {props.page}</span>
      <Button variant="secondary" disabled={!props.hasNext || props.busy} onClick={props.onNext}>
        Next →
      </Button>
    </nav>
  );
}
