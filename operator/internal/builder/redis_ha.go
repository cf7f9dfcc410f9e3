package builder

import (
	"fmt"
	"net/url"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	"k8s.io/apimachinery/pkg/util/intstr"
	appsv1ac "k8s.io/client-go/applyconfigurations/apps/v1"
	corev1ac "k8s.io/client-go/applyconfigurations/core/v1"
	metav1ac "k8s.io/client-go/applyconfigurations/meta/v1"
	networkingv1ac "k8s.io/client-go/applyconfigurations/networking/v1"

	"github.com/leap-dev/leap/operator/api/v1alpha1"
)

// Sentinel of the highly available Managed Redis.
const (
	// SentinelPort is where each Redis pod's Sentinel listens, and the
	// port of the Redis Service that the services ask for the master.
	SentinelPort = 26379
	// SentinelMaster is the name the Sentinels know the master by.
	SentinelMaster = "leap"
	// SentinelContainer is the Sentinel beside each Redis.
	SentinelContainer = "sentinel"
	sentinelPortName  = "sentinel"
	sentinelVolume    = "sentinel"
	// SentinelQuorum Sentinels must agree that the master is down; a
	// majority of them must then elect the one that promotes a replica.
	SentinelQuorum = 2
)

// RedisHA reports whether t runs its Managed Redis highly available.
func RedisHA(t *v1alpha1.LeapTerm) bool {
	return t.Spec.Redis.Mode != v1alpha1.RedisExternal && t.Spec.Redis.Replicas >= 3
}

func redisReplicas(t *v1alpha1.LeapTerm) int32 {
	if RedisHA(t) {
		return t.Spec.Redis.Replicas
	}
	return 1
}

// sentinelURL is how the services reach the Sentinels: the Redis Service's
// Sentinel port, from which the client learns the master and the other
// Sentinels.
func sentinelURL(t *v1alpha1.LeapTerm) string {
	u := url.URL{Scheme: "redis", Host: fmt.Sprintf("%s.%s.svc:%d", NamesOf(t).Component(Redis), t.Namespace, SentinelPort)}
	return u.String()
}

// askMaster is a shell line that sets MASTER to the master's address as
// the Sentinels behind the Service know it, or empty.
func askMaster(t *v1alpha1.LeapTerm) string {
	return fmt.Sprintf(`MASTER=$(redis-cli -h %s.%s.svc -p %d --raw sentinel get-master-addr-by-name %s 2>/dev/null | head -n 1)`,
		NamesOf(t).Component(Redis), t.Namespace, SentinelPort, SentinelMaster)
}

// redisHAScript starts a Redis pod of the StatefulSet as the master or as
// a replica. The Sentinels decide who the master is: a pod asks them first.
// Only when no Sentinel answers (the first start of the set, or all pods
// down at once) does pod 0 start as the master, and the others wait for it.
func redisHAScript(t *v1alpha1.LeapTerm) string {
	return `set -eu
` + askMaster(t) + `
common="--appendonly yes --appendfsync everysec --dir /data --requirepass $REDIS_PASSWORD --masterauth $REDIS_PASSWORD --replica-announce-ip $POD_IP --min-replicas-to-write 1 --min-replicas-max-lag 10"
if [ -n "$MASTER" ] && [ "$MASTER" != "$POD_IP" ]; then
  exec redis-server $common --replicaof "$MASTER" ` + fmt.Sprint(RedisPort) + `
fi
if [ -z "$MASTER" ] && [ "${HOSTNAME##*-}" != "0" ]; then
  echo "no Sentinel knows the master yet; pod 0 starts first" >&2
  exit 1
fi
exec redis-server $common
`
}

// sentinelScript writes a Sentinel's configuration (Sentinel rewrites its
// file, so it lives in an emptyDir) monitoring the master the Sentinels
// already know, or this pod's Redis on the first start of pod 0.
func sentinelScript(t *v1alpha1.LeapTerm) string {
	return `set -eu
` + askMaster(t) + `
if [ -z "$MASTER" ]; then
  if [ "${HOSTNAME##*-}" != "0" ]; then echo "no Sentinel knows the master yet" >&2; exit 1; fi
  MASTER=$POD_IP
fi
cat > /sentinel/sentinel.conf <<EOF
port ` + fmt.Sprint(SentinelPort) + `
sentinel announce-ip $POD_IP
sentinel monitor ` + SentinelMaster + ` $MASTER ` + fmt.Sprint(RedisPort) + ` ` + fmt.Sprint(SentinelQuorum) + `
sentinel auth-pass ` + SentinelMaster + ` $REDIS_PASSWORD
sentinel down-after-milliseconds ` + SentinelMaster + ` 5000
sentinel failover-timeout ` + SentinelMaster + ` 60000
sentinel parallel-syncs ` + SentinelMaster + ` 1
EOF
exec redis-server /sentinel/sentinel.conf --sentinel
`
}

