// Package controller reconciles LeapTerms into the objects that serve them.
package controller

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strings"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	policyv1 "k8s.io/api/policy/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/utils/clock"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/builder"
	"sigs.k8s.io/controller-runtime/pkg/cache"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/event"
	"sigs.k8s.io/controller-runtime/pkg/handler"
	"sigs.k8s.io/controller-runtime/pkg/log"
	"sigs.k8s.io/controller-runtime/pkg/predicate"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"
	"sigs.k8s.io/controller-runtime/pkg/recorder"
	"sigs.k8s.io/controller-runtime/pkg/source"

	"github.com/leap-dev/leap/operator/api/calendar"
	"github.com/leap-dev/leap/operator/api/v1alpha1"
	build "github.com/leap-dev/leap/operator/internal/builder"
)

// LeapTermReconciler turns each LeapTerm into its policy ConfigMap, Secrets,
// Redis, the three services and what surrounds them, and reports status.
type LeapTermReconciler struct {
	Client   client.Client
	Recorder recorder.EventRecorder
	// Clock tells the time; tests inject a fake to cross calendar boundaries.
	Clock clock.PassiveClock
	// Images are the default component images, following the operator's version.
	Images build.Images
	// Random feeds generated Secrets: crypto/rand outside tests.
	Random io.Reader
	// Instance names this operator (the chart's NAMESPACE/RELEASE): it
	// reconciles the LeapTerms it claims and leaves those another instance
	// claimed. Empty claims nothing and reconciles every LeapTerm it sees.
	Instance string
	// Heartbeat is how often every LeapTerm is looked at, changed or not;
	// zero is HeartbeatInterval.
	Heartbeat time.Duration
}

// +kubebuilder:rbac:groups=leap.dev,resources=leapterms,verbs=get;list;watch;update;patch
// +kubebuilder:rbac:groups=leap.dev,resources=leapterms/status,verbs=get;update;patch
// +kubebuilder:rbac:groups="",resources=configmaps;secrets;services;serviceaccounts,verbs=get;list;watch;create;update;patch;delete
// +kubebuilder:rbac:groups=apps,resources=deployments;statefulsets,verbs=get;list;watch;create;update;patch;delete
// +kubebuilder:rbac:groups=networking.k8s.io,resources=ingresses;networkpolicies,verbs=get;list;watch;create;update;patch;delete
// +kubebuilder:rbac:groups=batch,resources=cronjobs,verbs=get;list;watch;create;update;patch;delete
// +kubebuilder:rbac:groups=batch,resources=jobs,verbs=get;list;watch
// +kubebuilder:rbac:groups=policy,resources=poddisruptionbudgets,verbs=get;list;watch;create;update;patch;delete
// +kubebuilder:rbac:groups=rbac.authorization.k8s.io,resources=roles;rolebindings,verbs=get;list;watch;create;update;patch;delete
// +kubebuilder:rbac:groups=events.k8s.io,resources=events,verbs=create;patch
// +kubebuilder:rbac:groups="",resources=events,verbs=create;patch
// +kubebuilder:rbac:groups=coordination.k8s.io,resources=leases,verbs=get;list;watch;create;update;patch;delete

