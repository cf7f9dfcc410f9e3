package controller

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	policyv1 "k8s.io/api/policy/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	appsv1ac "k8s.io/client-go/applyconfigurations/apps/v1"
	corev1ac "k8s.io/client-go/applyconfigurations/core/v1"
	networkingv1ac "k8s.io/client-go/applyconfigurations/networking/v1"
	policyv1ac "k8s.io/client-go/applyconfigurations/policy/v1"
	rbacv1ac "k8s.io/client-go/applyconfigurations/rbac/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/leap-dev/leap/operator/api/v1alpha1"
	build "github.com/leap-dev/leap/operator/internal/builder"
)

func key(t *v1alpha1.LeapTerm, name string) client.ObjectKey {
	return client.ObjectKey{Namespace: t.Namespace, Name: name}
}

// reconcilePolicy writes the policy ConfigMap and returns the policy hash.
func (r *LeapTermReconciler) reconcilePolicy(ctx context.Context, a applier, t *v1alpha1.LeapTerm) (string, error) {
	encoded, hash, err := build.PolicyDocument(t)
	if err != nil {
		return "", err
	}
	_, err = apply(ctx, a, key(t, build.NamesOf(t).PolicyConfigMap()), &corev1.ConfigMap{},
		build.PolicyConfigMap(t, encoded), corev1ac.ExtractConfigMap)
	return hash, err
}

// reconcileSecrets creates the generated Secrets that are absent, and adds to
// one that exists the keys it lacks (the token of a source added in a later
// version). A key that exists is never rewritten: its token is in the hands
// of the system that sends events. It returns the data of every generated
// Secret as it now stands, whose digest rolls the pods that read them.
//
// A Secret made again after the first (someone deleted it) replaces
// credentials people rely on, so it is never silent: a Warning Event and the
// SecretsRegenerated condition say which, when, and what follows. The
// Secret made again carries the moment in its regeneratedAtAnnotation, and
// the condition is read from there on every reconcile: a status patch that
// loses a race cannot lose the record with it.
func (r *LeapTermReconciler) reconcileSecrets(ctx context.Context, t *v1alpha1.LeapTerm) (map[string]map[string][]byte, error) {
	secrets, err := build.GeneratedSecrets(t, r.Random)
	if err != nil {
		return nil, err
	}
	// The Secrets were made before when the condition, set from the first
	// reconcile on, is there, or when a component that reads them exists
	// (made after them): the LeapTerm in the cache may not show its latest
	// status yet when a Secret's deletion arrives, as informers keep no
	// order between kinds.
	madeBefore := meta.FindStatusCondition(t.Status.Conditions, ConditionSecretsRegenerated) != nil ||
		r.componentsRun(ctx, t)
	data := map[string]map[string][]byte{}
	var regenerated []regeneration
	now := r.Clock.Now().UTC().Format(time.RFC3339)
	for _, s := range secrets {
		live := &corev1.Secret{}
		err := r.Client.Get(ctx, client.ObjectKeyFromObject(s), live)
		switch {
		case err == nil:
			if err := addMissingKeys(ctx, r.Client, live, s.Data); err != nil {
				return nil, err
			}
			data[s.Name] = live.Data
			if at, ok := live.Annotations[regeneratedAtAnnotation]; ok {
				regenerated = append(regenerated, regeneration{name: s.Name, at: at})
			}
			continue
		case !apierrors.IsNotFound(err):
			return nil, fmt.Errorf("get Secret %s: %w", s.Name, err)
		}
		again := madeBefore && (s.Name != build.NamesOf(t).RedisAuth() || r.redisRuns(ctx, t))
		if again {
			if s.Annotations == nil {
				s.Annotations = map[string]string{}
			}
			s.Annotations[regeneratedAtAnnotation] = now
		}
		err = r.Client.Create(ctx, s, client.FieldOwner(FieldOwner))
		switch {
		case apierrors.IsAlreadyExists(err):
			// The cache has not shown it yet; its data is not s's.
			return nil, fmt.Errorf("create Secret %s: %w", s.Name, errStaleSecret)
		case err != nil:
			return nil, fmt.Errorf("create Secret %s: %w", s.Name, err)
		}
		data[s.Name] = s.Data
		if again {
			regenerated = append(regenerated, regeneration{name: s.Name, at: now})
			if r.Recorder != nil {
				r.Recorder.Eventf(t, nil, corev1.EventTypeWarning, ReasonSecretRegenerated, "Reconcile", "%s",
					regenerated[len(regenerated)-1].describe(t))
			}
		}
	}
	noteRegenerated(t, regenerated)
	return data, nil
}

