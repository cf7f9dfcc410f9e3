package apivalidation

import (
	"context"
	"fmt"
	"testing"

	. "github.com/onsi/gomega"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
)

func backupSpec(changes ...any) map[string]any {
	doc := map[string]any{
		"schedule":    "0 3 * * *",
		"retention":   int64(14),
		"destination": bucketSpec(),
	}
	for i := 0; i+1 < len(changes); i += 2 {
		if changes[i+1] == nil {
			delete(doc, changes[i].(string))
			continue
		}
		doc[changes[i].(string)] = changes[i+1]
	}
	return doc
}

func bucketSpec(changes ...any) map[string]any {
	doc := map[string]any{"endpoint": "https://s3.example.ac.uk", "bucket": "leap-backups", "credentialsSecret": "leap-s3"}
	for i := 0; i+1 < len(changes); i += 2 {
		doc[changes[i].(string)] = changes[i+1]
	}
	return doc
}

func restoreSpec(object string) map[string]any {
	doc := bucketSpec()
	doc["object"] = object
	return doc
}

func TestInvalidBackupSpecsAreRejected(t *testing.T) {
	ns := newNamespace(t)
	for i, tc := range []struct {
		name    string
		change  func(*unstructured.Unstructured)
		message string
	}{
		{"schedule of four fields", set("spec.redis.backup", backupSpec("schedule", "0 3 * *")), "schedule must be a cron expression of five fields"},
		{"schedule as words", set("spec.redis.backup", backupSpec("schedule", "every night")), "schedule must be a cron expression"},
		{"unknown macro", set("spec.redis.backup", backupSpec("schedule", "@nightly")), "schedule must be a cron expression"},
		{"retention of zero", set("spec.redis.backup", backupSpec("retention", int64(0))), "should be greater than or equal to 1"},
		{"endpoint with a path", set("spec.redis.backup", backupSpec("destination", bucketSpec("endpoint", "https://s3.example.ac.uk/leap"))), "endpoint must be http(s)://host[:port]"},
		{"endpoint with credentials", set("spec.redis.backup", backupSpec("destination", bucketSpec("endpoint", "https://key:secret@s3.example.ac.uk"))), "endpoint must be http(s)://host[:port]"},
		{"bucket in capitals", set("spec.redis.backup", backupSpec("destination", bucketSpec("bucket", "LEAP"))), "should match"},
		{"no credentials", set("spec.redis.backup", backupSpec("destination", map[string]any{"endpoint": "https://s3.example.ac.uk", "bucket": "leap"})), "credentialsSecret: Required value"},
		{"prefix climbing out", set("spec.redis.backup", backupSpec("prefix", "../other/")), "prefix must not start with / nor hold .."},
		{"backup of an External Redis", set("spec.redis", map[string]any{"mode": "External", "address": "redis://r:6379", "backup": backupSpec()}), "spec.redis.backup and restoreFrom are for a Managed Redis"},
		{"restore into an External Redis", set("spec.redis", map[string]any{"mode": "External", "address": "redis://r:6379", "restoreFrom": restoreSpec("a.rdb")}), "spec.redis.backup and restoreFrom are for a Managed Redis"},
		{"restore without an object", set("spec.redis.restoreFrom", bucketSpec()), "object: Required value"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			g := NewWithT(t)
			u := typical(t, ns)
			u.SetName(fmt.Sprintf("backup-%d", i))
			tc.change(u)
			err := k8s.Create(context.Background(), u)
			g.Expect(err).To(HaveOccurred(), "the API server accepted a LeapTerm with %s", tc.name)
			g.Expect(err.Error()).To(ContainSubstring(tc.message))
		})
	}
}