// Reconcile brings one LeapTerm's objects to their desired state and
// records what it saw in status.
func (r *LeapTermReconciler) Reconcile(ctx context.Context, req ctrl.Request) (ctrl.Result, error) {
	term := &v1alpha1.LeapTerm{}
	if err := r.Client.Get(ctx, req.NamespacedName, term); err != nil {
		return ctrl.Result{}, client.IgnoreNotFound(err)
	}
	if !term.DeletionTimestamp.IsZero() {
		// Owner references let the garbage collector remove the children; the
		// operator holds no finalizer, so nothing here can block deletion.
		return ctrl.Result{}, nil
	}
	if mine, err := r.claim(ctx, term); errors.Is(err, errStaleStatus) {
		return ctrl.Result{RequeueAfter: 100 * time.Millisecond}, nil
	} else if err != nil || !mine {
		return ctrl.Result{}, err
	}

	before := term.Status.DeepCopy()
	if term.Paused() {
		meta.SetStatusCondition(&term.Status.Conditions, metav1.Condition{
			Type: ConditionPaused, Status: metav1.ConditionTrue, Reason: ReasonPausedByAnnotation,
			Message:            v1alpha1.PauseAnnotation + "=disabled: no change is applied until it is removed",
			ObservedGeneration: term.Generation,
		})
		// Ready would claim what nobody checks while paused: it says so,
		// and the figures (replicas, period, hash) stay as last observed.
		meta.SetStatusCondition(&term.Status.Conditions, metav1.Condition{
			Type: ConditionReady, Status: metav1.ConditionFalse, Reason: ReasonPaused,
			Message:            "paused: the operator neither applies changes nor checks the components; the other conditions and figures are as last observed",
			ObservedGeneration: term.Generation,
		})
		r.beat(term)
		if err := r.patchStatus(ctx, term, before); errors.Is(err, errStaleStatus) {
			return ctrl.Result{RequeueAfter: 100 * time.Millisecond}, nil
		} else if err != nil {
			return ctrl.Result{}, err
		}
		return ctrl.Result{}, nil
	}
	meta.SetStatusCondition(&term.Status.Conditions, metav1.Condition{
		Type: ConditionPaused, Status: metav1.ConditionFalse, Reason: ReasonReconcileEnabled,
		Message:            "the operator applies every change; annotate " + v1alpha1.PauseAnnotation + "=disabled to pause it",
		ObservedGeneration: term.Generation,
	})

	result, err := r.reconcile(ctx, term)
	if err != nil {
		meta.SetStatusCondition(&term.Status.Conditions, metav1.Condition{
			Type: ConditionReady, Status: metav1.ConditionFalse, Reason: reasonOf(err),
			Message: readable(err), ObservedGeneration: term.Generation,
		})
	}
	r.beat(term)
	// The status is written whatever happened, and only when it changed.
	if perr := r.patchStatus(ctx, term, before); perr != nil {
		err = errors.Join(err, perr)
	}
	if errors.Is(err, errStaleStatus) {
		// Not a failure: the cache is a moment behind; look again shortly.
		return ctrl.Result{RequeueAfter: 100 * time.Millisecond}, nil
	}
	// A terminal error (a spec that cannot be served) is not retried:
	// the spec must change, which queues a new reconcile.
	return result, err
}

// reconcile runs the phases in order; each writes only what differs. A
// phase that fails stops none of the others: a child the API server refuses
// (a hand-edited Service, a StatefulSet field that cannot change) must not
// leave a widened NetworkPolicy or a stale policy in the pods. The status is
// computed from what runs whatever failed; the failures come back together
// as phaseErrors, and observedGeneration moves only when none failed.
func (r *LeapTermReconciler) reconcile(ctx context.Context, term *v1alpha1.LeapTerm) (ctrl.Result, error) {
	if err := termsOverlap(term.Spec.Terms); err != nil {
		return ctrl.Result{}, reconcile.TerminalError(err)
	}
	cal, err := calendar.New(term.Spec.Timezone, term.Spec.Terms, term.Spec.Breaks)
	if err != nil {
		return ctrl.Result{}, reconcile.TerminalError(err)
	}
	a := applier{client: r.Client}
	var failed phaseErrors
	run := func(phase string, err error) {
		if err != nil {
			failed = append(failed, phaseError{phase: phase, err: err})
		}
	}

	// The Deployments roll to the new policy's hash only once the
	// ConfigMap holds it; until then status keeps the hash in force.
	hash, err := r.reconcilePolicy(ctx, a, term)
	run(phasePolicy, err)
	policyWritten := err == nil
	if !policyWritten {
		hash = term.Status.PolicyHash
	}
	// The workloads carry a digest of the Secrets they read; while the
	// Secrets are unknown they stay as they are.
	var requeue time.Duration
	secrets, err := r.reconcileSecrets(ctx, term)
	stale := errors.Is(err, errStaleSecret)
	if stale {
		// Not a failure: the cache is a moment behind a Secret; look again
		// shortly rather than report the LeapTerm not Ready.
		log.FromContext(ctx).V(1).Info("Secret changed while adding keys; retrying", "reason", err.Error())
		requeue = 100 * time.Millisecond
	} else {
		run(phaseSecrets, err)
	}
	var overlapEnds time.Duration
	if err == nil {
		overlapEnds, err = r.rotateIngestTokens(ctx, term, secrets)
		if errors.Is(err, errStaleSecret) {
			requeue = 100 * time.Millisecond
		} else {
			run(phaseSecrets, err)
		}
	}
	// held is a workload phase's error, unless it is only waiting for the
	// cache to show a Secret.
	held := func(err error) error {
		if stale && errors.Is(err, errSecretsUnknown) {
			return nil
		}
		return err
	}
	run(phaseRedis, held(r.reconcileRedis(ctx, a, term, secrets)))
	run(phaseRedis, r.reconcileRedisDisruption(ctx, a, term))
	run(phaseBackup, r.reconcileBackup(ctx, a, term))
	run(phasePortalAccess, r.reconcilePortalAccess(ctx, a, term))
	for _, c := range build.Services {
		if !policyWritten {
			run(c, errors.New("not updated: the policy ConfigMap could not be written"))
			continue
		}
		run(c, held(r.reconcileComponent(ctx, a, term, c, hash, secrets)))
	}
	var smtpAgain time.Duration
	if policyWritten {
		again, err := r.reconcileNotifications(ctx, a, term, hash, secrets)
		smtpAgain = again
		run(phaseNotifications, held(err))
	}
	run(phaseIngress, r.reconcileIngress(ctx, a, term))
	run(phaseScoringAccess, r.reconcileScoringAccess(ctx, a, term))

	run(phaseStatus, r.updateStatus(ctx, term, hash))
	next := r.updatePeriod(term, cal)
	if len(failed) > 0 {
		return ctrl.Result{}, failed
	}
	if requeue > 0 {
		return ctrl.Result{RequeueAfter: requeue}, nil
	}
	term.Status.ObservedGeneration = term.Generation
	if overlapEnds > 0 && (next == 0 || overlapEnds < next) {
		next = overlapEnds
	}
	if smtpAgain > 0 && (next == 0 || smtpAgain < next) {
		next = smtpAgain
	}
	return ctrl.Result{RequeueAfter: next}, nil
}

