import { Component, type ReactNode } from 'react';
import { ErrorBox } from './ErrorBox.tsx';

/** Catches a page's rendering failure: an ErrorBox (message, no stack) instead of a blank console. */
export class ErrorBoundary extends Component<{ readonly children: ReactNode }, { error: unknown }> {
  override state: { error: unknown } = { error: null };

  static getDerivedStateFromError(error: unknown): { error: unknown } {
    return { error };
  }

  override render(): ReactNode {
    if (this.state.error !== null) return <ErrorBox error={this.state.error} title="This page failed" />;
    return this.props.children;
  }
}
