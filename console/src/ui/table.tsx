import type { ComponentChildren } from 'preact';

export interface Column<T> {
  label: string;
  render: (row: T) => ComponentChildren;
  /** Hidden visually (still read out): for a column of buttons. */
  hideLabel?: boolean;
}

/**
 * A data table; on a narrow screen each row becomes a card whose cells carry their column's
 * label (data-label), so nothing scrolls sideways.
 */
export function Table<T>(props: {
  caption: string;
  columns: Column<T>[];
  rows: T[];
  rowKey: (row: T) => string;
  busy?: boolean;
}) {
  return (
    <table class="table" aria-busy={props.busy || undefined}>
      <caption class="visually-hidden">{props.caption}</caption>
      <thead>
        <tr>
          {props.columns.map((column) => (
            <th scope="col" key={column.label}>
              {column.hideLabel ? <span class="visually-hidden">{column.label}</span> : column.label}
            </th>
          ))}
        </tr>
      </thead>
      <tbody>
        {props.rows.map((row) => (
          <tr key={props.rowKey(row)}>
            {props.columns.map((column) => (
              <td key={column.label} data-label={column.hideLabel ? undefined : column.label}>
                {column.render(row)}
              </td>
            ))}
          </tr>
        ))}
      </tbody>
    </table>
  );
}
