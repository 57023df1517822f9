import type { Page } from '../core/pagination.ts';

/** A list answer `{items, nextPageToken?}` of views. */
export function pageView<T, V>(page: Page<T>, view: (item: T) => V): { items: V[]; nextPageToken?: string } {
  return {
    items: page.items.map(view),
    ...(page.nextPageToken ? { nextPageToken: page.nextPageToken } : {}),
  };
}
