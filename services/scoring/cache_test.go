package scoring

import (
	"context"
	"fmt"
	"net/http"
	"sync"
	"testing"
)

// cacheMemory is what Redis holds for a student's cached answers: the
// number of keys and the entries in them.
func (f *fixture) cacheMemory(t *testing.T, id string) (keys []string, entries int64) {
	t.Helper()
	ctx := context.Background()
	keys, err := f.rdb.Keys(ctx, "leap:{s:"+id+"}:k*").Result()
	if err != nil {
		t.Fatal(err)
	}
	for _, k := range keys {
		switch typ := f.rdb.Type(ctx, k).Val(); typ {
		case "hash":
			entries += f.rdb.HLen(ctx, k).Val()
		default:
			entries++
		}
	}
	return keys, entries
}

// TestCacheIsBoundedPerStudent: whatever ranges callers ask for, at once,
// a student's cached answers stay within maxCachedRanges, and the range
// asked for again is still answered from the cache.
func TestCacheIsBoundedPerStudent(t *testing.T) {
	f := start(t, nil)
	const ranges = 60
	var wg sync.WaitGroup
	for i := range ranges {
		wg.Add(1)
		go func() {
			defer wg.Done()
			get(t, f.api.url, fmt.Sprintf("/v1/students/ug1/engagement?from=2026-%02d-%02d&to=2026-10-20", 6+i/28, 1+i%28), http.StatusOK)
		}()
	}
	wg.Wait()
	if keys, entries := f.cacheMemory(t, "ug1"); entries > maxCachedRanges {
		t.Errorf("%d cached answers in %d keys after %d ranges, want at most %d", entries, len(keys), ranges, maxCachedRanges)
	}

	before := f.api.cache(t)
	get(t, f.api.url, ug1Range, http.StatusOK)
	get(t, f.api.url, ug1Range, http.StatusOK)
	if c := f.api.cache(t); c.hits != before.hits+1 || c.misses != before.misses+1 {
		t.Errorf("a range asked twice: cache %+v after %+v, want one miss then one hit", c, before)
	}
	if _, entries := f.cacheMemory(t, "pt1"); entries != 0 {
		t.Errorf("another student has %d cached answers", entries)
	}
}
