package controller

import (
	"context"
	"strings"
	"testing"
	"time"

	. "github.com/onsi/gomega"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/leap-dev/leap/operator/api/v1alpha1"
	build "github.com/leap-dev/leap/operator/internal/builder"
)

// TestIngestTokenRotationWithOverlap asks for a new moodle token with a 2h
// overlap: moodle gets a new token, its old one is kept with its expiry,
// every other source's token stays, the annotation is consumed, a Normal
// Event says so and ingestion rolls. Past the overlap the old token goes,
// evented, and ingestion rolls again. A request for an unknown source is
// refused with a Warning and consumed, changing nothing.
func TestIngestTokenRotationWithOverlap(t *testing.T) {
	g := NewWithT(t)
	was := testClock.Now()
	t.Cleanup(func() { testClock.SetTime(was) })
	ns := newNamespace(t)
	term := reconciled(g, createTerm(t, ns, "rotate", typicalSpec))
	rollOut(g, term)
	tokens := &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: build.NamesOf(term).IngestTokens()}}
	var before map[string][]byte
	var hashBefore string
	g.Eventually(func(g Gomega) {
		get(g, tokens)
		before = tokens.Data
		hashBefore = secretsHashes(g, term)[build.Ingestion]
		g.Expect(hashBefore).To(HaveLen(16))
	}).WithTimeout(10 * time.Second).Should(Succeed())

	updateTerm(g, term, func(lt *v1alpha1.LeapTerm) {
		lt.Annotations = map[string]string{v1alpha1.RotateIngestTokenAnnotation: "moodle", v1alpha1.RotateIngestTokenOverlapAnnotation: "2h"}
	})
	expires := testClock.Now().Add(2 * time.Hour).UTC().Truncate(time.Second).Format(time.RFC3339)
	var hashDuring string
	g.Eventually(func(g Gomega) {
		get(g, tokens)
		g.Expect(tokens.Data["moodle"]).NotTo(Equal(before["moodle"]), "moodle has a new token")
		g.Expect(string(tokens.Data["moodle"+build.PreviousTokenSuffix])).To(Equal(string(before["moodle"])+" "+expires), "the old one is kept with its expiry")
		for k, v := range before {
			if k != "moodle" {
				g.Expect(tokens.Data[k]).To(Equal(v), "%s is untouched", k)
			}
		}
		g.Expect(tokens.Data).To(HaveLen(len(before) + 1))
		cur := &v1alpha1.LeapTerm{ObjectMeta: term.ObjectMeta}
		get(g, cur)
		g.Expect(cur.Annotations).NotTo(HaveKey(v1alpha1.RotateIngestTokenAnnotation), "the request is consumed")
		g.Expect(cur.Annotations).NotTo(HaveKey(v1alpha1.RotateIngestTokenOverlapAnnotation))
		g.Expect(eventsFor(g, term, ReasonIngestTokenRotated)).To(ConsistOf(And(
			HaveField("Type", corev1.EventTypeNormal),
			HaveField("Note", ContainSubstring("source moodle")), HaveField("Note", ContainSubstring(expires)))))
		hashDuring = secretsHashes(g, term)[build.Ingestion]
		g.Expect(hashDuring).NotTo(Equal(hashBefore), "ingestion rolls onto both tokens")
	}).WithTimeout(10 * time.Second).Should(Succeed())
	newToken := tokens.Data["moodle"]

	// An unknown source: refused, evented, consumed, nothing changes.
	updateTerm(g, term, func(lt *v1alpha1.LeapTerm) {
		lt.Annotations = map[string]string{v1alpha1.RotateIngestTokenAnnotation: "blackboard"}
	})
	g.Eventually(func(g Gomega) {
		g.Expect(eventsFor(g, term, ReasonIngestTokenRotationRefused)).To(ConsistOf(And(
			HaveField("Type", corev1.EventTypeWarning), HaveField("Note", ContainSubstring(`"blackboard"`)))))
		cur := &v1alpha1.LeapTerm{ObjectMeta: term.ObjectMeta}
		get(g, cur)
		g.Expect(cur.Annotations).NotTo(HaveKey(v1alpha1.RotateIngestTokenAnnotation))
	}).WithTimeout(10 * time.Second).Should(Succeed())
	get(g, tokens)
	g.Expect(tokens.Data["moodle"]).To(Equal(newToken))
	g.Expect(tokens.Data).To(HaveKey("moodle" + build.PreviousTokenSuffix))

	// Past the overlap (the reconcile a requeue would bring, brought by an
	// annotation instead), the old token goes and ingestion rolls again.
	testClock.SetTime(testClock.Now().Add(2*time.Hour + time.Second))
	updateTerm(g, term, func(lt *v1alpha1.LeapTerm) { lt.Annotations = map[string]string{"test.leap.dev/poke": "1"} })
	g.Eventually(func(g Gomega) {
		get(g, tokens)
		g.Expect(tokens.Data).NotTo(HaveKey("moodle" + build.PreviousTokenSuffix))
		g.Expect(tokens.Data["moodle"]).To(Equal(newToken))
		g.Expect(tokens.Data).To(HaveLen(len(before)))
		g.Expect(eventsFor(g, term, ReasonIngestTokenRetired)).To(ConsistOf(And(
			HaveField("Type", corev1.EventTypeNormal), HaveField("Note", ContainSubstring("source moodle no longer works")))))
		after := secretsHashes(g, term)[build.Ingestion]
		g.Expect(after).NotTo(Or(Equal(hashDuring), Equal(hashBefore)), "ingestion rolls onto the new token alone")
	}).WithTimeout(10 * time.Second).Should(Succeed())
	g.Expect(strings.Count(string(newToken), " ")).To(BeZero())
}

