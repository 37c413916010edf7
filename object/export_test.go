package object

// PrefetchedRanges returns how many prefetched ranges and cached
// locations the repository holds (0, 0 once every Prefetch is released).
func (r *Repository) PrefetchedRanges() (ranges, locs int) {
	r.pf.mu.Lock()
	defer r.pf.mu.Unlock()
	for _, l := range r.pf.byPack {
		ranges += len(l)
	}
	return ranges, len(r.pf.locs)
}
