package v1alpha1

import metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

// S3Bucket is a bucket of an S3-compatible object store (AWS S3, MinIO,
// Ceph RGW, Versity, a university's own) and the credentials to reach it.
type S3Bucket struct {
	// Endpoint of the object store, http(s)://host[:port]; no path.
	// +kubebuilder:validation:MaxLength=512
	// +kubebuilder:validation:XValidation:rule="self.matches('^https?://[^/?#@ ]+/?$')",message="endpoint must be http(s)://host[:port], with no path, query or credentials"
	Endpoint string `json:"endpoint"`
	// Bucket name, as S3 allows it.
	// +kubebuilder:validation:MinLength=3
	// +kubebuilder:validation:MaxLength=63
	// +kubebuilder:validation:Pattern=`^[a-z0-9][a-z0-9.-]*[a-z0-9]$`
	Bucket string `json:"bucket"`
	// Region of the bucket; us-east-1 when empty, which most S3-compatible
	// stores accept.
	// +kubebuilder:validation:MaxLength=64
	// +optional
	Region string `json:"region,omitempty"`
	// CredentialsSecret names a Secret in the LeapTerm's namespace with the
	// keys accessKeyID and secretAccessKey.
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=253
	CredentialsSecret string `json:"credentialsSecret"`
}

// Keys of a CredentialsSecret.
const (
	S3AccessKeyIDKey     = "accessKeyID"
	S3SecretAccessKeyKey = "secretAccessKey"
)

// RedisBackup takes RDB snapshots of the Managed Redis on a schedule and
// keeps the newest ones in a bucket.
type RedisBackup struct {
	// Schedule in cron syntax (five fields, or @daily, @hourly, ...), read
	// in spec.timezone.
	// +kubebuilder:validation:MaxLength=128
	// +kubebuilder:validation:XValidation:rule="self.matches('^(@(yearly|annually|monthly|weekly|daily|midnight|hourly)|[0-9A-Za-z*,/?-]+( +[0-9A-Za-z*,/?-]+){4})$')",message="schedule must be a cron expression of five fields (minute hour day-of-month month day-of-week, such as \"0 3 * * *\") or one of @hourly, @daily, @weekly, @monthly, @yearly"
	Schedule string `json:"schedule"`
	// Retention is how many snapshots are kept: after each upload, the
	// oldest ones under Prefix beyond this count are deleted.
	// +kubebuilder:default=7
	// +kubebuilder:validation:Minimum=1
	// +kubebuilder:validation:Maximum=1000
	// +optional
	Retention int32 `json:"retention,omitempty"`
	// Destination is the bucket the snapshots go to.
	Destination S3Bucket `json:"destination"`
	// Prefix of the snapshots' object names; NAMESPACE/NAME/ when empty.
	// +kubebuilder:validation:MaxLength=256
	// +kubebuilder:validation:XValidation:rule="!self.startsWith('/') && !self.contains('..')",message="prefix must not start with / nor hold .."
	// +optional
	Prefix string `json:"prefix,omitempty"`
	// Suspend stops scheduling new backups; the snapshots stay.
	// +optional
	Suspend bool `json:"suspend,omitempty"`
}

// RedisRestore names the snapshot a new Managed Redis starts from.
type RedisRestore struct {
	S3Bucket `json:",inline"`
	// Object is the snapshot's name in the bucket, as status.lastBackup.object
	// of the LeapTerm that took it gives it.
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=1024
	Object string `json:"object"`
}

// BackupStatus is the last snapshot that was uploaded.
type BackupStatus struct {
	// Time the backup Job completed.
	Time metav1.Time `json:"time"`
	// Object is the snapshot's name in the destination bucket.
	Object string `json:"object"`
	// Job is the Job that took it.
	// +optional
	Job string `json:"job,omitempty"`
}
