package store

import (
	"context"
	"go/ast"
	"go/parser"
	"go/token"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/redis/go-redis/v9"

	"github.com/leap-dev/leap/operator/api/calendar"
	"github.com/leap-dev/leap/services/internal/redistest"
)

// keyLayout is every key LEAP uses: the constructor or constant that
// builds it, its pattern, a key built for student s1 (or the like), and
// that key's Cluster hash slot. student marks the keys of one student,
// which share a slot so that scripts, transactions and MGETs read them
// together on a Cluster.
var keyLayout = []struct {
	name, pattern, key string
	slot               uint16
	student            bool
}{
	{"ProfileKey", "leap:{s:ID}:p", ProfileKey("s1"), 8373, true},
	{"CountsKey", "leap:{s:ID}:c:YYYYMM", CountsKey("s1", keyDay), 8373, true},
	{"EventIDsKey", "leap:{s:ID}:i:YYYYMMDD", EventIDsKey("s1", keyDay), 8373, true},
	{"VersionKey", "leap:{s:ID}:v", VersionKey("s1"), 8373, true},
	{"AmendmentsKey", "leap:{s:ID}:a", AmendmentsKey("s1"), 8373, true},
	{"ScoringCacheKey", "leap:{s:ID}:k", ScoringCacheKey("s1"), 8373, true},
	{"RecordsKey", "leap:{s:ID}:notes", RecordsKey("s1"), 8373, true},
	{"ObjectiveStatesKey", "leap:{s:ID}:notes:state", ObjectiveStatesKey("s1"), 8373, true},
	{"RecordsVersionKey", "leap:{s:ID}:notes:v", RecordsVersionKey("s1"), 8373, true},
	{"ChallengesKey", "leap:{s:ID}:challenges", ChallengesKey("s1"), 8373, true},
	{"DecisionsKey", "leap:{s:ID}:challenges:decisions", DecisionsKey("s1"), 8373, true},
	{"ChallengeRateKey", "leap:{s:ID}:challenges:rate", ChallengeRateKey("s1"), 8373, true},
	{"ExportsKey", "leap:{s:ID}:exports", ExportsKey("s1"), 8373, true},
	{"AuditKey", "leap:{s:ID}:audit", AuditKey("s1"), 8373, true},
	{"LastVisitKey", "leap:{s:ID}:visit", LastVisitKey("s1"), 8373, true},
	{"StudentsKey", "leap:students", StudentsKey, 13054, false},
	{"DepartmentKey", "leap:dept:DEPT", DepartmentKey("CS"), 4542, false},
	{"CohortKey", "leap:cohort:COURSE:YEAR", CohortKey("G400", 1), 13988, false},
	{"CohortDaysKey", "leap:cohortdays:COURSE:YEAR", CohortDaysKey("G400", 1), 4161, false},
	{"WeeklyDistributionKey", "leap:distribution:weekly", WeeklyDistributionKey, 237, false},
	{"staffSetKey", "leap:staff", staffSetKey, 15971, false},
	{"StaffKey", "leap:staff:ID", StaffKey("t1"), 6924, false},
	{"TuteesKey", "leap:tutees:STAFF", TuteesKey("t1"), 12292, false},
	{"MboxKey", "leap:mbox:SHA1", MboxKey(MboxSHA1("s1@example.ac.uk")), 15983, false},
	{"StaffMailKey", "leap:staffmail:SHA1", StaffMailKey(MboxSHA1("t1@example.ac.uk")), 660, false},
	{"SourcesKey", "leap:sources", SourcesKey, 13616, false},
	{"OpenChallengesKey", "leap:challenges:open", OpenChallengesKey, 2913, false},
	{"RosterLeaseKey", "leap:roster:lease", RosterLeaseKey, 15862, false},
	{"XAPIStatementKey", "leap:xapi:SOURCE:ID", XAPIStatementKey("moodle", "6690e6c9-3ef0-4ed3-8b37-7f3964730bee"), 3351, false},
	{"SessionKey", "leap:session:ID", SessionKey("abc"), 2131, false},
	{"LoginAccountKey", "leap:login:user:NAME", LoginAccountKey("t1"), 10984, false},
	{"LoginAddressKey", "leap:login:addr:ADDR", LoginAddressKey("192.0.2.1"), 738, false},
	{"OIDCUsedStateKey", "leap:oidc:used:SHA256", OIDCUsedStateKey("00"), 3914, false},
	{"AuditStreamKey", "leap:audit", AuditStreamKey, 435, false},
	{"NotifyLeaseKey", "leap:{notify}:lease", NotifyLeaseKey, 8402, false},
	{"NotifySinceKey", "leap:{notify}:since", NotifySinceKey, 8402, false},
	{"NotifyDueKey", "leap:{notify}:due", NotifyDueKey, 8402, false},
	{"NotifyLogKey", "leap:{notify}:log", NotifyLogKey, 8402, false},
	{"NotifySlotsKey", "leap:{notify}:slots", NotifySlotsKey, 8402, false},
	{"NotifyLastDigestKey", "leap:{notify}:lastdigest", NotifyLastDigestKey, 8402, false},
	{"NotifySeenKey", "leap:{notify}:seen", NotifySeenKey, 8402, false},
	{"NotifyTriggerKey", "leap:{notify}:trigger", NotifyTriggerKey, 8402, false},
	{"NotifySMTPStateKey", "leap:{notify}:smtp", NotifySMTPStateKey, 8402, false},
	{"NotifyMessageKey", "leap:{notify}:msg:ID", NotifyMessageKey("m1"), 8402, false},
	{"NotifyPreferencesKey", "leap:{s:ID}:notify", NotifyPreferencesKey("s1"), 8373, true},
}

