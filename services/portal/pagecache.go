package portal

import (
	"container/list"
	"fmt"
	"hash/fnv"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/leap-dev/leap/services/scoring"
)

// DefaultPageCacheBytes bounds the rendered-page cache when
// Config.PageCacheBytes is zero: about a thousand 30 KB dashboards.
const DefaultPageCacheBytes = 32 << 20

// DefaultCohortTTL is how long a cohort summary is reused when
// Config.CohortTTL is zero. A summary is a figure about a whole course and
// year as of a day; a member's new event, or a policy change scoring had
// not loaded yet when the summary was asked for, may reach it this much
// later.
const DefaultCohortTTL = 30 * time.Second

// pageKey builds a page cache key from the parts a page depends on. Each
// part is length-prefixed, so no two lists of parts make the same key.
type pageKey struct{ b strings.Builder }

func (k *pageKey) add(parts ...string) {
	for _, p := range parts {
		k.b.WriteString(strconv.Itoa(len(p)))
		k.b.WriteByte(':')
		k.b.WriteString(p)
	}
}

func (k *pageKey) String() string { return k.b.String() }

// pageCache is a least-recently-used cache of rendered pages, bounded by
// their total size. It is only ever asked for a key that names everything
// the page shows (see showStudent), so it needs no expiry of its own: a
// change of any of those makes a new key, and the old entry ages out. A
// page holds nothing of the session it was rendered for (forms carry no
// token), so it is kept and served whole.
type pageCache struct {
	max int

	mu      sync.Mutex
	size    int
	order   *list.List // front: most recently used; values are *pageEntry
	entries map[string]*list.Element
}

type pageEntry struct {
	key  string
	page []byte
}

func newPageCache(maxBytes int) *pageCache {
	return &pageCache{max: maxBytes, order: list.New(), entries: map[string]*list.Element{}}
}

func (pc *pageCache) get(key string) ([]byte, bool) {
	pc.mu.Lock()
	defer pc.mu.Unlock()
	el, ok := pc.entries[key]
	if !ok {
		return nil, false
	}
	pc.order.MoveToFront(el)
	return el.Value.(*pageEntry).page, true
}

// put keeps page under key. The cache holds page from then on: the caller
// gives it a slice nothing else writes to.
func (pc *pageCache) put(key string, page []byte) {
	cost := len(page) + len(key)
	if cost > pc.max {
		return
	}
	pc.mu.Lock()
	defer pc.mu.Unlock()
	if el, ok := pc.entries[key]; ok {
		old := el.Value.(*pageEntry)
		pc.size += cost - len(old.page) - len(key)
		old.page = page
		pc.order.MoveToFront(el)
	} else {
		pc.entries[key] = pc.order.PushFront(&pageEntry{key: key, page: page})
		pc.size += cost
	}
	for pc.size > pc.max {
		el := pc.order.Back()
		e := el.Value.(*pageEntry)
		pc.order.Remove(el)
		delete(pc.entries, e.key)
		pc.size -= len(e.page) + len(e.key)
	}
}

// cohortCache keeps the scoring service's cohort summaries for a short
// while, by wall-clock time: a summary reads every member's counts, too
// dear to ask for on every page view. A page keys on the summary's print,
// so a summary that changed when it is fetched again renders a new page.
type cohortCache struct {
	ttl time.Duration

	mu      sync.Mutex
	entries map[string]cohortEntry
}

type cohortEntry struct {
	sum *scoring.Cohort // nil: the group is too small to show
	// days are the course's daily means, only of days scoring shows.
	days    []scoring.CohortDay
	print   string
	fetched time.Time
}

func (cc *cohortCache) get(key string) (cohortEntry, bool) {
	cc.mu.Lock()
	defer cc.mu.Unlock()
	e, ok := cc.entries[key]
	if !ok || time.Since(e.fetched) >= cc.ttl {
		return cohortEntry{}, false
	}
	return e, true
}

func (cc *cohortCache) put(key string, sum *scoring.Cohort, days []scoring.CohortDay) cohortEntry {
	e := cohortEntry{sum: sum, days: days, print: "none", fetched: time.Now()}
	if sum != nil {
		// fmt prints maps sorted by key, so equal summaries print the same.
		e.print = fmt.Sprintf("%s/%d/%d/%v/%g/%s", sum.Course, sum.Year, sum.Size, sum.Bands, sum.MeanScore, sum.AsOf)
	}
	// A published day never changes (scoring's getCohortDays), so the
	// series is told apart by its days; a hash of the means guards the
	// rest.
	h := fnv.New64a()
	for _, d := range days {
		fmt.Fprintf(h, "%s=%g;", d.Date, d.MeanScore)
	}
	e.print += fmt.Sprintf("/%d/%x", len(days), h.Sum64())
	cc.mu.Lock()
	defer cc.mu.Unlock()
	if cc.entries == nil {
		cc.entries = map[string]cohortEntry{}
	}
	// Keys name a day and a policy: drop the stale ones now and then
	// rather than run a clock of their own.
	if len(cc.entries) >= 1024 {
		for k, old := range cc.entries {
			if time.Since(old.fetched) >= cc.ttl {
				delete(cc.entries, k)
			}
		}
	}
	cc.entries[key] = e
	return e
}
