/**
 * Live asset ids for appendRecording: flavorAsset.list(entryIdEqual), matched by
 * flavorParamsId, cached per entry. A flavor missing from a cached list triggers one fresh
 * listing (the conversion profile may have changed) before ASSET_NOT_FOUND, which the queue
 * retries like any other failure until the retry time runs out.
 */
import type { KalturaApi } from '../kaltura/api';
import type { KalturaFlavorAsset } from '../kaltura/types';
import { RecordingError } from './errors';

export type AssetListApi = Pick<KalturaApi, 'flavorAssetList'>;

export interface LiveAssetResolverOptions {
  /** How long an entry's listing is reused; default 10 min. */
  cacheMs?: number;
  now?: () => number;
}

interface CachedListing {
  assets: KalturaFlavorAsset[];
  at: number;
}

export class LiveAssetResolver {
  private readonly cache = new Map<string, CachedListing>();
  private readonly inflight = new Map<string, Promise<KalturaFlavorAsset[]>>();
  private readonly cacheMs: number;
  private readonly now: () => number;

  constructor(
    private readonly api: AssetListApi,
    options: LiveAssetResolverOptions = {},
  ) {
    this.cacheMs = options.cacheMs ?? 10 * 60_000;
    this.now = options.now ?? Date.now;
  }

  /** Throws RecordingError ASSET_NOT_FOUND, or the Kaltura error of the listing. */
  async assetId(entryId: string, flavorParamsId: number, impersonate?: number): Promise<string> {
    const cached = this.cache.get(entryId);
    const fresh = cached !== undefined && this.now() - cached.at < this.cacheMs;
    const hit = fresh ? find(cached.assets, flavorParamsId) : undefined;
    if (hit) return hit.id;
    const assets = await this.list(entryId, impersonate);
    const found = find(assets, flavorParamsId);
    if (!found) {
      const known = assets.map((a) => a.flavorParamsId).join(', ') || 'none';
      throw new RecordingError(
        'ASSET_NOT_FOUND',
        `entry ${entryId} has no live flavor asset with flavorParamsId ${flavorParamsId} (flavorAsset.list gave: ${known})`,
      );
    }
    return found.id;
  }

  /** A fresh listing (also refreshes the cache); concurrent callers share one request. */
  list(entryId: string, impersonate?: number): Promise<KalturaFlavorAsset[]> {
    const running = this.inflight.get(entryId);
    if (running) return running;
    const listing = this.api
      .flavorAssetList(entryId, impersonate)
      .then((response) => {
        const assets = (response.objects ?? []).filter((a) => a.entryId === undefined || a.entryId === entryId);
        this.cache.set(entryId, { assets, at: this.now() });
        return assets;
      })
      .finally(() => this.inflight.delete(entryId));
    this.inflight.set(entryId, listing);
    return listing;
  }

  invalidate(entryId: string): void {
    this.cache.delete(entryId);
  }
}

function find(assets: KalturaFlavorAsset[], flavorParamsId: number): KalturaFlavorAsset | undefined {
  return assets.find((a) => Number(a.flavorParamsId) === flavorParamsId);
}
