package controller

import (
	"context"
	"fmt"
	"strings"

	appsv1 "k8s.io/api/apps/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/leap-dev/leap/operator/api/v1alpha1"
	build "github.com/leap-dev/leap/operator/internal/builder"
)

// updateStatus reads the workloads back and sets the per-component status
// and the conditions.
func (r *LeapTermReconciler) updateStatus(ctx context.Context, t *v1alpha1.LeapTerm, hash string) error {
	n := build.NamesOf(t)
	t.Status.PolicyHash = hash
	set := func(typ string, ok bool, reason, msg string) {
		s := metav1.ConditionFalse
		if ok {
			s = metav1.ConditionTrue
		}
		meta.SetStatusCondition(&t.Status.Conditions, metav1.Condition{
			Type: typ, Status: s, Reason: reason, Message: msg, ObservedGeneration: t.Generation,
		})
	}

	allReady := true
	var notReady []string

	// Redis.
	if t.Spec.Redis.Mode == v1alpha1.RedisExternal {
		t.Status.Redis = nil
		set(ConditionRedisReady, true, ReasonExternal, "External Redis at "+redactURL(t.Spec.Redis.Address)+"; each service's /readyz checks that it answers")
	} else {
		sts := &appsv1.StatefulSet{}
		if err := r.Client.Get(ctx, key(t, n.Component(build.Redis)), sts); client404(err) != nil {
			return fmt.Errorf("get StatefulSet %s: %w", n.Component(build.Redis), err)
		}
		st, ok, msg := rolloutState(statefulSetRollout(sts))
		t.Status.Redis = st
		set(ConditionRedisReady, ok, reasonFor(ok, false), msg)
		if !ok {
			allReady = false
			notReady = append(notReady, "redis")
		}
	}

	// The services, and whether they all run the current policy.
	policyApplied := true
	var rolling []string
	for _, c := range build.Services {
		d := &appsv1.Deployment{}
		if err := r.Client.Get(ctx, key(t, n.Component(c)), d); client404(err) != nil {
			return fmt.Errorf("get Deployment %s: %w", n.Component(c), err)
		}
		st, ok, msg := rolloutState(deploymentRollout(d))
		if c == build.Portal && !signInConfigured(t) {
			msg += "; " + noSignInMessage
		}
		switch c {
		case build.Ingestion:
			t.Status.Ingestion = st
		case build.Scoring:
			t.Status.Scoring = st
		case build.Portal:
			t.Status.Portal = st
		}
		set(componentCondition[c], ok, reasonFor(ok, st != nil && st.Replicas == 0), msg)
		if !ok {
			allReady = false
			notReady = append(notReady, c)
		}
		if !ok || d.Spec.Template.Annotations[build.AnnotationPolicyHash] != hash {
			policyApplied = false
			rolling = append(rolling, c)
		}
	}
	if policyApplied {
		set(ConditionPolicyApplied, true, ReasonRolledOut, "every service runs policy "+hash)
		if a := t.Spec.Attendance.IsEnabled(); t.Status.AppliedAttendance == nil || *t.Status.AppliedAttendance != a {
			t.Status.AppliedAttendance = &a
		}
	} else {
		set(ConditionPolicyApplied, false, ReasonRollingOut, "policy "+hash+" is rolling out to "+strings.Join(rolling, ", "))
		allReady = false
	}
	if allReady {
		set(ConditionReady, true, ReasonAllReady, "every component is ready and runs policy "+hash)
	} else {
		msg := "waiting for the policy to roll out"
		if len(notReady) > 0 {
			msg = "not ready: " + strings.Join(notReady, ", ")
		}
		set(ConditionReady, false, ReasonComponentsNotReady, msg)
	}
	return nil
}

// signInConfigured tells whether anyone can sign in to the LeapTerm's portal.
func signInConfigured(t *v1alpha1.LeapTerm) bool {
	return t.Spec.Portal.OIDC != nil || t.Spec.Portal.LocalAccountsEnabled()
}

// reportsNoSignIn tells whether a status says that nobody can sign in to the
// portal. Status is the record of what was last reported, so comparing it
// before and after a reconcile finds the transitions.
func reportsNoSignIn(s *v1alpha1.LeapTermStatus) bool {
	c := meta.FindStatusCondition(s.Conditions, ConditionPortalReady)
	return c != nil && strings.HasSuffix(c.Message, noSignInMessage)
}

func client404(err error) error {
	if apierrors.IsNotFound(err) {
		return nil
	}
	return err
}

func reasonFor(ok, zero bool) string {
	switch {
	case zero:
		return ReasonScaledToZero
	case ok:
		return ReasonAvailable
	default:
		return ReasonProgressing
	}
}

// rollout is what a workload's rollout state is read from: the fields a
// Deployment and a StatefulSet share.
type rollout struct {
	kind                 string // "Deployment" or "StatefulSet"
	name                 string // empty: not created yet
	generation, observed int64
	desired              *int32
	replicas, updated    int32
	ready, available     int32
}

func deploymentRollout(d *appsv1.Deployment) rollout {
	return rollout{
		kind: "Deployment", name: d.Name, generation: d.Generation, observed: d.Status.ObservedGeneration,
		desired: d.Spec.Replicas, replicas: d.Status.Replicas, updated: d.Status.UpdatedReplicas,
		ready: d.Status.ReadyReplicas, available: d.Status.AvailableReplicas,
	}
}

func statefulSetRollout(s *appsv1.StatefulSet) rollout {
	return rollout{
		kind: "StatefulSet", name: s.Name, generation: s.Generation, observed: s.Status.ObservedGeneration,
		desired: s.Spec.Replicas, replicas: s.Status.Replicas, updated: s.Status.UpdatedReplicas,
		ready: s.Status.ReadyReplicas, available: s.Status.AvailableReplicas,
	}
}

// rolloutState tells whether a workload has rolled out its current template
// on every replica and all of them are available.
func rolloutState(w rollout) (*v1alpha1.ComponentStatus, bool, string) {
	if w.name == "" {
		return nil, false, w.kind + " not created yet"
	}
	want := int32(1)
	if w.desired != nil {
		want = *w.desired
	}
	st := &v1alpha1.ComponentStatus{Replicas: want, ReadyReplicas: w.ready, UpdatedReplicas: w.updated}
	switch {
	case w.observed < w.generation:
		return st, false, "the " + w.kind + " controller has not seen the latest template yet"
	case w.updated < want:
		return st, false, fmt.Sprintf("%d of %d replicas updated", w.updated, want)
	case w.replicas > w.updated:
		return st, false, fmt.Sprintf("%d old replicas still terminating", w.replicas-w.updated)
	case w.available < want:
		return st, false, fmt.Sprintf("%d of %d replicas available", w.available, want)
	}
	return st, true, fmt.Sprintf("%d of %d replicas available", w.available, want)
}

// redactURL drops any password from a Redis URL before it reaches status.
func redactURL(raw string) string {
	if i := strings.Index(raw, "@"); i >= 0 {
		if j := strings.Index(raw, "://"); j >= 0 && j < i {
			return raw[:j+3] + "***@" + raw[i+1:]
		}
	}
	return raw
}
