package v1alpha1

// Notifications is what LEAP sends by email, to whom and how: tutors'
// digests of their tutees' alerts, referrals to the services named in them,
// and notices to the students who asked for them. Off by default; when on,
// the operator runs the notifier and the SMTP settings are required.
// +kubebuilder:validation:XValidation:rule="!self.enabled || has(self.smtp)",message="notifications.smtp is required when notifications are enabled"
// +kubebuilder:validation:XValidation:rule="!self.enabled || (has(self.universityName) && size(self.universityName) > 0)",message="notifications.universityName is required when notifications are enabled: every email is signed with it"
type Notifications struct {
	// Enabled runs the notifier. Off: nothing is sent and no notifier runs.
	// +kubebuilder:default=false
	// +optional
	Enabled bool `json:"enabled,omitempty"`
	// UniversityName signs every email and titles its subject.
	// +kubebuilder:validation:MaxLength=128
	// +optional
	UniversityName string `json:"universityName,omitempty"`
	// PortalURL is the portal's address in links, such as
	// https://leap.example.ac.uk. Empty: https:// and the portal's Ingress
	// host.
	// +kubebuilder:validation:MaxLength=1024
	// +kubebuilder:validation:XValidation:rule="self.matches('^https?://[^/?#[:space:]]+(/[^?#[:space:]]*)?$')",message="portalURL must be an http:// or https:// address such as https://leap.example.ac.uk"
	// +optional
	PortalURL string `json:"portalURL,omitempty"`
	// SMTP is the mail server the notifier submits to.
	// +optional
	SMTP *SMTP `json:"smtp,omitempty"`
	// Digest says when tutors receive their digest of alerts.
	// +kubebuilder:default={}
	// +optional
	Digest DigestSchedule `json:"digest,omitzero"`
	// ReferralTargets are the services a student can be referred to, each
	// with the address that receives its referrals. A referral to a service
	// not listed is recorded and sent nowhere.
	// +kubebuilder:validation:MaxItems=32
	// +listType=map
	// +listMapKey=service
	// +optional
	ReferralTargets []ReferralTarget `json:"referralTargets,omitempty"`
	// Notifier is the notifier's Deployment. Replicas beyond one stand by:
	// one of them at a time (a lease in Redis) decides and sends.
	// +kubebuilder:default={}
	// +optional
	Notifier Component `json:"notifier,omitzero"`
}

// SMTPTLS is how the connection to the mail server is protected.
// +kubebuilder:validation:Enum=StartTLS;ImplicitTLS;None
type SMTPTLS string

// SMTP TLS modes.
const (
	// SMTPStartTLS connects in plain text and requires STARTTLS (port 587).
	SMTPStartTLS SMTPTLS = "StartTLS"
	// SMTPImplicitTLS speaks TLS from the first byte (port 465).
	SMTPImplicitTLS SMTPTLS = "ImplicitTLS"
	// SMTPNone sends in plain text: only for a relay on a trusted network
	// or a local sink.
	SMTPNone SMTPTLS = "None"
)

// SMTP is a mail submission server.
// +kubebuilder:validation:XValidation:rule="self.tls != 'None' || !has(self.credentialsSecret)",message="smtp.credentialsSecret needs tls StartTLS or ImplicitTLS: a password is never sent in plain text"
type SMTP struct {
	// Host of the mail server.
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=253
	// +kubebuilder:validation:XValidation:rule="self.matches('^[A-Za-z0-9]([A-Za-z0-9.-]*[A-Za-z0-9])?$')",message="smtp.host must be a host name or IPv4 address such as smtp.example.ac.uk"
	Host string `json:"host"`
	// Port of the mail server: 587 for StartTLS, 465 for ImplicitTLS.
	// +kubebuilder:default=587
	// +kubebuilder:validation:Minimum=1
	// +kubebuilder:validation:Maximum=65535
	// +optional
	Port int32 `json:"port,omitempty"`
	// From is the sender's address, such as leap-noreply@example.ac.uk.
	// +kubebuilder:validation:MaxLength=254
	// +kubebuilder:validation:XValidation:rule="self.matches('^[^@<>,;[:space:]]+@[^@<>,;[:space:]]+[.][^@<>,;[:space:]]+$')",message="smtp.from must be an email address such as leap@example.ac.uk"
	From string `json:"from"`
	// TLS protects the connection: StartTLS (the default), ImplicitTLS, or
	// None for a local relay.
	// +kubebuilder:default=StartTLS
	// +optional
	TLS SMTPTLS `json:"tls,omitempty"`
	// CredentialsSecret names a Secret in the LeapTerm's namespace with the
	// keys username and password for SMTP authentication. Absent: the
	// server is used without authentication.
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=253
	// +optional
	CredentialsSecret string `json:"credentialsSecret,omitempty"`
}

// Weekday is a day of the week.
// +kubebuilder:validation:Enum=Monday;Tuesday;Wednesday;Thursday;Friday;Saturday;Sunday
type Weekday string

// DigestSchedule is when tutors' digests go out, in the LeapTerm's timezone.
type DigestSchedule struct {
	// Days of the week the digest is sent.
	// +kubebuilder:default={Monday,Thursday}
	// +kubebuilder:validation:MinItems=1
	// +kubebuilder:validation:MaxItems=7
	// +listType=set
	// +optional
	Days []Weekday `json:"days,omitempty"`
	// Time of day, HH:MM on a 24-hour clock, in the LeapTerm's timezone.
	// +kubebuilder:default="08:00"
	// +kubebuilder:validation:MaxLength=5
	// +kubebuilder:validation:XValidation:rule="self.matches('^([01][0-9]|2[0-3]):[0-5][0-9]$')",message="digest.time must be HH:MM on a 24-hour clock, such as 08:00"
	// +optional
	Time string `json:"time,omitempty"`
}

// ReferralTarget is a service students are referred to, and where its
// referrals go.
type ReferralTarget struct {
	// Service is the name staff choose in the portal, such as wellbeing.
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=63
	Service string `json:"service"`
	// Email receives the service's referrals.
	// +kubebuilder:validation:MaxLength=254
	// +kubebuilder:validation:XValidation:rule="self.matches('^[^@<>,;[:space:]]+@[^@<>,;[:space:]]+[.][^@<>,;[:space:]]+$')",message="referralTargets[].email must be an email address such as wellbeing@example.ac.uk"
	Email string `json:"email"`
}