var keyDay = calendar.Day{Year: 2026, Month: 10, Day: 19}

// TestKeyLayout lists every key with its hash slot, checked against
// CLUSTER KEYSLOT of a real Cluster: a student's keys all share the
// student's slot, and each key's slot is the one listed.
func TestKeyLayout(t *testing.T) {
	addrs := redistest.StartCluster(t, 3)
	c := redis.NewClient(&redis.Options{Addr: addrs[0]})
	defer c.Close()
	for _, k := range keyLayout {
		got, err := c.ClusterKeySlot(context.Background(), k.key).Result()
		if err != nil {
			t.Fatal(err)
		}
		t.Logf("%-20s %-36s slot %5d", k.name, k.pattern, got)
		if got != int64(k.slot) || KeySlot(k.key) != k.slot {
			t.Errorf("%s: %s is on slot %d (KeySlot %d), listed as %d", k.name, k.key, got, KeySlot(k.key), k.slot)
		}
		if k.student != strings.HasPrefix(k.key, "leap:{s:s1}:") {
			t.Errorf("%s: %s: student key %v, but its hash tag says otherwise", k.name, k.key, k.student)
		}
		if k.student && k.slot != Slot("s1") {
			t.Errorf("%s: %s is not on the student's slot %d", k.name, k.key, Slot("s1"))
		}
	}
}

// TestKeyLayoutIsComplete: every constructor or constant of a key in this
// package is in keyLayout, so that a new key gets its slot checked.
func TestKeyLayoutIsComplete(t *testing.T) {
	listed := map[string]bool{}
	for _, k := range keyLayout {
		listed[k.name] = true
	}
	fset := token.NewFileSet()
	files, err := filepath.Glob("*.go")
	if err != nil {
		t.Fatal(err)
	}
	var found []string
	for _, name := range files {
		if strings.HasSuffix(name, "_test.go") {
			continue
		}
		f, err := parser.ParseFile(fset, name, nil, 0)
		if err != nil {
			t.Fatal(err)
		}
		for _, d := range f.Decls {
			switch d := d.(type) {
			case *ast.FuncDecl:
				if d.Recv == nil && strings.HasSuffix(d.Name.Name, "Key") {
					found = append(found, d.Name.Name)
				}
			case *ast.GenDecl:
				for _, s := range d.Specs {
					if vs, ok := s.(*ast.ValueSpec); ok {
						for _, n := range vs.Names {
							if strings.HasSuffix(n.Name, "Key") {
								found = append(found, n.Name)
							}
						}
					}
				}
			}
		}
	}
	if len(found) == 0 {
		t.Fatal("found no key constructors: the scan is broken")
	}
	for _, name := range found {
		if !listed[name] {
			t.Errorf("%s builds a key but is not in keyLayout", name)
		}
	}
}

// TestKeysAreBuiltInStore: no Go code of the services outside this package
// spells a key ("leap:" in a string literal), so that every key and its
// hash tag are decided here.
func TestKeysAreBuiltInStore(t *testing.T) {
	root, err := filepath.Abs("..")
	if err != nil {
		t.Fatal(err)
	}
	fset := token.NewFileSet()
	scanned := 0
	err = filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() {
			if name := d.Name(); name == "testdata" || (strings.HasPrefix(name, ".") && path != root) {
				return filepath.SkipDir
			}
			if rel, _ := filepath.Rel(root, path); rel == "store" {
				return filepath.SkipDir
			}
			return nil
		}
		if !strings.HasSuffix(path, ".go") || strings.HasSuffix(path, "_test.go") {
			return nil
		}
		src, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		f, err := parser.ParseFile(fset, path, src, 0)
		if err != nil {
			return err
		}
		scanned++
		ast.Inspect(f, func(n ast.Node) bool {
			lit, ok := n.(*ast.BasicLit)
			if !ok || lit.Kind != token.STRING {
				return true
			}
			if v, err := strconv.Unquote(lit.Value); err == nil && strings.HasPrefix(v, "leap:") {
				t.Errorf("%s: key %q built outside package store", fset.Position(lit.Pos()), v)
			}
			return true
		})
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if scanned < 10 {
		t.Fatalf("scanned %d files under %s: the walk is broken", scanned, root)
	}
}