func TestRequestedOverlap(t *testing.T) {
	for v, want := range map[string]time.Duration{"": DefaultTokenOverlap, "2h": 2 * time.Hour, "90m": 90 * time.Minute, "720h": maxTokenOverlap} {
		if got, err := requestedOverlap(v); err != nil || got != want {
			t.Errorf("%q: %v %v, want %v", v, got, err, want)
		}
	}
	for _, v := range []string{"0s", "-1h", "1d", "721h", "soon", "24"} {
		if _, err := requestedOverlap(v); err == nil || !strings.Contains(err.Error(), v1alpha1.RotateIngestTokenOverlapAnnotation) {
			t.Errorf("%q: error %v, want one naming the annotation", v, err)
		}
	}
}

// TestRotationResumesFromTheSecret: the operator keeps no rotation in
// memory. A Secret left mid-rotation (as by an operator that stopped) is
// carried on by whatever operator reads it: an overlap not yet over stays,
// one that is over ends.
func TestRotationResumesFromTheSecret(t *testing.T) {
	g := NewWithT(t)
	ns := newNamespace(t)
	term := reconciled(g, createTerm(t, ns, "resume", typicalSpec))
	tokens := &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: build.NamesOf(term).IngestTokens()}}
	get(g, tokens)
	now := testClock.Now().UTC()
	tokens.Data["moodle"+build.PreviousTokenSuffix] = []byte("old-moodle-token-0123456789 " + now.Add(time.Hour).Format(time.RFC3339))
	tokens.Data["faser"+build.PreviousTokenSuffix] = []byte("old-faser-token-0123456789 " + now.Add(-time.Second).Format(time.RFC3339))
	g.Expect(k8s.Update(context.Background(), tokens)).To(Succeed())
	updateTerm(g, term, func(lt *v1alpha1.LeapTerm) { lt.Annotations = map[string]string{"test.leap.dev/poke": "1"} })
	g.Eventually(func(g Gomega) {
		get(g, tokens)
		g.Expect(tokens.Data).NotTo(HaveKey("faser"+build.PreviousTokenSuffix), "an overlap that is over ends")
		g.Expect(tokens.Data).To(HaveKey("moodle"+build.PreviousTokenSuffix), "one still running stays")
		g.Expect(eventsFor(g, term, ReasonIngestTokenRetired)).To(ConsistOf(HaveField("Note", ContainSubstring("source faser"))))
	}).WithTimeout(10 * time.Second).Should(Succeed())
}
