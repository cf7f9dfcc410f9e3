package controller

import (
	"strings"
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"
)

// TestRolloutStateReadsDeploymentsAndStatefulSetsAlike holds the one
// rollout rule to both kinds: every replica updated, none of the old
// template left, all available.
func TestRolloutStateReadsDeploymentsAndStatefulSetsAlike(t *testing.T) {
	meta := metav1.ObjectMeta{Name: "w", Generation: 2}
	cases := []struct {
		name                         string
		observed                     int64
		replicas, updated, available int32
		ok                           bool
		msg                          string
	}{
		{"unseen template", 1, 2, 2, 2, false, "controller has not seen the latest template yet"},
		{"half updated", 2, 2, 1, 2, false, "1 of 2 replicas updated"},
		{"old replica left", 2, 3, 2, 2, false, "1 old replicas still terminating"},
		{"not available", 2, 2, 2, 1, false, "1 of 2 replicas available"},
		{"rolled out", 2, 2, 2, 2, true, "2 of 2 replicas available"},
	}
	for _, c := range cases {
		d := &appsv1.Deployment{ObjectMeta: meta, Spec: appsv1.DeploymentSpec{Replicas: ptr.To[int32](2)}, Status: appsv1.DeploymentStatus{
			ObservedGeneration: c.observed, Replicas: c.replicas, UpdatedReplicas: c.updated, ReadyReplicas: c.available, AvailableReplicas: c.available,
		}}
		s := &appsv1.StatefulSet{ObjectMeta: meta, Spec: appsv1.StatefulSetSpec{Replicas: ptr.To[int32](2)}, Status: appsv1.StatefulSetStatus{
			ObservedGeneration: c.observed, Replicas: c.replicas, UpdatedReplicas: c.updated, ReadyReplicas: c.available, AvailableReplicas: c.available,
		}}
		for kind, w := range map[string]rollout{"Deployment": deploymentRollout(d), "StatefulSet": statefulSetRollout(s)} {
			st, ok, msg := rolloutState(w)
			if ok != c.ok || !strings.Contains(msg, c.msg) || st.Replicas != 2 || st.UpdatedReplicas != c.updated {
				t.Errorf("%s, %s: got %v %q %+v, want %v %q", kind, c.name, ok, msg, st, c.ok, c.msg)
			}
		}
	}
	if _, ok, msg := rolloutState(statefulSetRollout(&appsv1.StatefulSet{})); ok || msg != "StatefulSet not created yet" {
		t.Errorf("absent StatefulSet: %v %q", ok, msg)
	}
}