// regeneratedAtAnnotation marks a generated Secret that was made again after
// the first, with the moment (RFC 3339). It is the lasting record behind the
// SecretsRegenerated condition.
const regeneratedAtAnnotation = "leap.dev/regenerated-at"

// regeneration is one generated Secret made again, and when.
type regeneration struct{ name, at string }

func (g regeneration) describe(t *v1alpha1.LeapTerm) string {
	return fmt.Sprintf("Secret %s was missing and was regenerated at %s: %s", g.name, g.at, regeneratedMeans(t, g.name))
}

// redisRuns tells whether the Managed Redis StatefulSet exists: a password
// made while it does is a regenerated one; one made for a Redis about to be
// created (a LeapTerm moving from External to Managed) is not.
func (r *LeapTermReconciler) redisRuns(ctx context.Context, t *v1alpha1.LeapTerm) bool {
	err := r.Client.Get(ctx, key(t, build.NamesOf(t).Component(build.Redis)), &appsv1.StatefulSet{})
	return err == nil
}

// componentsRun tells whether any of the services' Deployments exists.
func (r *LeapTermReconciler) componentsRun(ctx context.Context, t *v1alpha1.LeapTerm) bool {
	for _, c := range []string{build.Ingestion, build.Scoring, build.Portal} {
		if r.Client.Get(ctx, key(t, build.NamesOf(t).Component(c)), &appsv1.Deployment{}) == nil {
			return true
		}
	}
	return false
}

// regeneratedMeans says what follows from each generated Secret made anew.
func regeneratedMeans(t *v1alpha1.LeapTerm, name string) string {
	n := build.NamesOf(t)
	switch name {
	case n.IngestTokens():
		return "every source system needs its new token from it; the old tokens no longer work"
	case n.PortalSession():
		return "everyone signed in to the portal must sign in again"
	case n.RedisAuth():
		return "Redis and the services restart together with the new password; the data on Redis's volume is kept"
	}
	return "the pods that read it restart"
}

// noteRegenerated sets the SecretsRegenerated condition from the generated
// Secrets made again (the Events are recorded as they are made).
func noteRegenerated(t *v1alpha1.LeapTerm, regenerated []regeneration) {
	if len(regenerated) == 0 {
		meta.SetStatusCondition(&t.Status.Conditions, metav1.Condition{
			Type: ConditionSecretsRegenerated, Status: metav1.ConditionFalse, Reason: ReasonAsCreated,
			Message: "the generated Secrets are the ones first made for this LeapTerm", ObservedGeneration: t.Generation,
		})
		return
	}
	parts := make([]string, len(regenerated))
	for i, g := range regenerated {
		parts[i] = g.describe(t)
	}
	meta.SetStatusCondition(&t.Status.Conditions, metav1.Condition{
		Type: ConditionSecretsRegenerated, Status: metav1.ConditionTrue, Reason: ReasonSecretRegenerated,
		Message: strings.Join(parts, "; "), ObservedGeneration: t.Generation,
	})
}

