package controller

import (
	"context"
	"fmt"
	"sort"
	"time"

	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	batchv1ac "k8s.io/client-go/applyconfigurations/batch/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"

	"github.com/leap-dev/leap/operator/api/v1alpha1"
	build "github.com/leap-dev/leap/operator/internal/builder"
)

// ConditionBackupReady is True when the newest backup Job of
// spec.redis.backup uploaded its snapshot, False when it failed, Unknown
// before the first one ran. Absent without spec.redis.backup.
const ConditionBackupReady = "BackupReady"

// Reasons of BackupReady and of the backup Events.
const (
	ReasonBackupSucceeded   = "BackupSucceeded"
	ReasonBackupFailed      = "BackupFailed"
	ReasonAwaitingBackup    = "AwaitingFirstBackup"
	phaseBackup             = "backup"
	phaseBackupReasonFailed = "BackupScheduleFailed"
)

// reconcileBackup runs spec.redis.backup's CronJob, or removes it when the
// spec no longer asks for one, and reads the CronJob's Jobs into
// status.lastBackup and BackupReady. Each Job that fails is a Warning Event
// of its own: a second failure in a row changes no condition, yet is news.
func (r *LeapTermReconciler) reconcileBackup(ctx context.Context, a applier, t *v1alpha1.LeapTerm) error {
	k := key(t, build.NamesOf(t).Component(build.RedisBackup))
	if t.Spec.Redis.Mode == v1alpha1.RedisExternal || t.Spec.Redis.Backup == nil {
		meta.RemoveStatusCondition(&t.Status.Conditions, ConditionBackupReady)
		return deleteIfPresent(ctx, r.Client, k, &batchv1.CronJob{})
	}
	if _, err := apply(ctx, a, k, &batchv1.CronJob{}, build.BackupCronJob(t, r.Images), batchv1ac.ExtractCronJob); err != nil {
		return err
	}
	jobs := &batchv1.JobList{}
	if err := r.Client.List(ctx, jobs, client.InNamespace(t.Namespace), client.MatchingLabels(build.SelectorLabels(t, build.RedisBackup))); err != nil {
		return fmt.Errorf("list backup Jobs: %w", err)
	}
	r.readBackupJobs(t, jobs.Items)
	return nil
}

// jobOutcome is how a finished Job ended, and when.
type jobOutcome struct {
	job       *batchv1.Job
	succeeded bool
	at        time.Time
	message   string
}

func finished(j *batchv1.Job) (jobOutcome, bool) {
	for _, c := range j.Status.Conditions {
		if c.Status != corev1.ConditionTrue {
			continue
		}
		switch c.Type {
		case batchv1.JobComplete:
			at := c.LastTransitionTime.Time
			if j.Status.CompletionTime != nil {
				at = j.Status.CompletionTime.Time
			}
			return jobOutcome{job: j, succeeded: true, at: at}, true
		case batchv1.JobFailed:
			msg := c.Message
			if msg == "" {
				msg = c.Reason
			}
			return jobOutcome{job: j, at: c.LastTransitionTime.Time, message: msg}, true
		}
	}
	return jobOutcome{}, false
}

// readBackupJobs sets status.lastBackup from the newest Job that succeeded
// and BackupReady from the newest that finished.
func (r *LeapTermReconciler) readBackupJobs(t *v1alpha1.LeapTerm, jobs []batchv1.Job) {
	var done []jobOutcome
	for i := range jobs {
		if o, ok := finished(&jobs[i]); ok {
			done = append(done, o)
		}
	}
	sort.Slice(done, func(i, j int) bool {
		if !done[i].at.Equal(done[j].at) {
			return done[i].at.After(done[j].at)
		}
		return done[i].job.Name > done[j].job.Name
	})
	for _, o := range done {
		if !o.succeeded {
			continue
		}
		// The CronJob keeps a few Jobs only: once the newest success is
		// gone from the list, status keeps it.
		if last := t.Status.LastBackup; last == nil || o.at.After(last.Time.Time) {
			t.Status.LastBackup = &v1alpha1.BackupStatus{
				Time: metav1.NewTime(o.at), Object: build.BackupObject(t, o.job.Name), Job: o.job.Name,
			}
		}
		break
	}
	cond := metav1.Condition{Type: ConditionBackupReady, ObservedGeneration: t.Generation}
	switch {
	case len(done) == 0 && t.Status.LastBackup == nil:
		cond.Status, cond.Reason = metav1.ConditionUnknown, ReasonAwaitingBackup
		cond.Message = fmt.Sprintf("no backup has run yet; the schedule is %q", t.Spec.Redis.Backup.Schedule)
	case len(done) == 0 || done[0].succeeded:
		last := t.Status.LastBackup
		cond.Status, cond.Reason = metav1.ConditionTrue, ReasonBackupSucceeded
		cond.Message = fmt.Sprintf("snapshot %s uploaded to bucket %s at %s", last.Object,
			t.Spec.Redis.Backup.Destination.Bucket, last.Time.UTC().Format(time.RFC3339))
	default:
		cond.Status, cond.Reason = metav1.ConditionFalse, ReasonBackupFailed
		cond.Message = fmt.Sprintf("backup Job %s failed: %s; see its pod's logs (kubectl logs job/%s)", done[0].job.Name, done[0].message, done[0].job.Name)
		if old := meta.FindStatusCondition(t.Status.Conditions, ConditionBackupReady); old != nil &&
			old.Status == metav1.ConditionFalse && old.Message != cond.Message && r.Recorder != nil {
			// Failing again: the condition does not change, the Job does.
			r.Recorder.Eventf(t, nil, corev1.EventTypeWarning, ReasonBackupFailed, "Backup", "%s", cond.Message)
		}
	}
	meta.SetStatusCondition(&t.Status.Conditions, cond)
}

// backupJobOwner maps a backup Job to its LeapTerm by the instance label:
// the Job's owner is the CronJob, not the LeapTerm.
func backupJobOwner(_ context.Context, obj client.Object) []reconcile.Request {
	l := obj.GetLabels()
	if l[build.LabelComponent] != build.RedisBackup || l[build.LabelInstance] == "" {
		return nil
	}
	return []reconcile.Request{{NamespacedName: client.ObjectKey{Namespace: obj.GetNamespace(), Name: l[build.LabelInstance]}}}
}
