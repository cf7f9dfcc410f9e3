package controller

import (
	"context"
	"crypto/rand"
	"sync/atomic"
	"testing"
	"time"

	. "github.com/onsi/gomega"
	appsv1 "k8s.io/api/apps/v1"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	policyv1 "k8s.io/api/policy/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/leap-dev/leap/operator/api/v1alpha1"
	build "github.com/leap-dev/leap/operator/internal/builder"
)

const backupSpec = `
timezone: Europe/London
terms: [{name: autumn, start: "2026-10-05", end: "2026-12-11"}]
redis:
  backup:
    schedule: "0 3 * * *"
    retention: 5
    destination: {endpoint: "https://s3.example.ac.uk", bucket: leap-backups, credentialsSecret: leap-s3}
`

// finishJob plays the CronJob and Job controllers that the test API server
// lacks: a Job of the backup CronJob that ended as ok says, at the time at.
func finishJob(g Gomega, term *v1alpha1.LeapTerm, name string, ok bool, at time.Time) {
	ctx := context.Background()
	cj := &batchv1.CronJob{}
	g.Expect(k8s.Get(ctx, key(term, build.NamesOf(term).Component(build.RedisBackup)), cj)).To(Succeed())
	job := &batchv1.Job{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: term.Namespace, Labels: cj.Spec.JobTemplate.Labels},
		Spec:       *cj.Spec.JobTemplate.Spec.DeepCopy(),
	}
	g.Expect(k8s.Create(ctx, job)).To(Succeed())
	start := metav1.NewTime(at.Add(-time.Minute))
	end := metav1.NewTime(at)
	job.Status.StartTime = &start
	if ok {
		job.Status.Succeeded = 1
		job.Status.CompletionTime = &end
		job.Status.Conditions = []batchv1.JobCondition{
			{Type: batchv1.JobSuccessCriteriaMet, Status: corev1.ConditionTrue, LastTransitionTime: end},
			{Type: batchv1.JobComplete, Status: corev1.ConditionTrue, LastTransitionTime: end},
		}
	} else {
		job.Status.Failed = 3
		job.Status.Conditions = []batchv1.JobCondition{
			{Type: batchv1.JobFailureTarget, Status: corev1.ConditionTrue, Reason: "BackoffLimitExceeded", Message: "Job has reached the specified backoff limit", LastTransitionTime: end},
			{Type: batchv1.JobFailed, Status: corev1.ConditionTrue, Reason: "BackoffLimitExceeded", Message: "Job has reached the specified backoff limit", LastTransitionTime: end},
		}
	}
	g.Expect(k8s.Status().Update(ctx, job)).To(Succeed())
}

func backupReady(g Gomega, term *v1alpha1.LeapTerm) metav1.Condition {
	cur := &v1alpha1.LeapTerm{ObjectMeta: term.ObjectMeta}
	get(g, cur)
	c := meta.FindStatusCondition(cur.Status.Conditions, ConditionBackupReady)
	g.Expect(c).NotTo(BeNil(), "no BackupReady condition")
	return *c
}

// TestBackupCronJobAndItsStatus: spec.redis.backup runs a CronJob; each
// finished Job moves status.lastBackup and BackupReady, each failed Job is
// a Warning Event of its own, and removing the backup removes the CronJob
// and the condition.
func TestBackupCronJobAndItsStatus(t *testing.T) {
	g := NewWithT(t)
	ns := newNamespace(t)
	ctx := context.Background()
	term := reconciled(g, createTerm(t, ns, "bk", backupSpec))
	n := build.NamesOf(term)

	cj := &batchv1.CronJob{}
	g.Expect(k8s.Get(ctx, key(term, n.Component(build.RedisBackup)), cj)).To(Succeed())
	g.Expect(cj.Spec.Schedule).To(Equal("0 3 * * *"))
	g.Expect(*cj.Spec.TimeZone).To(Equal("Europe/London"))
	g.Expect(cj.OwnerReferences[0].UID).To(Equal(term.UID))
	g.Expect(cj.Spec.JobTemplate.Spec.Template.Spec.Containers[0].Args).To(ContainElements("--retention", "5", "--prefix", ns+"/bk/"))
	g.Expect(backupReady(g, term).Status).To(Equal(metav1.ConditionUnknown))
	g.Expect(term.Status.LastBackup).To(BeNil())

	// The backup pods pass Redis's NetworkPolicy.
	np := &networkingv1.NetworkPolicy{}
	g.Expect(k8s.Get(ctx, key(term, n.Component(build.Redis)), np)).To(Succeed())
	g.Expect(np.Spec.Ingress[0].From[0].PodSelector.MatchExpressions[0].Values).To(ContainElement(build.RedisBackup))

	t0 := time.Now().Add(-time.Hour).Truncate(time.Second)
	finishJob(g, term, "bk-redis-backup-1", true, t0)
	g.Eventually(func(g Gomega) {
		c := backupReady(g, term)
		g.Expect(c.Status).To(Equal(metav1.ConditionTrue))
		g.Expect(c.Message).To(ContainSubstring(ns + "/bk/bk-redis-backup-1.rdb"))
		get(g, term)
		g.Expect(term.Status.LastBackup).NotTo(BeNil())
		g.Expect(term.Status.LastBackup.Object).To(Equal(ns + "/bk/bk-redis-backup-1.rdb"))
		g.Expect(term.Status.LastBackup.Time.Time.Equal(t0)).To(BeTrue())
	}).WithTimeout(20 * time.Second).Should(Succeed())

	finishJob(g, term, "bk-redis-backup-2", false, t0.Add(10*time.Minute))
	g.Eventually(func(g Gomega) {
		c := backupReady(g, term)
		g.Expect(c.Status).To(Equal(metav1.ConditionFalse))
		g.Expect(c.Reason).To(Equal(ReasonBackupFailed))
		g.Expect(c.Message).To(ContainSubstring("bk-redis-backup-2 failed"))
		g.Expect(eventsFor(g, term, ReasonBackupFailed)).To(HaveLen(1))
		g.Expect(eventsFor(g, term, ReasonBackupFailed)[0].Type).To(Equal(corev1.EventTypeWarning))
	}).WithTimeout(20 * time.Second).Should(Succeed())
	// A failure keeps the last good snapshot in status.
	get(g, term)
	g.Expect(term.Status.LastBackup.Object).To(Equal(ns + "/bk/bk-redis-backup-1.rdb"))

	// Failing again changes no condition, yet warns again.
	finishJob(g, term, "bk-redis-backup-3", false, t0.Add(20*time.Minute))
	g.Eventually(func(g Gomega) {
		g.Expect(backupReady(g, term).Message).To(ContainSubstring("bk-redis-backup-3 failed"))
		g.Expect(eventsFor(g, term, ReasonBackupFailed)).To(HaveLen(2))
	}).WithTimeout(20 * time.Second).Should(Succeed())

	finishJob(g, term, "bk-redis-backup-4", true, t0.Add(30*time.Minute))
	g.Eventually(func(g Gomega) {
		g.Expect(backupReady(g, term).Status).To(Equal(metav1.ConditionTrue))
		get(g, term)
		g.Expect(term.Status.LastBackup.Job).To(Equal("bk-redis-backup-4"))
	}).WithTimeout(20 * time.Second).Should(Succeed())

	updateTerm(g, term, func(t *v1alpha1.LeapTerm) { t.Spec.Redis.Backup = nil })
	g.Eventually(func(g Gomega) {
		err := k8s.Get(ctx, key(term, n.Component(build.RedisBackup)), &batchv1.CronJob{})
		g.Expect(apierrors.IsNotFound(err)).To(BeTrue(), "the CronJob outlived spec.redis.backup")
		cur := &v1alpha1.LeapTerm{}
		g.Expect(k8s.Get(ctx, client.ObjectKeyFromObject(term), cur)).To(Succeed())
		g.Expect(meta.FindStatusCondition(cur.Status.Conditions, ConditionBackupReady)).To(BeNil())
	}).WithTimeout(20 * time.Second).Should(Succeed())
}