// termsOverlap names the first two terms that overlap. The API server
// refuses such a LeapTerm ("terms must not overlap") but cannot say which:
// a CEL message that picks the pair needs filter or map, whose lists the
// CRD cost estimator takes as unbounded (even on twelve terms, over a
// hundred times the budget). A LeapTerm stored before the rule, or by a
// CRD without it, reaches the operator, whose status names them.
func termsOverlap(terms []v1alpha1.DateRange) error {
	for i, a := range terms {
		for _, b := range terms[i+1:] {
			if a.Name != b.Name && a.Start <= b.End && b.Start <= a.End {
				return fmt.Errorf("terms must not overlap: %s (%s to %s) and %s (%s to %s) do", a.Name, a.Start, a.End, b.Name, b.Start, b.End)
			}
		}
	}
	return nil
}

// isFailure tells a reason that something is wrong (a spec that cannot be
// served, a phase the API server refused) from one of progress.
func isFailure(reason string) bool {
	return reason == ReasonInvalidCalendar || reason == ReasonReconcileError || strings.HasSuffix(reason, "Failed")
}

func reasonOf(err error) string {
	// The one terminal error is a calendar the API server accepted but
	// that cannot be served, such as an unknown timezone.
	if errors.Is(err, reconcile.TerminalError(nil)) {
		return ReasonInvalidCalendar
	}
	var failed phaseErrors
	if errors.As(err, &failed) && len(failed) > 0 {
		return failed[0].reason()
	}
	return ReasonReconcileError
}

// updatePeriod sets status.period and returns how long until it next changes.
func (r *LeapTermReconciler) updatePeriod(term *v1alpha1.LeapTerm, cal *calendar.Calendar) time.Duration {
	now := r.Clock.Now()
	place, next, ok := cal.At(now)
	term.Status.Period = place.Period
	term.Status.PeriodName = place.Name
	if !ok {
		// No boundary ahead: the last term is over, and so is the year.
		term.Status.Period = v1alpha1.PeriodEnded
		term.Status.NextPeriodChange = nil
		return 0
	}
	if term.Status.NextPeriodChange == nil || !term.Status.NextPeriodChange.Time.Equal(next) {
		term.Status.NextPeriodChange = &metav1.Time{Time: next}
	}
	// A second late is better than a second early: the next reconcile must
	// land on the far side of the boundary.
	return next.Sub(now) + time.Second
}

// patchStatus writes the status when it differs from before, and records an
// Event for each condition that changed state.
func (r *LeapTermReconciler) patchStatus(ctx context.Context, term *v1alpha1.LeapTerm, before *v1alpha1.LeapTermStatus) error {
	if equality.Semantic.DeepEqual(*before, term.Status) {
		return nil
	}
	patched := term.DeepCopy()
	original := term.DeepCopy()
	original.Status = *before
	// The patch carries the resourceVersion the status was computed from:
	// a reconcile that started from a LeapTerm the cache had not yet
	// updated must not overwrite newer status (nor announce its
	// transitions twice). It is retried on fresh data instead.
	opts := client.MergeFromWithOptions(original, client.MergeFromWithOptimisticLock{})
	if err := r.Client.Status().Patch(ctx, patched, opts); err != nil {
		switch {
		case apierrors.IsNotFound(err):
			return nil
		case apierrors.IsConflict(err):
			return errStaleStatus
		}
		return fmt.Errorf("patch status of LeapTerm %s/%s: %w", term.Namespace, term.Name, err)
	}
	r.recordTransitions(term, before)
	return nil
}

