package backfill

// cachedPage gets one page of a unit: from the raw cache when use allows
// it (a final unit, no force_refresh), else from the server. decode reads
// a cached body and must reject one that does not fit (it is then deleted
// and fetched again). hit tells where the page came from; body is the
// server's exact response, for the caller to cache once it trusts it.
func cachedPage[P any](it *Iteration, key string, use bool, decode func([]byte) (P, error), fetch func() (P, []byte, error)) (pg P, body []byte, hit bool, err error) {
	r := it.run
	if use && r.cfg.Cache != nil && !r.cfg.ForceRefresh {
		if cached, ok, err := r.cfg.Cache.Get(key); err == nil && ok {
			if pg, err := decode(cached); err == nil {
				r.cacheHits.Add(1)
				return pg, nil, true, nil
			}
			r.log.Warn("raw cache file does not decode; fetching the page again", "key", key)
			_ = r.cfg.Cache.Delete(key)
		}
	}
	if r.cfg.Offline {
		return pg, nil, false, &NotCachedError{Key: key, Why: offlineWhy(r, use)}
	}
	pg, body, err = fetch()
	return pg, body, false, err
}

// cachePut keeps a trusted page in the raw cache. A cache that cannot be
// written is a warning once, never a failure: the database is the record.
func cachePut(it *Iteration, key string, body []byte) {
	r := it.run
	if r.cfg.Cache == nil || body == nil {
		return
	}
	if err := r.cfg.Cache.Put(key, body); err != nil {
		r.cacheWarn.Do(func() {
			r.log.Warn("cannot write the raw cache; going on without it", "err", err)
		})
	}
}

// cacheDrop forgets cached pages that a unit could not verify with, so the
// next attempt asks the server.
func cacheDrop(it *Iteration, keys []string) {
	if it.run.cfg.Cache == nil {
		return
	}
	for _, k := range keys {
		_ = it.run.cfg.Cache.Delete(k)
	}
}
