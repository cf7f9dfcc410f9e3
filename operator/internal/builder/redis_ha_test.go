package builder

import (
	"strings"
	"testing"

	"github.com/leap-dev/leap/operator/api/v1alpha1"
)

func TestHighlyAvailableRedis(t *testing.T) {
	single := leapTerm()
	if *RedisStatefulSet(single, images).Spec.Replicas != 1 || len(RedisStatefulSet(single, images).Spec.Template.Spec.Containers) != 1 {
		t.Fatal("a Redis without replicas is not one pod of one container")
	}
	if env := portalEnv(single); env["REDIS_TOPOLOGY"] != "" || env["REDIS_URL"] != "redis://y2026-redis.leap.svc:6379" {
		t.Fatalf("single Redis env %v", env)
	}

	term := leapTerm()
	term.Spec.Redis.Replicas = 3
	ss := RedisStatefulSet(term, images)
	if *ss.Spec.Replicas != 3 {
		t.Errorf("replicas %d", *ss.Spec.Replicas)
	}
	pod := ss.Spec.Template.Spec
	if len(pod.Containers) != 2 || *pod.Containers[1].Name != SentinelContainer {
		t.Fatalf("containers %d, want redis and sentinel", len(pod.Containers))
	}
	redis, sentinel := pod.Containers[0], pod.Containers[1]
	script := redis.Command[2]
	for _, want := range []string{"--appendfsync everysec", "--masterauth $REDIS_PASSWORD", "--replicaof \"$MASTER\" 6379",
		"get-master-addr-by-name leap", "--min-replicas-to-write 1"} {
		if !strings.Contains(script, want) {
			t.Errorf("redis script lacks %q:\n%s", want, script)
		}
	}
	if len(redis.Args) != 0 {
		t.Errorf("redis keeps the single pod's args %q beside its script", redis.Args)
	}
	for _, want := range []string{"sentinel monitor leap $MASTER 6379 2", "sentinel auth-pass leap $REDIS_PASSWORD", "--sentinel"} {
		if !strings.Contains(sentinel.Command[2], want) {
			t.Errorf("sentinel script lacks %q", want)
		}
	}
	if *sentinel.Image != *redis.Image || *sentinel.Ports[0].ContainerPort != SentinelPort {
		t.Errorf("sentinel %s port %d", *sentinel.Image, *sentinel.Ports[0].ContainerPort)
	}

	// The services find the master through the Sentinels.
	env := portalEnv(term)
	if env["REDIS_TOPOLOGY"] != string(v1alpha1.RedisSentinel) || env["REDIS_SENTINEL_MASTER"] != "leap" ||
		env["REDIS_URL"] != "redis://y2026-redis.leap.svc:26379" {
		t.Errorf("services' Redis env %v", env)
	}
	svc := Service(term, Redis)
	if len(svc.Spec.Ports) != 2 || *svc.Spec.Ports[1].Port != SentinelPort {
		t.Errorf("Redis Service ports %d", len(svc.Spec.Ports))
	}
	// The services reach the Sentinels; the Redis pods reach one another.
	np := RedisNetworkPolicy(term)
	if len(np.Spec.Ingress) != 2 || len(np.Spec.Ingress[0].Ports) != 2 {
		t.Fatalf("ingress rules %d", len(np.Spec.Ingress))
	}
	if !selects(t, np.Spec.Ingress[1].From[0].PodSelector, ss.Spec.Template.Labels) {
		t.Error("the Redis pods cannot replicate from one another")
	}
	if !selects(t, PodDisruptionBudget(term, Redis).Spec.Selector, ss.Spec.Template.Labels) {
		t.Error("the budget does not cover the Redis pods")
	}
	if len(RedisNetworkPolicy(single).Spec.Ingress) != 1 || len(RedisNetworkPolicy(single).Spec.Ingress[0].Ports) != 1 {
		t.Error("a single Redis opens more than its port to the services")
	}
}