// errStaleStatus reports a status computed from an out-of-date LeapTerm.
var errStaleStatus = errors.New("status computed from a stale LeapTerm")

// recordTransitions emits one Event per condition whose status changed, one
// when the portal's sign-in comes or goes, and one when the period changed:
// events on transitions, never on every loop.
func (r *LeapTermReconciler) recordTransitions(term *v1alpha1.LeapTerm, before *v1alpha1.LeapTermStatus) {
	if r.Recorder == nil {
		return
	}
	for _, c := range term.Status.Conditions {
		old := meta.FindStatusCondition(before.Conditions, c.Type)
		if old != nil && old.Status == c.Status {
			continue
		}
		if old == nil && c.Type == ConditionPaused && c.Status == metav1.ConditionFalse {
			continue // not being paused is no news
		}
		if c.Type == ConditionSecretsRegenerated {
			continue // reconcileSecrets records a Warning for each Secret
		}
		// Losing a condition is a warning, and so is a failure; not having
		// it yet is not.
		kind := corev1.EventTypeNormal
		lost := old != nil && old.Status == metav1.ConditionTrue && c.Status == metav1.ConditionFalse
		if c.Type != ConditionPaused && c.Status == metav1.ConditionFalse && (lost || isFailure(c.Reason)) {
			kind = corev1.EventTypeWarning
		}
		r.Recorder.Eventf(term, nil, kind, c.Reason, "Reconcile", "%s is %s: %s", c.Type, c.Status, c.Message)
	}
	// PortalReady keeps the rollout's status when nobody can sign in, so
	// the condition loop above does not see this change: announce it here.
	switch was, is := reportsNoSignIn(before), reportsNoSignIn(&term.Status); {
	case is && !was:
		r.Recorder.Eventf(term, nil, corev1.EventTypeWarning, ReasonNoSignIn, "Reconcile",
			"no sign-in configured for the portal; %s", noSignInMessage)
	case was && !is:
		r.Recorder.Eventf(term, nil, corev1.EventTypeNormal, ReasonSignInConfigured, "Reconcile",
			"the portal has a way to sign in now")
	}
	if before.Period != term.Status.Period && term.Status.Period != "" {
		r.Recorder.Eventf(term, nil, corev1.EventTypeNormal, "PeriodChanged", "Reconcile",
			"the calendar is now in %s %s", term.Status.Period, term.Status.PeriodName)
	}
}

// CacheOptions restricts the operator's caches of child kinds to objects it
// manages, so that a cluster's other Secrets and ConfigMaps are neither
// watched nor held in memory.
func CacheOptions() cache.Options {
	managed := labels.SelectorFromSet(labels.Set{build.LabelManagedBy: build.ManagedBy})
	byObject := map[client.Object]cache.ByObject{}
	for _, obj := range ownedKinds() {
		byObject[obj] = cache.ByObject{Label: managed}
	}
	byObject[&batchv1.Job{}] = cache.ByObject{Label: managed}
	return cache.Options{ByObject: byObject}
}

func ownedKinds() []client.Object {
	return []client.Object{
		&corev1.ConfigMap{}, &corev1.Secret{}, &corev1.Service{}, &corev1.ServiceAccount{},
		&appsv1.Deployment{}, &appsv1.StatefulSet{}, &batchv1.CronJob{},
		&networkingv1.Ingress{}, &networkingv1.NetworkPolicy{}, &policyv1.PodDisruptionBudget{},
		&rbacv1.Role{}, &rbacv1.RoleBinding{},
	}
}

// SetupWithManager watches LeapTerms and everything they own, and looks at
// every LeapTerm once per heartbeat.
func (r *LeapTermReconciler) SetupWithManager(mgr ctrl.Manager) error {
	beats := make(chan event.TypedGenericEvent[*v1alpha1.LeapTerm])
	if err := mgr.Add(heartbeat{reader: mgr.GetClient(), interval: r.heartbeatInterval(), out: beats}); err != nil {
		return err
	}
	b := ctrl.NewControllerManagedBy(mgr).
		For(&v1alpha1.LeapTerm{}, builder.WithPredicates(predicate.Or(
			predicate.GenerationChangedPredicate{}, predicate.AnnotationChangedPredicate{}))).
		WatchesRawSource(source.Channel(beats, &handler.TypedEnqueueRequestForObject[*v1alpha1.LeapTerm]{})).
		Named("leapterm")
	for _, obj := range ownedKinds() {
		b = b.Owns(obj)
	}
	b = b.Watches(&batchv1.Job{}, handler.EnqueueRequestsFromMapFunc(backupJobOwner))
	return b.Complete(r)
}
