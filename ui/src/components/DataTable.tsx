import type { ReactNode } from 'react';

/**
 * A scrollable table with a caption for screen readers and one header row of column names; the
 * children are its body's rows.
 */
export function DataTable(props: {
  /** The table's accessible name (visually hidden). */
  readonly caption: ReactNode;
  readonly columns: readonly string[];
  readonly className?: string;
  readonly testId?: string;
  readonly children: ReactNode;
}): ReactNode {
  return (
    <div className="table-wrap">
      <table className={props.className} data-testid={props.testId}>
        <caption className="sr-only">{props.caption}</caption>
        <thead>
          <tr>
            {props.columns.map((column) => (
              <th key={column} scope="col">
                {column}
              </th>
            ))}
          </tr>
        </thead>
        <tbody>{props.children}</tbody>
      </table>
    </div>
  );
}