// withSentinel makes the Redis StatefulSet of t highly available: each pod
// runs Redis (master or replica, as the Sentinels say) and a Sentinel.
func withSentinel(t *v1alpha1.LeapTerm, image string, ss *appsv1ac.StatefulSetApplyConfiguration) {
	if !RedisHA(t) {
		return
	}
	n := NamesOf(t)
	pod := ss.Spec.Template.Spec
	podIP := corev1ac.EnvVar().WithName("POD_IP").WithValueFrom(corev1ac.EnvVarSource().WithFieldRef(
		corev1ac.ObjectFieldSelector().WithAPIVersion("v1").WithFieldPath("status.podIP")))
	password := corev1ac.EnvVar().WithName(EnvRedisPassword).WithValueFrom(corev1ac.EnvVarSource().WithSecretKeyRef(
		corev1ac.SecretKeySelector().WithName(n.RedisAuth()).WithKey(RedisPasswordKey)))
	redis := &pod.Containers[0]
	redis.Args = nil
	redis.WithCommand("sh", "-c", redisHAScript(t)).WithEnv(podIP)
	pod.WithVolumes(corev1ac.Volume().WithName(sentinelVolume).WithEmptyDir(corev1ac.EmptyDirVolumeSource().
		WithSizeLimit(resource.MustParse("16Mi")))).
		WithContainers(corev1ac.Container().
			WithName(SentinelContainer).
			WithImage(image).
			WithImagePullPolicy(corev1.PullIfNotPresent).
			WithCommand("sh", "-c", sentinelScript(t)).
			WithEnv(podIP, password).
			WithPorts(corev1ac.ContainerPort().WithName(sentinelPortName).WithContainerPort(SentinelPort).WithProtocol(corev1.ProtocolTCP)).
			WithVolumeMounts(corev1ac.VolumeMount().WithName(sentinelVolume).WithMountPath("/sentinel")).
			WithResources(defaultResources("20m", "32Mi", "128Mi")).
			WithSecurityContext(restrictedContainer()).
			WithReadinessProbe(corev1ac.Probe().
				WithExec(corev1ac.ExecAction().WithCommand("sh", "-c", fmt.Sprintf("redis-cli -p %d ping | grep -q PONG", SentinelPort))).
				WithPeriodSeconds(10).WithTimeoutSeconds(2).WithFailureThreshold(3)))
}

// sentinelServicePort is the Redis Service's port for the Sentinels.
func sentinelServicePort() *corev1ac.ServicePortApplyConfiguration {
	return corev1ac.ServicePort().WithName(sentinelPortName).WithPort(SentinelPort).
		WithTargetPort(intstr.FromString(sentinelPortName)).WithProtocol(corev1.ProtocolTCP)
}

// redisPorts are the ports of the Redis pods that the services reach: Redis,
// and the Sentinels when there are any.
func redisPorts(t *v1alpha1.LeapTerm) []*networkingv1ac.NetworkPolicyPortApplyConfiguration {
	ports := []*networkingv1ac.NetworkPolicyPortApplyConfiguration{
		networkingv1ac.NetworkPolicyPort().WithProtocol(corev1.ProtocolTCP).WithPort(intstr.FromInt32(RedisPort)),
	}
	if RedisHA(t) {
		ports = append(ports, networkingv1ac.NetworkPolicyPort().WithProtocol(corev1.ProtocolTCP).WithPort(intstr.FromInt32(SentinelPort)))
	}
	return ports
}

// redisPeers lets the Redis pods of a highly available Redis reach one
// another: replication, and the Sentinels' talk.
func redisPeers(t *v1alpha1.LeapTerm) []*networkingv1ac.NetworkPolicyIngressRuleApplyConfiguration {
	if !RedisHA(t) {
		return nil
	}
	return []*networkingv1ac.NetworkPolicyIngressRuleApplyConfiguration{networkingv1ac.NetworkPolicyIngressRule().
		WithFrom(networkingv1ac.NetworkPolicyPeer().WithPodSelector(metav1ac.LabelSelector().WithMatchLabels(SelectorLabels(t, Redis)))).
		WithPorts(redisPorts(t)...)}
}
