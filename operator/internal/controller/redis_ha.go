package controller

import (
	"context"

	policyv1 "k8s.io/api/policy/v1"
	policyv1ac "k8s.io/client-go/applyconfigurations/policy/v1"

	"github.com/leap-dev/leap/operator/api/v1alpha1"
	build "github.com/leap-dev/leap/operator/internal/builder"
)

// reconcileRedisDisruption keeps all but one pod of a highly available
// Redis running through node drains, so that a drain never takes the
// master and the replica that would replace it at once. A single Redis has
// no budget: it would block every drain of its node.
func (r *LeapTermReconciler) reconcileRedisDisruption(ctx context.Context, a applier, t *v1alpha1.LeapTerm) error {
	k := key(t, build.NamesOf(t).Component(build.Redis))
	if !build.RedisHA(t) {
		return deleteIfPresent(ctx, r.Client, k, &policyv1.PodDisruptionBudget{})
	}
	_, err := apply(ctx, a, k, &policyv1.PodDisruptionBudget{}, build.PodDisruptionBudget(t, build.Redis), policyv1ac.ExtractPodDisruptionBudget)
	return err
}
