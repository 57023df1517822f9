import type { ProjectId } from '../core/ids.ts';

/** The features a project can switch on and off (SPEC §3). */
export interface ProjectFeatures {
  /** Secrets Manager. */
  readonly secrets: boolean;
  /** KMS. */
  readonly kms: boolean;
}

/** A project. */
export interface Project {
  readonly id: ProjectId;
  readonly displayName: string;
  /** The 12-digit account id the AWS face shows for this project (unique). */
  readonly awsAccountId: string;
  readonly features: ProjectFeatures;
  readonly etag: string;
  readonly createTimeMs: number;
  readonly updateTimeMs: number;
}

/** A region offered by this server (from configuration). */
export interface Region {
  readonly id: string;
  /** Whether KMS is available there. */
  readonly kms: boolean;
}
