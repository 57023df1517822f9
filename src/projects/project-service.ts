import { randomBytes } from 'node:crypto';
import type { Clock } from '../core/clock.ts';
import { CofferError, errors } from '../core/errors.ts';
import { isAwsAccountId, isUuid, newAwsAccountId, newUuid, type ProjectId } from '../core/ids.ts';
import { clampPageSize, decodePageToken, maxPageSize, type Page, toPage } from '../core/pagination.ts';
import { changeActor } from '../audit/change-actor.ts';
import type { CacheInvalidation, Invalidation } from '../storage/cache-invalidation.ts';
import { changeStatement } from '../storage/change-log.ts';
import { type Storage, WriteRejected } from '../storage/storage-types.ts';
import { type PageTokenBarrier, ProjectPageToken } from './project-page-token.ts';
import { ProjectRepo } from './project-repo.ts';
import type { Project, ProjectFeatures, Region } from './project-types.ts';

/** How filtered project listings page, and how projects are cached. */
export interface ProjectListingOptions {
  /** Seals their page tokens (they may name a project the caller cannot see). */
  readonly barrier: PageTokenBarrier;
  /** How many projects one filtered listing reads at most before answering a short page (10,000). */
  readonly maxScannedProjects?: number;
  /**
   * The node's cache invalidation: cached projects are then dropped one by one when a change names
   * them (`projects/{id}`), not all on every change. Without it, `invalidate()` drops them all.
   */
  readonly invalidation?: CacheInvalidation;
  /** Projects cached at most (config `metadataCache.maxEntries`; 0 turns the cache off; 10,000). */
  readonly maxCached?: number;
  /**
   * Config `aws.regions: auto`: any well-formed AWS region name that is not configured is a region
   * with KMS too (the AWS face's credential scope names it; docs/aws.md).
   */
  readonly autoAwsRegions?: boolean;
}

/** A well-formed AWS region name (`us-east-1`, `eu-central-2`, `us-gov-west-1`, `cn-north-1`). */
export const awsRegionPattern = /^[a-z]{2}(?:-[a-z]+)+-[0-9]{1,2}$/;

/** Fields a caller may give when creating a project. */
export interface CreateProjectInput {
  readonly id?: string;
  readonly displayName?: string;
  readonly features?: Partial<ProjectFeatures>;
  /** 12 digits, unique; generated when absent. */
  readonly awsAccountId?: string;
}

/** Fields a caller may change on a project. */
export interface UpdateProjectInput {
  readonly displayName?: string;
  readonly features?: Partial<ProjectFeatures>;
}

function newEtag(): string {
  return randomBytes(9).toString('base64url');
}

/** Projects, their feature gates, and the configured regions. Authorization happens before these calls. */
export class ProjectService {
  readonly #storage: Storage;
  readonly #repo: ProjectRepo;
  readonly #clock: Clock;
  readonly #regions: readonly Region[];
  readonly #visiblePageToken: ProjectPageToken;
  readonly #maxScannedProjects: number;
  readonly #autoAwsRegions: boolean;
  /**
   * Existing projects by id, per node: the one lookup behind the guard's feature gate and the
   * services' location checks. Dropped when a change names the project (here before the write
   * resolves, on another node via the change feed), or all at once by `invalidate()`.
   */
  readonly #cache = new Map<string, Project>();
  readonly #maxCached: number;
  readonly #invalidation: CacheInvalidation | undefined;
  /** Bumped by `invalidate()`; with the node's generation, a lookup that straddles an invalidation does not fill the cache. */
  #ownGeneration = 0;

  constructor(storage: Storage, clock: Clock, regions: readonly Region[], listing: ProjectListingOptions) {
    this.#storage = storage;
    this.#repo = new ProjectRepo(storage.db);
    this.#clock = clock;
    this.#regions = regions;
    this.#visiblePageToken = new ProjectPageToken(listing.barrier);
    this.#maxScannedProjects = listing.maxScannedProjects ?? 10_000;
    this.#autoAwsRegions = listing.autoAwsRegions === true;
    this.#maxCached = listing.maxCached ?? 10_000;
    this.#invalidation = listing.invalidation;
    this.#invalidation?.subscribe((what) => this.#dropNamed(what));
  }

