package controller

import (
	"context"
	"testing"
	"time"

	. "github.com/onsi/gomega"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/leap-dev/leap/operator/api/v1alpha1"
	build "github.com/leap-dev/leap/operator/internal/builder"
)

// secretsHashes are the Secrets digests on the pod templates of the
// LeapTerm's workloads, by component.
func secretsHashes(g Gomega, term *v1alpha1.LeapTerm) map[string]string {
	out := map[string]string{}
	for _, d := range deployments(g, term) {
		out[d.Labels[build.LabelComponent]] = d.Spec.Template.Annotations[build.AnnotationSecretsHash]
	}
	sts := redisStatefulSet(g, term)
	out[build.Redis] = sts.Spec.Template.Annotations[build.AnnotationSecretsHash]
	return out
}

// TestDeletedSecretIsRegeneratedLoudlyAndRollsItsPods deletes the ingest
// tokens, then the Redis password, as someone tidying a namespace might.
// Each comes back with new values, never silently: a Warning Event and the
// SecretsRegenerated condition name it and what follows; the pods that read
// it roll through the Secrets digest on their template, and only those: a
// new Redis password moves Redis and every service together.
func TestDeletedSecretIsRegeneratedLoudlyAndRollsItsPods(t *testing.T) {
	g := NewWithT(t)
	ctx := context.Background()
	ns := newNamespace(t)
	term := reconciled(g, createTerm(t, ns, "regen", typicalSpec))
	rollOut(g, term)
	n := build.NamesOf(term)
	var before map[string]string
	g.Eventually(func(g Gomega) {
		cur := &v1alpha1.LeapTerm{ObjectMeta: term.ObjectMeta}
		get(g, cur)
		c := meta.FindStatusCondition(cur.Status.Conditions, ConditionSecretsRegenerated)
		g.Expect(c).NotTo(BeNil())
		g.Expect(c.Status).To(Equal(metav1.ConditionFalse))
		g.Expect(c.Reason).To(Equal(ReasonAsCreated))
		before = secretsHashes(g, term)
		for c, h := range before {
			g.Expect(h).To(HaveLen(16), "%s carries the Secrets digest", c)
		}
	}).WithTimeout(10 * time.Second).Should(Succeed())
	g.Expect(eventsFor(g, term, ReasonSecretRegenerated)).To(BeEmpty(), "the first Secrets are no regeneration")

	tokens := &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: n.IngestTokens()}}
	get(g, tokens)
	oldTokens := tokens.Data
	g.Expect(k8s.Delete(ctx, tokens)).To(Succeed())
	g.Eventually(func(g Gomega) {
		fresh := &corev1.Secret{ObjectMeta: tokens.ObjectMeta}
		get(g, fresh)
		g.Expect(fresh.UID).NotTo(Equal(tokens.UID))
		g.Expect(fresh.Data["moodle"]).NotTo(Equal(oldTokens["moodle"]))
		after := secretsHashes(g, term)
		g.Expect(after[build.Ingestion]).NotTo(Equal(before[build.Ingestion]), "ingestion rolls onto the new tokens")
		for _, c := range []string{build.Scoring, build.Portal, build.Redis} {
			g.Expect(after[c]).To(Equal(before[c]), "%s does not read the tokens", c)
		}
		warnings := eventsFor(g, term, ReasonSecretRegenerated)
		g.Expect(warnings).To(ConsistOf(And(
			HaveField("Type", corev1.EventTypeWarning),
			HaveField("Note", ContainSubstring("Secret "+n.IngestTokens()+" was missing and was regenerated")),
			HaveField("Note", ContainSubstring("every source system needs its new token")))))
		cur := &v1alpha1.LeapTerm{ObjectMeta: term.ObjectMeta}
		get(g, cur)
		c := meta.FindStatusCondition(cur.Status.Conditions, ConditionSecretsRegenerated)
		g.Expect(c.Status).To(Equal(metav1.ConditionTrue))
		g.Expect(c.Reason).To(Equal(ReasonSecretRegenerated))
		g.Expect(c.Message).To(ContainSubstring(n.IngestTokens()))
	}).WithTimeout(10 * time.Second).Should(Succeed())

	// The record outlives a status write that is lost (a conflict with
	// another writer): the Secret made again carries it, and the next
	// reconcile reads it back.
	fresh := &corev1.Secret{ObjectMeta: tokens.ObjectMeta}
	get(g, fresh)
	g.Expect(fresh.Annotations).To(HaveKey(regeneratedAtAnnotation))
	g.Eventually(func() error {
		cur := &v1alpha1.LeapTerm{ObjectMeta: term.ObjectMeta}
		if err := k8s.Get(ctx, client.ObjectKeyFromObject(cur), cur); err != nil {
			return err
		}
		meta.RemoveStatusCondition(&cur.Status.Conditions, ConditionSecretsRegenerated)
		return k8s.Status().Update(ctx, cur)
	}).WithTimeout(10 * time.Second).Should(Succeed())
	poke := &v1alpha1.LeapTerm{ObjectMeta: term.ObjectMeta}
	get(g, poke)
	patched := poke.DeepCopy()
	metav1.SetMetaDataAnnotation(&patched.ObjectMeta, "test.leap.dev/poke", "lost-status")
	g.Expect(k8s.Patch(ctx, patched, client.MergeFrom(poke))).To(Succeed())
	g.Eventually(func(g Gomega) {
		cur := &v1alpha1.LeapTerm{ObjectMeta: term.ObjectMeta}
		get(g, cur)
		c := meta.FindStatusCondition(cur.Status.Conditions, ConditionSecretsRegenerated)
		g.Expect(c).NotTo(BeNil())
		g.Expect(c.Status).To(Equal(metav1.ConditionTrue))
		g.Expect(c.Message).To(ContainSubstring("Secret " + n.IngestTokens() + " was missing and was regenerated at " + fresh.Annotations[regeneratedAtAnnotation]))
	}).WithTimeout(10 * time.Second).Should(Succeed())
	g.Expect(eventsFor(g, term, ReasonSecretRegenerated)).To(HaveLen(1), "reading the record back is no new regeneration")
	before = secretsHashes(g, term)

	auth := &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: n.RedisAuth()}}
	get(g, auth)
	g.Expect(k8s.Delete(ctx, auth)).To(Succeed())
	g.Eventually(func(g Gomega) {
		after := secretsHashes(g, term)
		for c := range before {
			g.Expect(after[c]).NotTo(Equal(before[c]), "%s moves to the new Redis password", c)
		}
		g.Expect(eventsFor(g, term, ReasonSecretRegenerated)).To(ContainElement(
			HaveField("Note", And(ContainSubstring(n.RedisAuth()), ContainSubstring("restart together")))))
	}).WithTimeout(10 * time.Second).Should(Succeed())
}

func redisStatefulSet(g Gomega, term *v1alpha1.LeapTerm) *appsv1.StatefulSet {
	s := &appsv1.StatefulSet{ObjectMeta: metav1.ObjectMeta{Namespace: term.Namespace, Name: build.NamesOf(term).Component(build.Redis)}}
	get(g, s)
	return s
}
