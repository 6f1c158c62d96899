/**
 * Which delivered local files to delete: those past the retention time, then — while the
 * local files still exceed the disk budget — the oldest delivered ones. Files not yet
 * delivered (pending, sending), failed ones and uncertain ones are never chosen: they are the
 * only copy Kaltura may lack. Pure: the queue does the deleting.
 */
import type { DeliveryItem } from './types';

export interface RetentionPolicy {
  /** Keep delivered files this long; 0 deletes them right after delivery. */
  retainDeliveredMs: number;
  /** Upper bound for local segment bytes; 0 = no budget. */
  diskBudgetBytes: number;
}

/** Items whose local file still exists (and counts against the budget). */
export function holdsLocalFile(item: DeliveryItem): boolean {
  return !item.localGone;
}

export function isDeletable(item: DeliveryItem): boolean {
  return item.state === 'done' && !item.uncertain && !item.localGone;
}

export function localBytes(items: Iterable<DeliveryItem>): number {
  let total = 0;
  for (const item of items) if (holdsLocalFile(item)) total += item.bytes;
  return total;
}

export function filesToDelete(items: readonly DeliveryItem[], policy: RetentionPolicy, now: number): DeliveryItem[] {
  const chosen = new Set<DeliveryItem>();
  const deletable = items.filter(isDeletable).sort((a, b) => (a.finishedAt ?? 0) - (b.finishedAt ?? 0) || a.seq - b.seq);
  for (const item of deletable) {
    if ((item.finishedAt ?? 0) + policy.retainDeliveredMs <= now) chosen.add(item);
  }
  if (policy.diskBudgetBytes > 0) {
    let total = localBytes(items);
    for (const item of chosen) total -= item.bytes;
    for (const item of deletable) {
      if (total <= policy.diskBudgetBytes) break;
      if (chosen.has(item)) continue;
      chosen.add(item);
      total -= item.bytes;
    }
  }
  return [...chosen];
}