func TestBackupSpecIsAcceptedAndDefaulted(t *testing.T) {
	g := NewWithT(t)
	ns := newNamespace(t)
	ctx := context.Background()
	for i, schedule := range []string{"0 3 * * *", "*/30 1-5 * * MON-FRI", "@daily", "0  2 1 * *"} {
		u := typical(t, ns)
		u.SetName(fmt.Sprintf("ok-%d", i))
		spec := backupSpec("schedule", schedule)
		delete(spec, "retention")
		set("spec.redis.backup", spec)(u)
		g.Expect(k8s.Create(ctx, u)).To(Succeed(), schedule)
		retention, _, _ := unstructured.NestedInt64(u.Object, "spec", "redis", "backup", "retention")
		g.Expect(retention).To(Equal(int64(7)), "retention's default")
	}
	// Backups can be added, changed and removed on a running LeapTerm.
	u := typical(t, ns)
	u.SetName("later")
	g.Expect(k8s.Create(ctx, u)).To(Succeed())
	set("spec.redis.backup", backupSpec())(u)
	g.Expect(k8s.Update(ctx, u)).To(Succeed())
	set("spec.redis.backup.schedule", "@hourly")(u)
	g.Expect(k8s.Update(ctx, u)).To(Succeed())
	unstructured.RemoveNestedField(u.Object, "spec", "redis", "backup")
	g.Expect(k8s.Update(ctx, u)).To(Succeed())
}

// restoreFrom is read once, when the new Redis first starts: the API server
// refuses to add, change or remove it afterwards.
func TestRestoreFromIsFixedAtCreation(t *testing.T) {
	g := NewWithT(t)
	ns := newNamespace(t)
	ctx := context.Background()
	const message = "spec.redis.restoreFrom is fixed when the LeapTerm is created"

	restored := typical(t, ns)
	restored.SetName("restored")
	set("spec.redis.restoreFrom", restoreSpec("leap/y2026/y2026-redis-backup-29000000.rdb"))(restored)
	g.Expect(k8s.Create(ctx, restored)).To(Succeed())
	for name, change := range map[string]func(*unstructured.Unstructured){
		"another object": set("spec.redis.restoreFrom.object", "other.rdb"),
		"another bucket": set("spec.redis.restoreFrom.bucket", "elsewhere"),
		"no restore": func(u *unstructured.Unstructured) {
			unstructured.RemoveNestedField(u.Object, "spec", "redis", "restoreFrom")
		},
	} {
		changed := restored.DeepCopy()
		change(changed)
		err := k8s.Update(ctx, changed)
		g.Expect(err).To(HaveOccurred(), "%s was accepted", name)
		g.Expect(err.Error()).To(ContainSubstring(message), name)
	}
	// The rest of the spec still changes.
	set("spec.redis.backup", backupSpec())(restored)
	g.Expect(k8s.Update(ctx, restored)).To(Succeed())

	plain := typical(t, ns)
	plain.SetName("plain")
	g.Expect(k8s.Create(ctx, plain)).To(Succeed())
	set("spec.redis.restoreFrom", restoreSpec("a.rdb"))(plain)
	err := k8s.Update(ctx, plain)
	g.Expect(err).To(HaveOccurred(), "restoreFrom added to a running LeapTerm was accepted")
	g.Expect(err.Error()).To(ContainSubstring(message))
	g.Expect(err.Error()).To(ContainSubstring("docs/platform.md, Restoring Redis"))
}

func TestRedisReplicasAreOneOrAQuorum(t *testing.T) {
	g := NewWithT(t)
	ns := newNamespace(t)
	ctx := context.Background()
	for _, n := range []int64{2, 0, 8} {
		u := typical(t, ns)
		u.SetName(fmt.Sprintf("replicas-%d", n))
		set("spec.redis.replicas", n)(u)
		g.Expect(k8s.Create(ctx, u)).NotTo(Succeed(), "replicas %d accepted", n)
	}
	u := typical(t, ns)
	u.SetName("replicas-two")
	set("spec.redis.replicas", int64(2))(u)
	err := k8s.Create(ctx, u)
	g.Expect(err).To(HaveOccurred())
	g.Expect(err.Error()).To(ContainSubstring("spec.redis.replicas must be 1, or 3 or more"))
	for _, n := range []int64{1, 3, 5} {
		u := typical(t, ns)
		u.SetName(fmt.Sprintf("replicas-ok-%d", n))
		set("spec.redis.replicas", n)(u)
		g.Expect(k8s.Create(ctx, u)).To(Succeed(), "replicas %d", n)
	}
}
