package builder

import (
	"strconv"
	"strings"

	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	batchv1ac "k8s.io/client-go/applyconfigurations/batch/v1"
	corev1ac "k8s.io/client-go/applyconfigurations/core/v1"

	"github.com/leap-dev/leap/operator/api/v1alpha1"
)

// RedisBackup is the component of the backup Jobs: the CronJob's name is
// NAME-redis-backup, and its pods carry the component label, which lets
// them through Redis's NetworkPolicy.
const RedisBackup = "redis-backup"

// BackupJobLabel is the label the Job controller puts on a Job's pods; the
// backup names its snapshot after it, so that the operator can read the
// snapshot's name back from the Job.
const BackupJobLabel = "batch.kubernetes.io/job-name"

// restore's init containers and volume in the Redis pod.
const (
	restoreToolsVolume = "backup-tools"
	restoreToolsDir    = "/backup-tools"
	// RestoreInstallContainer copies leap-backup into the tools volume;
	// RestoreContainer runs it in the Redis image, beside redis-server.
	RestoreInstallContainer = "restore-install"
	RestoreContainer        = "restore"
)

// redisClients are the components whose pods may reach the Managed Redis:
// the services, and the backup Jobs while spec.redis.backup asks for them.
func redisClients(t *v1alpha1.LeapTerm) []string {
	c := append([]string(nil), Services...)
	if t.Spec.Redis.Backup != nil {
		c = append(c, RedisBackup)
	}
	return c
}

// BackupPrefix is where the snapshots of t's Redis go in the bucket, ending
// in "/": spec.redis.backup.prefix, or NAMESPACE/NAME/.
func BackupPrefix(t *v1alpha1.LeapTerm) string {
	p := t.Namespace + "/" + t.Name + "/"
	if b := t.Spec.Redis.Backup; b != nil && b.Prefix != "" {
		p = b.Prefix
		if !strings.HasSuffix(p, "/") {
			p += "/"
		}
	}
	return p
}

// BackupObject is the name of the snapshot that backup Job job uploads
// (leap-backup names it so from the Job's label).
func BackupObject(t *v1alpha1.LeapTerm, job string) string {
	return BackupPrefix(t) + job + ".rdb"
}

// s3Args are leap-backup's flags for a bucket.
func s3Args(b v1alpha1.S3Bucket) []string {
	args := []string{"--endpoint", b.Endpoint, "--bucket", b.Bucket}
	if b.Region != "" {
		args = append(args, "--region", b.Region)
	}
	return args
}

// s3Env reads the bucket's credentials from its Secret.
func s3Env(b v1alpha1.S3Bucket) []*corev1ac.EnvVarApplyConfiguration {
	ref := func(env, key string) *corev1ac.EnvVarApplyConfiguration {
		return corev1ac.EnvVar().WithName(env).WithValueFrom(corev1ac.EnvVarSource().WithSecretKeyRef(
			corev1ac.SecretKeySelector().WithName(b.CredentialsSecret).WithKey(key)))
	}
	return []*corev1ac.EnvVarApplyConfiguration{
		ref("AWS_ACCESS_KEY_ID", v1alpha1.S3AccessKeyIDKey),
		ref("AWS_SECRET_ACCESS_KEY", v1alpha1.S3SecretAccessKeyKey),
	}
}

