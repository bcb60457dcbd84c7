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
// The page is written by the run's cache writer when there is one, so the
// unit goes on fetching meanwhile.
func cachePut(it *Iteration, key string, body []byte) {
	cacheWriteOp(it, cacheWrite{key: key, body: body})
}

// cachePlace makes a page cacheStage staged the key's cached page.
func cachePlace(it *Iteration, key, staged string) {
	cacheWriteOp(it, cacheWrite{key: key, staged: staged})
}

func cacheWriteOp(it *Iteration, op cacheWrite) {
	r := it.run
	if r.cfg.Cache == nil || (op.body == nil && op.staged == "") {
		return
	}
	if r.cacheW != nil {
		r.cacheW.in <- op
		return
	}
	r.putPage(op)
}

// cacheStage writes a page to be cached once it is known good
// (PageCache.Stage), or returns "" when there is no cache or it cannot be
// written (a warning once, as for any failed write).
func cacheStage(it *Iteration, key string, body []byte) string {
	r := it.run
	if r.cfg.Cache == nil || body == nil {
		return ""
	}
	staged, err := r.cfg.Cache.Stage(key, body)
	if err != nil {
		r.warnCache(err)
		return ""
	}
	return staged
}

// cacheDiscard removes pages cacheStage staged that will not be cached.
func cacheDiscard(it *Iteration, staged map[string]string) {
	for _, s := range staged {
		it.run.cfg.Cache.Discard(s)
	}
}

func (r *run) putPage(op cacheWrite) {
	var err error
	if op.staged != "" {
		err = r.cfg.Cache.Place(op.key, op.staged)
	} else {
		err = r.cfg.Cache.Put(op.key, op.body)
	}
	if err != nil {
		r.warnCache(err)
	}
}

func (r *run) warnCache(err error) {
	r.cacheWarn.Do(func() {
		r.log.Warn("cannot write the raw cache; going on without it", "err", err)
	})
}

// cacheDrop forgets cached pages that a unit could not verify with, so the
// next attempt asks the server. Pages handed to the cache writer before are
// written first, so none of them lands after its deletion.
func cacheDrop(it *Iteration, keys []string) {
	if it.run.cfg.Cache == nil || len(keys) == 0 {
		return
	}
	it.run.cacheW.flush()
	for _, k := range keys {
		_ = it.run.cfg.Cache.Delete(k)
	}
}

// cacheWriter writes trusted pages to the raw cache on a goroutine of its
// own, in the order they were handed to it: compressing and writing a page
// takes a millisecond or more, which the unit that fetched it would
// otherwise spend before its next request. (A v1 page is staged by its
// unit when it arrives, since it waits for its window's verdict; the writer
// then only renames it into place.) Run closes it (every page
// handed over is then written) before it returns; a kill -9 loses the
// pages not yet written, which the database does not need.
type cacheWriter struct {
	in   chan cacheWrite
	done chan struct{}
}

// cacheWrite is a page to write, or, with flushed set, a request to say
// when every page before it is written.
type cacheWrite struct {
	key     string
	body    []byte // the page as the API sent it, or
	staged  string // where PageCache.Stage wrote it
	flushed chan struct{}
}

// cacheQueue is how many pages wait for the cache writer at most.
const cacheQueue = 32

// startCacheWriter starts the writer of the run's trusted pages.
func (r *run) startCacheWriter() {
	// The queue lets units go on fetching while the writer catches up;
	// beyond it, they wait for the disk. A v3 page waits in it as the API
	// sent it (some 70 kB), so it is kept short: 256 of them were 18 MB.
	// A v1 window's verdict queues a rename per page, which waits little.
	w := &cacheWriter{in: make(chan cacheWrite, cacheQueue), done: make(chan struct{})}
	go func() {
		defer close(w.done)
		for op := range w.in {
			if op.flushed != nil {
				close(op.flushed)
				continue
			}
			r.putPage(op)
		}
	}()
	r.cacheW = w
}

// flush returns once every page handed to w before is written; a nil
// writer has nothing pending.
func (w *cacheWriter) flush() {
	if w == nil {
		return
	}
	done := make(chan struct{})
	w.in <- cacheWrite{flushed: done}
	<-done
}

// close writes what is left and stops the writer.
func (w *cacheWriter) close() {
	if w == nil {
		return
	}
	close(w.in)
	<-w.done
}