// TestHighlyAvailableRedisHasABudget: spec.redis.replicas: 3 runs three
// Redis pods under a PodDisruptionBudget, which goes with the replicas.
func TestHighlyAvailableRedisHasABudget(t *testing.T) {
	g := NewWithT(t)
	ns := newNamespace(t)
	ctx := context.Background()
	term := reconciled(g, createTerm(t, ns, "ha", `
terms: [{name: autumn, start: "2026-10-05", end: "2026-12-11"}]
redis: {replicas: 3}
`))
	n := build.NamesOf(term)
	sts := &appsv1.StatefulSet{}
	g.Expect(k8s.Get(ctx, key(term, n.Component(build.Redis)), sts)).To(Succeed())
	g.Expect(*sts.Spec.Replicas).To(Equal(int32(3)))
	g.Expect(sts.Spec.Template.Spec.Containers).To(HaveLen(2))
	pdb := &policyv1.PodDisruptionBudget{}
	g.Expect(k8s.Get(ctx, key(term, n.Component(build.Redis)), pdb)).To(Succeed())
	g.Expect(pdb.Spec.MaxUnavailable.IntValue()).To(Equal(1))

	updateTerm(g, term, func(t *v1alpha1.LeapTerm) { t.Spec.Redis.Replicas = 1 })
	g.Eventually(func(g Gomega) {
		err := k8s.Get(ctx, key(term, n.Component(build.Redis)), &policyv1.PodDisruptionBudget{})
		g.Expect(apierrors.IsNotFound(err)).To(BeTrue(), "a single Redis keeps a budget that blocks every drain")
	}).WithTimeout(20 * time.Second).Should(Succeed())
}

// TestUnchangedBackedUpHALeapTermWritesNothing: the CronJob, the Sentinel
// StatefulSet, the restore's init containers and the budget cost no write
// once they are as asked.
func TestUnchangedBackedUpHALeapTermWritesNothing(t *testing.T) {
	g := NewWithT(t)
	ns := newNamespace(t)
	term := reconciled(g, createTerm(t, ns, "steady-ha", backupSpec+`
  replicas: 3
  restoreFrom: {endpoint: "https://s3.example.ac.uk", bucket: leap-backups, credentialsSecret: leap-s3, object: a.rdb}
`))
	finishJob(g, term, "steady-ha-redis-backup-1", true, time.Now().Add(-time.Hour).Truncate(time.Second))
	// The Job's outcome is in status before writes are counted.
	g.Eventually(func(g Gomega) {
		get(g, term)
		g.Expect(term.Status.LastBackup).NotTo(BeNil())
	}).WithTimeout(20 * time.Second).Should(Succeed())
	var n atomic.Int64
	r := &LeapTermReconciler{Client: countingClient(mgrClient, &n), Clock: testClock, Images: images, Random: rand.Reader}
	req := ctrl.Request{NamespacedName: types.NamespacedName{Namespace: ns, Name: term.Name}}
	reconcileOnce := func() int64 {
		n.Store(0)
		_, err := r.Reconcile(context.Background(), req)
		g.Expect(err).NotTo(HaveOccurred())
		return n.Load()
	}
	g.Eventually(reconcileOnce).WithTimeout(10 * time.Second).Should(BeZero())
	for range 3 {
		g.Expect(reconcileOnce()).To(BeZero(), "a reconcile of an unchanged LeapTerm wrote to the API server")
	}
}
