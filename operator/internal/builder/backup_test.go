package builder

import (
	"slices"
	"testing"

	batchv1 "k8s.io/api/batch/v1"

	"github.com/leap-dev/leap/operator/api/v1alpha1"
)

func backedUp() *v1alpha1.LeapTerm {
	term := leapTerm()
	term.Spec.Redis.Backup = &v1alpha1.RedisBackup{
		Schedule:  "0 3 * * *",
		Retention: 14,
		Destination: v1alpha1.S3Bucket{
			Endpoint: "https://s3.example.ac.uk", Bucket: "leap-backups", Region: "eu-west-2", CredentialsSecret: "leap-s3",
		},
	}
	return term
}

func TestBackupCronJob(t *testing.T) {
	term := backedUp()
	cj := BackupCronJob(term, images)
	if *cj.Name != "y2026-redis-backup" || *cj.Namespace != "leap" || *cj.OwnerReferences[0].UID != "uid-1" {
		t.Fatalf("CronJob %s/%s owned by %+v", *cj.Namespace, *cj.Name, cj.OwnerReferences)
	}
	s := cj.Spec
	if *s.Schedule != "0 3 * * *" || *s.TimeZone != "Europe/London" {
		t.Errorf("schedule %q in %q, want the spec's in the LeapTerm's timezone", *s.Schedule, *s.TimeZone)
	}
	if *s.ConcurrencyPolicy != batchv1.ForbidConcurrent || *s.Suspend {
		t.Errorf("concurrency %s, suspend %v", *s.ConcurrencyPolicy, *s.Suspend)
	}
	pod := s.JobTemplate.Spec.Template.Spec
	c := pod.Containers[0]
	if *c.Image != "registry.test/leap-backup:v1.2.3" {
		t.Errorf("image %s does not follow the operator's version", *c.Image)
	}
	want := []string{"backup", "--redis-addr", "y2026-redis.leap.svc:6379", "--prefix", "leap/y2026/", "--retention", "14",
		"--endpoint", "https://s3.example.ac.uk", "--bucket", "leap-backups", "--region", "eu-west-2"}
	if !slices.Equal(c.Args, want) {
		t.Errorf("args %q\nwant %q", c.Args, want)
	}
	env := map[string]string{}
	for _, e := range c.Env {
		switch {
		case e.Value != nil:
			t.Errorf("env %s holds a value in plain text", *e.Name)
		case e.ValueFrom.SecretKeyRef != nil:
			env[*e.Name] = *e.ValueFrom.SecretKeyRef.Name + "/" + *e.ValueFrom.SecretKeyRef.Key
		case e.ValueFrom.FieldRef != nil:
			env[*e.Name] = *e.ValueFrom.FieldRef.FieldPath
		}
	}
	for k, v := range map[string]string{
		"REDIS_PASSWORD":        "y2026-redis-auth/password",
		"AWS_ACCESS_KEY_ID":     "leap-s3/accessKeyID",
		"AWS_SECRET_ACCESS_KEY": "leap-s3/secretAccessKey",
		"JOB_NAME":              "metadata.labels['batch.kubernetes.io/job-name']",
	} {
		if env[k] != v {
			t.Errorf("env %s = %q, want %q", k, env[k], v)
		}
	}
	sc := c.SecurityContext
	if *pod.AutomountServiceAccountToken || *sc.AllowPrivilegeEscalation || !*sc.ReadOnlyRootFilesystem || !*sc.RunAsNonRoot {
		t.Errorf("the backup pod is not restricted: %+v", sc)
	}
	// Only the backup pods of this LeapTerm, besides the services, pass
	// Redis's NetworkPolicy.
	from := RedisNetworkPolicy(term).Spec.Ingress[0].From[0].PodSelector
	if !selects(t, from, s.JobTemplate.Spec.Template.Labels) {
		t.Error("Redis's NetworkPolicy keeps the backup pods out")
	}
	other := backedUp()
	other.Name = "y2025"
	if selects(t, RedisNetworkPolicy(other).Spec.Ingress[0].From[0].PodSelector, s.JobTemplate.Spec.Template.Labels) {
		t.Error("another LeapTerm's Redis lets this one's backups in")
	}
	if selects(t, RedisNetworkPolicy(leapTerm()).Spec.Ingress[0].From[0].PodSelector, s.JobTemplate.Spec.Template.Labels) {
		t.Error("a Redis without backups lets backup pods in")
	}

	term.Spec.Redis.Backup.Prefix = "leap/prod"
	term.Spec.Timezone = ""
	cj = BackupCronJob(term, images)
	if cj.Spec.TimeZone != nil {
		t.Errorf("timezone %q without spec.timezone", *cj.Spec.TimeZone)
	}
	if got := BackupObject(term, "y2026-redis-backup-29391840"); got != "leap/prod/y2026-redis-backup-29391840.rdb" {
		t.Errorf("object %q", got)
	}
}

func TestRestoreRunsBeforeRedisOnlyWhenAsked(t *testing.T) {
	term := leapTerm()
	if init := RedisStatefulSet(term, images).Spec.Template.Spec.InitContainers; len(init) != 0 {
		t.Fatalf("a Redis without restoreFrom has init containers %v", init)
	}
	term.Spec.Redis.Image = "redis:7.4.2-alpine"
	term.Spec.Redis.RestoreFrom = &v1alpha1.RedisRestore{
		S3Bucket: v1alpha1.S3Bucket{Endpoint: "http://minio.backup:9000", Bucket: "leap-backups", CredentialsSecret: "leap-s3"},
		Object:   "leap/y2025/y2025-redis-backup-29391840.rdb",
	}
	pod := RedisStatefulSet(term, images).Spec.Template.Spec
	if len(pod.InitContainers) != 2 {
		t.Fatalf("init containers %d, want 2", len(pod.InitContainers))
	}
	install, restore := pod.InitContainers[0], pod.InitContainers[1]
	if *install.Image != images.Backup || !slices.Equal(install.Args, []string{"install", "/backup-tools/leap-backup"}) {
		t.Errorf("install: %s %q", *install.Image, install.Args)
	}
	// The restore runs in the Redis image itself: the redis-server that
	// converts the snapshot is the one that then runs on it.
	if *restore.Image != "redis:7.4.2-alpine" || restore.Command[0] != "/backup-tools/leap-backup" {
		t.Errorf("restore: %s %q", *restore.Image, restore.Command)
	}
	want := []string{"restore", "--dir", "/data", "--object", "leap/y2025/y2025-redis-backup-29391840.rdb", "--redis-server", "redis-server",
		"--endpoint", "http://minio.backup:9000", "--bucket", "leap-backups"}
	if !slices.Equal(restore.Args, want) {
		t.Errorf("args %q\nwant %q", restore.Args, want)
	}
	mounts := map[string]string{}
	for _, m := range restore.VolumeMounts {
		mounts[*m.Name] = *m.MountPath
	}
	redis := pod.Containers[0]
	if mounts["data"] != "/data" || *redis.VolumeMounts[0].Name != "data" || *redis.VolumeMounts[0].MountPath != "/data" {
		t.Errorf("the restore writes %v, Redis reads %s", mounts, *redis.VolumeMounts[0].MountPath)
	}
	vols := map[string]bool{}
	for _, v := range pod.Volumes {
		vols[*v.Name] = v.EmptyDir != nil
	}
	if !vols["backup-tools"] {
		t.Errorf("volumes %v lack the tools emptyDir", vols)
	}
}