// addMissingKeys adds to the Secret live the keys of want that it lacks, and
// writes nothing when it lacks none. The write is a JSON merge patch that
// holds only the missing keys and live's resourceVersion: a merge patch adds
// the map keys it names and leaves every other key as it is, and the
// resourceVersion makes the API server refuse it (409) if the Secret changed
// since live was read. So a key that is there, even one added a moment ago
// that a stale cache has not shown yet, is never replaced by a new random
// value; the refusal comes back as errStaleSecret, to look again.
func addMissingKeys(ctx context.Context, c client.Client, live *corev1.Secret, want map[string][]byte) error {
	original := live.DeepCopy()
	missing := false
	for k, v := range want {
		if _, ok := live.Data[k]; ok {
			continue
		}
		if live.Data == nil {
			live.Data = map[string][]byte{}
		}
		live.Data[k] = v
		missing = true
	}
	if !missing {
		return nil
	}
	patch := client.MergeFromWithOptions(original, client.MergeFromWithOptimisticLock{})
	if err := c.Patch(ctx, live, patch, client.FieldOwner(FieldOwner)); err != nil {
		if apierrors.IsConflict(err) {
			return fmt.Errorf("add keys to Secret %s: %w", live.Name, errStaleSecret)
		}
		return fmt.Errorf("add keys to Secret %s: %w", live.Name, err)
	}
	return nil
}

// errStaleSecret reports keys not added because the Secret changed since it
// was read.
var errStaleSecret = errors.New("the Secret changed since it was read")

// reconcileRedis runs the Managed Redis, or removes it when the LeapTerm
// moved to an External one (its volume is kept). secrets is the data of the
// generated Secrets; nil leaves the StatefulSet as it is, since its password
// is not known.
func (r *LeapTermReconciler) reconcileRedis(ctx context.Context, a applier, t *v1alpha1.LeapTerm, secrets map[string]map[string][]byte) error {
	name := build.NamesOf(t).Component(build.Redis)
	if t.Spec.Redis.Mode == v1alpha1.RedisExternal {
		for _, obj := range []client.Object{&appsv1.StatefulSet{}, &corev1.Service{}, &networkingv1.NetworkPolicy{}} {
			if err := deleteIfPresent(ctx, r.Client, key(t, name), obj); err != nil {
				return err
			}
		}
		return nil
	}
	if err := r.applyService(ctx, a, t, build.Redis); err != nil {
		return err
	}
	if _, err := apply(ctx, a, key(t, name), &networkingv1.NetworkPolicy{}, build.RedisNetworkPolicy(t), networkingv1ac.ExtractNetworkPolicy); err != nil {
		return err
	}
	if secrets == nil {
		return errSecretsUnknown
	}
	desired := build.RedisStatefulSet(t, r.Images)
	desired.Spec.Template.WithAnnotations(map[string]string{
		build.AnnotationSecretsHash: build.SecretsHash(secrets, build.SecretsOf(t, build.Redis)),
	})
	_, err := apply(ctx, a, key(t, name), &appsv1.StatefulSet{}, desired, appsv1ac.ExtractStatefulSet, withoutClaimStatus)
	return err
}

// withoutClaimStatus drops the status the API server writes into a
// StatefulSet's volume claim templates (phase Pending) and records under the
// applier's name, although no one sends it.
func withoutClaimStatus(s *appsv1ac.StatefulSetApplyConfiguration) {
	if s.Spec == nil {
		return
	}
	for i := range s.Spec.VolumeClaimTemplates {
		s.Spec.VolumeClaimTemplates[i].Status = nil
	}
}

// reconcilePortalAccess gives the portal an identity that may patch its own
// LeapTerm and nothing else.
func (r *LeapTermReconciler) reconcilePortalAccess(ctx context.Context, a applier, t *v1alpha1.LeapTerm) error {
	k := key(t, build.NamesOf(t).PortalAccount())
	if _, err := apply(ctx, a, k, &corev1.ServiceAccount{}, build.PortalServiceAccount(t), corev1ac.ExtractServiceAccount); err != nil {
		return err
	}
	if _, err := apply(ctx, a, k, &rbacv1.Role{}, build.PortalRole(t), rbacv1ac.ExtractRole); err != nil {
		return err
	}
	_, err := apply(ctx, a, k, &rbacv1.RoleBinding{}, build.PortalRoleBinding(t), rbacv1ac.ExtractRoleBinding)
	return err
}