  /** Creates a project; `already_exists` when the id or the AWS account id is taken. */
  async create(input: CreateProjectInput): Promise<Project> {
    if (input.id !== undefined && !isUuid(input.id)) throw errors.invalid('id must be a lowercase UUID.');
    const given = input.awsAccountId;
    if (given !== undefined && !isAwsAccountId(given))
      throw errors.invalid('awsAccountId must be 12 decimal digits.');
    const now = this.#clock.nowMs();
    const id = (input.id ?? newUuid()) as ProjectId;
    // A generated account id colliding is a one-in-10^12 chance per project: try again a few times.
    for (let attempt = 0; ; attempt++) {
      const project: Project = {
        id,
        displayName: input.displayName ?? '',
        awsAccountId: given ?? newAwsAccountId(),
        features: { secrets: input.features?.secrets ?? true, kms: input.features?.kms ?? true },
        etag: newEtag(),
        createTimeMs: now,
        updateTimeMs: now,
      };
      try {
        await this.#storage.write([this.#repo.insert(project)]);
        return project;
      } catch (err) {
        if (!(err instanceof WriteRejected && err.reason === 'unique')) throw err;
        const accountTaken = (await this.#repo.findByAwsAccountId(project.awsAccountId)) !== undefined;
        if (!accountTaken || (await this.#repo.find(id)) !== undefined)
          throw errors.alreadyExists(`Project ${id}`);
        if (given !== undefined || attempt >= 3)
          throw errors.alreadyExists(`AWS account id ${project.awsAccountId}`);
      }
    }
  }

  /** The project whose AWS account id is `accountId`, or undefined. */
  findByAwsAccountId(accountId: string): Promise<Project | undefined> {
    return this.#repo.findByAwsAccountId(accountId);
  }

  /** One project as `get` finds it (cached), or undefined. */
  find(id: string): Promise<Project | undefined> {
    return isUuid(id) ? this.#find(id) : Promise.resolve(undefined);
  }

  /** One project; `not_found` when absent. */
  async get(id: string): Promise<Project> {
    const project = isUuid(id) ? await this.#find(id) : undefined;
    if (!project) throw errors.notFound(`Project ${id}`);
    return project;
  }

  /** A page of projects ordered by id. */
  async list(pageSize: number | undefined, pageToken: string | undefined): Promise<Page<Project>> {
    const size = clampPageSize(pageSize);
    const rows = await this.#repo.list(decodePageToken(pageToken), size + 1);
    return toPage(rows, size, (project) => project.id);
  }

  /**
   * A page of the projects `visible` accepts, ordered by id: scans on until the page is full or the
   * projects end (a filter applied after paging would answer short or empty pages). The scan is
   * bounded; when the bound ends it, the page is short and the token continues after the last
   * project scanned. Its tokens are sealed (that project may be one the caller cannot see).
   */
  async listVisible(
    pageSize: number | undefined,
    pageToken: string | undefined,
    visible: (project: Project) => Promise<boolean>,
  ): Promise<Page<Project>> {
    const size = clampPageSize(pageSize);
    const batch = Math.min(Math.max(size + 1, 100), maxPageSize, this.#maxScannedProjects);
    const tokens = this.#visiblePageToken;
    let after = tokens.open(pageToken);
    const items: Project[] = [];
    for (let scanned = 0; ;) {
      const rows = await this.#repo.list(after, batch);
      for (const project of rows) {
        if (await visible(project)) {
          if (items.length === size) return { items, nextPageToken: tokens.seal(items[size - 1]!.id) };
          items.push(project);
        }
        after = project.id;
      }
      scanned += rows.length;
      if (rows.length < batch) return { items };
      if (scanned >= this.#maxScannedProjects && after !== undefined)
        return { items, nextPageToken: tokens.seal(after) };
    }
  }

  /** Updates a project if `etag` (when given) is current; `conflict` when stale. */
  async update(id: string, input: UpdateProjectInput, etag: string | undefined): Promise<Project> {
    const current = await this.get(id);
    if (etag !== undefined && etag !== current.etag)
      throw errors.conflict('The etag does not match the project’s current etag.');
    const next: Project = {
      ...current,
      displayName: input.displayName ?? current.displayName,
      features: {
        secrets: input.features?.secrets ?? current.features.secrets,
        kms: input.features?.kms ?? current.features.kms,
      },
      etag: newEtag(),
      updateTimeMs: this.#clock.nowMs(),
    };
    try {
      await this.#storage.write([
        this.#repo.update(next, current.etag),
        changeStatement(this.#storage.db, {
          type: 'project.updated',
          resource: `projects/${id}`,
          projectId: id,
          principal: changeActor('service:coffer'),
          timeMs: next.updateTimeMs,
        }),
      ]);
      // The node's invalidation already dropped it (the change names it); without one, drop it here.
      this.#ownGeneration++;
      this.#cache.delete(id);
    } catch (err) {
      if (err instanceof WriteRejected && err.reason === 'expectation') {
        throw errors.conflict('The project was changed concurrently; read it again.');
      }
      throw err;
    }
    return next;
  }

  /**
   * Feature-gate check for routes of a project's service: `feature_disabled` when the project exists
   * and has the feature off. A missing project is left to the route (404 comes later in SPEC §4's order).
   */
  async requireFeature(projectId: string, feature: keyof ProjectFeatures): Promise<void> {
    const project = isUuid(projectId) ? await this.#find(projectId) : undefined;
    if (project && !project.features[feature]) {
      throw new CofferError(
        'feature_disabled',
        `The ${feature} feature is disabled for project ${projectId}.`,
      );
    }
  }

  /**
   * The feature gate answered from the cache alone: true when the cached project has `feature` on,
   * `feature_disabled` when it has it off (as `requireFeature`), false when the project is not cached
   * (or the feed lease lapsed): then ask `requireFeature`.
   */
  hasFeatureCached(projectId: string, feature: keyof ProjectFeatures): boolean {
    const project = this.#cache.get(projectId);
    if (project === undefined || this.#invalidation?.fresh === false) return false;
    if (!project.features[feature])
      throw new CofferError(
        'feature_disabled',
        `The ${feature} feature is disabled for project ${projectId}.`,
      );
    return true;
  }

  /** Whether the project is cached (so it exists, within the feed lease): `get` would answer without a read. */
  isCached(projectId: string): boolean {
    return this.#cache.has(projectId) && this.#invalidation?.fresh !== false;
  }

  /** A page of the configured regions, ordered by id. */
  listRegions(pageSize: number | undefined, pageToken: string | undefined): Page<Region> {
    const size = clampPageSize(pageSize);
    const after = decodePageToken(pageToken);
    const rows = [...this.#regions]
      .sort((a, b) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0))
      .filter((region) => after === undefined || region.id > after)
      .slice(0, size + 1);
    return toPage(rows, size, (region) => region.id);
  }

  /** Checks a region for a KMS-backed route: `kms_unavailable` when KMS is off there. */
  requireKmsRegion(regionId: string): void {
    const region = this.#configuredOrAuto(regionId);
    if (region && !region.kms)
      throw new CofferError('kms_unavailable', `KMS is not available in region ${regionId}.`);
  }

  /** Drops every cached project. */
  invalidate(): void {
    this.#ownGeneration++;
    this.#cache.clear();
  }

  /** Drops the projects an invalidation names (`projects/{id}`, or everything under `projects`). */
  #dropNamed(what: Invalidation): void {
    if (what === 'all') return this.#cache.clear();
    for (const resource of what) {
      if (resource === 'projects') this.#cache.clear();
      else if (resource.startsWith('projects/') && resource.indexOf('/', 9) === -1)
        this.#cache.delete(resource.slice(9));
    }
  }

  #generation(): number {
    return this.#ownGeneration + (this.#invalidation?.generation ?? 0);
  }

  async #find(id: string): Promise<Project | undefined> {
    const cached = this.#cache.get(id);
    // Only within the feed lease (a stalled feed must not leave another node's change unseen).
    if (cached !== undefined && this.#invalidation?.fresh !== false) return cached;
    const generation = this.#generation();
    const project = await this.#repo.find(id);
    // A read that began before an invalidation may be stale: use it once, never cache it. Only
    // existing projects are cached: a project created on another node must be found at once.
    if (!project || generation !== this.#generation() || this.#maxCached === 0) return project;
    if (this.#cache.size >= this.#maxCached) this.#cache.delete(this.#cache.keys().next().value!);
    this.#cache.set(id, project);
    return project;
  }

  /** A configured region; `not_found` otherwise. */
  region(regionId: string): Region {
    const region = this.#configuredOrAuto(regionId);
    if (!region) throw errors.notFound(`Region ${regionId}`);
    return region;
  }

  /**
   * A configured region, or with `aws.regions: auto` any well-formed AWS region name as a region
   * with KMS; undefined otherwise.
   */
  #configuredOrAuto(regionId: string): Region | undefined {
    const region = this.#regions.find((r) => r.id === regionId);
    if (region || !this.#autoAwsRegions || !awsRegionPattern.test(regionId)) return region;
    return { id: regionId, kms: true };
  }
}
