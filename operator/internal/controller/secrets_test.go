package controller

import (
	"context"
	"crypto/rand"
	"errors"
	"sync/atomic"
	"testing"
	"time"

	. "github.com/onsi/gomega"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/yaml"

	"github.com/leap-dev/leap/operator/api/v1alpha1"
	build "github.com/leap-dev/leap/operator/internal/builder"
)

// TestUpgradeAddsTheRosterTokenAndKeepsTheOthers plays an operator upgrade:
// the ingest-tokens Secret was made by a version without the roster source,
// and its tokens are in the hands of the source systems. The new version
// adds the roster token, changes no other value, and then writes nothing.
func TestUpgradeAddsTheRosterTokenAndKeepsTheOthers(t *testing.T) {
	g := NewWithT(t)
	ctx := context.Background()
	ns := newNamespace(t)

	// Paused from birth, so the operator makes nothing until the old
	// Secrets are in place.
	term := &v1alpha1.LeapTerm{ObjectMeta: metav1.ObjectMeta{
		Name: "upgrade", Namespace: ns, Annotations: map[string]string{v1alpha1.PauseAnnotation: "disabled"},
	}}
	g.Expect(yaml.UnmarshalStrict([]byte(typicalSpec), &term.Spec)).To(Succeed())
	g.Expect(k8s.Create(ctx, term)).To(Succeed())
	g.Eventually(func(g Gomega) { g.Expect(condition(g, term, ConditionPaused)).To(Equal(metav1.ConditionTrue)) }).
		WithTimeout(10 * time.Second).Should(Succeed())

	// The Secrets as the previous version made them: same labels, owner and
	// field owner; no roster key; known values.
	n := build.NamesOf(term)
	generated, err := build.GeneratedSecrets(term, rand.Reader)
	g.Expect(err).NotTo(HaveOccurred())
	old := map[string]map[string][]byte{}
	for _, s := range generated {
		delete(s.Data, build.RosterSource)
		for k := range s.Data {
			s.Data[k] = []byte("handed-out-" + s.Name + "-" + k + "-0123456789abcdef0123456789")
		}
		old[s.Name] = s.Data
		g.Expect(k8s.Create(ctx, s.DeepCopy(), client.FieldOwner(FieldOwner))).To(Succeed())
	}
	g.Expect(old[n.IngestTokens()]).To(HaveLen(len(build.IngestSources) - 1))
	g.Expect(old[n.IngestTokens()]).NotTo(HaveKey(build.RosterSource))
	session := &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: n.PortalSession()}}
	get(g, session)
	sessionRV := session.ResourceVersion

	updateTerm(g, term, func(t *v1alpha1.LeapTerm) { delete(t.Annotations, v1alpha1.PauseAnnotation) })
	term = reconciled(g, term)

	tokens := &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: n.IngestTokens()}}
	get(g, tokens)
	g.Expect(tokens.Data).To(HaveLen(len(build.IngestSources)))
	roster := tokens.Data[build.RosterSource]
	g.Expect(len(roster)).To(BeNumerically(">=", 40))
	for source, token := range old[n.IngestTokens()] {
		g.Expect(tokens.Data[source]).To(Equal(token), "the token of %s changed", source)
		g.Expect(roster).NotTo(Equal(token), "roster shares the token of %s", source)
	}
	// A Secret that lacks nothing is not written at all.
	get(g, session)
	g.Expect(session.ResourceVersion).To(Equal(sessionRV))
	g.Expect(session.Data).To(Equal(old[n.PortalSession()]))

	// Later reconciles write nothing, and never make a second roster token.
	tokensRV := tokens.ResourceVersion
	var writes atomic.Int64
	r := &LeapTermReconciler{Client: countingClient(mgrClient, &writes), Clock: testClock, Images: images, Random: rand.Reader}
	req := ctrl.Request{NamespacedName: types.NamespacedName{Namespace: ns, Name: term.Name}}
	reconcileOnce := func() int64 {
		writes.Store(0)
		_, err := r.Reconcile(ctx, req)
		g.Expect(err).NotTo(HaveOccurred())
		return writes.Load()
	}
	// The manager's cache may lag a moment behind the last status write.
	g.Eventually(reconcileOnce).WithTimeout(5 * time.Second).Should(BeZero())
	for range 3 {
		g.Expect(reconcileOnce()).To(BeZero(), "a reconcile after the upgrade wrote to the API server")
	}
	get(g, tokens)
	g.Expect(tokens.ResourceVersion).To(Equal(tokensRV))
	g.Expect(tokens.Data[build.RosterSource]).To(Equal(roster))
}

// TestAddMissingKeysNeverOverwrites gives addMissingKeys a Secret read before
// someone else added the key it would add: the write is refused rather than
// replacing that value, and on a fresh read nothing is left to write.
func TestAddMissingKeysNeverOverwrites(t *testing.T) {
	g := NewWithT(t)
	ctx := context.Background()
	ns := newNamespace(t)
	s := &corev1.Secret{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "tokens"},
		Data:       map[string][]byte{"moodle": []byte("moodle-token")},
	}
	g.Expect(k8s.Create(ctx, s)).To(Succeed())
	stale := s.DeepCopy()

	s.Data["roster"] = []byte("roster-token-set-meanwhile")
	g.Expect(k8s.Update(ctx, s)).To(Succeed())

	want := map[string][]byte{"moodle": []byte("new-moodle"), "roster": []byte("new-roster"), "xapi": []byte("new-xapi")}
	var writes atomic.Int64
	c := countingClient(k8s, &writes)
	err := addMissingKeys(ctx, c, stale, want)
	g.Expect(errors.Is(err, errStaleSecret)).To(BeTrue(), "err %v", err)

	fresh := &corev1.Secret{ObjectMeta: s.ObjectMeta}
	get(g, fresh)
	g.Expect(fresh.Data).To(Equal(map[string][]byte{"moodle": []byte("moodle-token"), "roster": []byte("roster-token-set-meanwhile")}))

	g.Expect(addMissingKeys(ctx, c, fresh, want)).To(Succeed())
	get(g, fresh)
	g.Expect(fresh.Data).To(Equal(map[string][]byte{
		"moodle": []byte("moodle-token"), "roster": []byte("roster-token-set-meanwhile"), "xapi": []byte("new-xapi"),
	}))

	writes.Store(0)
	g.Expect(addMissingKeys(ctx, c, fresh, want)).To(Succeed())
	g.Expect(writes.Load()).To(BeZero())
}