// errSecretsUnknown holds back a workload whose Secrets could not be read.
var errSecretsUnknown = errors.New("not updated: the generated Secrets could not be read")

// reconcileComponent runs one service: its Deployment, Service and
// PodDisruptionBudget. secrets is the data of the generated Secrets; nil
// leaves the Deployment as it is.
func (r *LeapTermReconciler) reconcileComponent(ctx context.Context, a applier, t *v1alpha1.LeapTerm, c, hash string, secrets map[string]map[string][]byte) error {
	k := key(t, build.NamesOf(t).Component(c))
	if err := r.applyService(ctx, a, t, c); err != nil {
		return err
	}
	if _, err := apply(ctx, a, k, &policyv1.PodDisruptionBudget{}, build.PodDisruptionBudget(t, c), policyv1ac.ExtractPodDisruptionBudget); err != nil {
		return err
	}
	if secrets == nil {
		return errSecretsUnknown
	}
	desired := build.ServiceDeployment(t, c, r.Images, hash)
	desired.Spec.Template.WithAnnotations(map[string]string{
		build.AnnotationSecretsHash: build.SecretsHash(secrets, build.SecretsOf(t, c)),
	})
	_, err := apply(ctx, a, k, &appsv1.Deployment{}, desired, appsv1ac.ExtractDeployment)
	return err
}

// applyService writes the Service of component c. A Service edited by hand
// can reach a shape that no apply can merge back: a port renumbered keeps
// its name, so the desired port of that name is a duplicate and the API
// server refuses every apply. A Service holds no data and its clients find
// it by name, so it is deleted and made anew (with a Warning Event saying
// why); its cluster IP changes, which DNS follows.
func (r *LeapTermReconciler) applyService(ctx context.Context, a applier, t *v1alpha1.LeapTerm, c string) error {
	k := key(t, build.NamesOf(t).Component(c))
	live := &corev1.Service{}
	_, err := apply(ctx, a, k, live, build.Service(t, c), corev1ac.ExtractService)
	if !apierrors.IsInvalid(err) || live.UID == "" {
		return err
	}
	refused := describe(err)
	uid := live.UID
	if derr := r.Client.Delete(ctx, live, client.Preconditions{UID: &uid}); client.IgnoreNotFound(derr) != nil {
		return errors.Join(err, fmt.Errorf("delete Service %s to recreate it: %w", k, derr))
	}
	if r.Recorder != nil {
		r.Recorder.Eventf(t, nil, corev1.EventTypeWarning, ReasonServiceRecreated, "Reconcile",
			"Service %s could not be patched back (%s); it was deleted and recreated", k.Name, refused)
	}
	_, err = apply(ctx, a, k, &corev1.Service{}, build.Service(t, c), corev1ac.ExtractService)
	return err
}

// reconcileIngress exposes the portal when asked, and stops when no longer asked.
func (r *LeapTermReconciler) reconcileIngress(ctx context.Context, a applier, t *v1alpha1.LeapTerm) error {
	k := key(t, build.NamesOf(t).Component(build.Portal))
	desired := build.PortalIngress(t)
	if desired == nil {
		return deleteIfPresent(ctx, r.Client, k, &networkingv1.Ingress{})
	}
	_, err := apply(ctx, a, k, &networkingv1.Ingress{}, desired, networkingv1ac.ExtractIngress)
	return err
}

// reconcileScoringAccess lets only the portal (and the metrics scrapers the
// LeapTerm names) reach scoring, whose API has no authentication. It runs
// last, so that a peer the API server refuses holds back no workload, only
// this policy, and says why in status.
func (r *LeapTermReconciler) reconcileScoringAccess(ctx context.Context, a applier, t *v1alpha1.LeapTerm) error {
	_, err := apply(ctx, a, key(t, build.NamesOf(t).Component(build.Scoring)), &networkingv1.NetworkPolicy{},
		build.ScoringNetworkPolicy(t), networkingv1ac.ExtractNetworkPolicy)
	return err
}