// BackupCronJob runs leap-backup on spec.redis.backup's schedule: each Job
// takes an RDB snapshot of the Managed Redis over the network (a replica's
// first sync, so Redis keeps serving and its volume is not shared), uploads
// it, and deletes the oldest snapshots beyond the retention. Jobs never
// overlap; a failed one is retried twice, then reported by the operator.
func BackupCronJob(t *v1alpha1.LeapTerm, images Images) *batchv1ac.CronJobApplyConfiguration {
	n := NamesOf(t)
	b := t.Spec.Redis.Backup
	retention := b.Retention
	if retention < 1 {
		retention = 7
	}
	args := append([]string{"backup",
		"--redis-addr", n.Component(Redis) + "." + t.Namespace + ".svc:" + strconv.Itoa(RedisPort),
		"--prefix", BackupPrefix(t),
		"--retention", strconv.Itoa(int(retention))},
		s3Args(b.Destination)...)
	env := append([]*corev1ac.EnvVarApplyConfiguration{
		corev1ac.EnvVar().WithName(EnvRedisPassword).WithValueFrom(corev1ac.EnvVarSource().WithSecretKeyRef(
			corev1ac.SecretKeySelector().WithName(n.RedisAuth()).WithKey(RedisPasswordKey))),
		// apiVersion as the API server defaults it, or every reconcile
		// would find the CronJob changed and write it again.
		corev1ac.EnvVar().WithName("JOB_NAME").WithValueFrom(corev1ac.EnvVarSource().WithFieldRef(
			corev1ac.ObjectFieldSelector().WithAPIVersion("v1").WithFieldPath("metadata.labels['" + BackupJobLabel + "']"))),
	}, s3Env(b.Destination)...)
	spec := batchv1ac.CronJobSpec().
		WithSchedule(b.Schedule).
		WithConcurrencyPolicy(batchv1.ForbidConcurrent).
		WithSuspend(b.Suspend).
		WithStartingDeadlineSeconds(3600).
		WithSuccessfulJobsHistoryLimit(3).
		WithFailedJobsHistoryLimit(3).
		WithJobTemplate(batchv1ac.JobTemplateSpec().
			WithLabels(Labels(t, RedisBackup)).
			WithSpec(batchv1ac.JobSpec().
				WithBackoffLimit(2).
				WithActiveDeadlineSeconds(3600).
				WithTemplate(corev1ac.PodTemplateSpec().
					WithLabels(Labels(t, RedisBackup)).
					WithSpec(corev1ac.PodSpec().
						WithRestartPolicy(corev1.RestartPolicyNever).
						WithAutomountServiceAccountToken(false).
						WithEnableServiceLinks(false).
						WithSecurityContext(restrictedPod(serviceUID)).
						WithContainers(corev1ac.Container().
							WithName(RedisBackup).
							WithImage(images.Backup).
							WithImagePullPolicy(corev1.PullIfNotPresent).
							WithArgs(args...).
							WithEnv(env...).
							WithTerminationMessagePolicy(corev1.TerminationMessageFallbackToLogsOnError).
							WithResources(defaultResources("50m", "64Mi", "256Mi")).
							WithSecurityContext(restrictedContainer()))))))
	if t.Spec.Timezone != "" {
		spec.WithTimeZone(t.Spec.Timezone)
	}
	return batchv1ac.CronJob(n.Component(RedisBackup), t.Namespace).
		WithLabels(Labels(t, RedisBackup)).
		WithOwnerReferences(ownerReference(t)).
		WithSpec(spec)
}

// withRestore adds to the Redis pod the init containers that fill an empty
// volume from spec.redis.restoreFrom before Redis first starts: one copies
// leap-backup out of its image, the next runs it in the Redis image, whose
// redis-server loads the snapshot and writes it out as the append-only
// files the Redis container then starts from. A volume that holds data is
// left as it is (leap-backup restore checks), so a restarted pod never
// loses what it wrote since.
func withRestore(t *v1alpha1.LeapTerm, images Images, redisImage string, pod *corev1ac.PodSpecApplyConfiguration) {
	r := t.Spec.Redis.RestoreFrom
	if r == nil {
		return
	}
	tools := corev1ac.VolumeMount().WithName(restoreToolsVolume).WithMountPath(restoreToolsDir)
	args := append([]string{"restore", "--dir", "/data", "--object", r.Object, "--redis-server", "redis-server"}, s3Args(r.S3Bucket)...)
	pod.WithVolumes(corev1ac.Volume().WithName(restoreToolsVolume).WithEmptyDir(corev1ac.EmptyDirVolumeSource().
		WithSizeLimit(resource.MustParse("256Mi")))).
		WithInitContainers(
			corev1ac.Container().
				WithName(RestoreInstallContainer).
				WithImage(images.Backup).
				WithImagePullPolicy(corev1.PullIfNotPresent).
				WithArgs("install", restoreToolsDir+"/leap-backup").
				WithVolumeMounts(tools).
				WithResources(defaultResources("10m", "32Mi", "64Mi")).
				WithSecurityContext(restrictedContainer()),
			corev1ac.Container().
				WithName(RestoreContainer).
				WithImage(redisImage).
				WithImagePullPolicy(corev1.PullIfNotPresent).
				WithCommand(restoreToolsDir+"/leap-backup").
				WithArgs(args...).
				WithEnv(s3Env(r.S3Bucket)...).
				WithVolumeMounts(tools, corev1ac.VolumeMount().WithName("data").WithMountPath("/data")).
				WithTerminationMessagePolicy(corev1.TerminationMessageFallbackToLogsOnError).
				WithResources(resources(t.Spec.Redis.Resources, defaultResources("100m", "256Mi", "1Gi"))).
				WithSecurityContext(restrictedContainer()))
}
