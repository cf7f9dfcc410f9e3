package builder

import (
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"fmt"
	"io"
	"maps"
	"slices"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/leap-dev/leap/operator/api/v1alpha1"
)

// IngestSources are the systems that write to ingestion, one bearer token
// each. A token identifies its source and opens ingestion only. "roster" is
// the student records system: its token alone may post the roster (students,
// staff, tutors), which decides who may see whom, so no event source's token
// can make someone LEAP team. The others send events.
var IngestSources = []string{"roster", "attendance", "moodle", "faser", "listen-again", "pc-labs", "library", "reading-lists", "xapi"}

// RosterSource is the source whose token alone may post the roster; it
// names the same source as ingestion's RosterSource.
const RosterSource = "roster"

// Keys of the generated Secrets.
const (
	SessionKeyKey    = "session-key"
	RedisPasswordKey = "password"
)

// GeneratedSecrets are the Secrets the operator creates when absent and never
// overwrites, so that tokens handed to source systems stay valid; a key
// added in a later version (such as the roster token) is added to an
// existing Secret without touching the keys already there. Their values come
// from random, which is crypto/rand in the operator.
func GeneratedSecrets(t *v1alpha1.LeapTerm, random io.Reader) ([]*corev1.Secret, error) {
	n := NamesOf(t)
	tokens := map[string][]byte{}
	for _, source := range IngestSources {
		v, err := randomString(random, 32)
		if err != nil {
			return nil, err
		}
		tokens[source] = v
	}
	sessionKey, err := randomString(random, 64)
	if err != nil {
		return nil, err
	}
	secrets := []*corev1.Secret{
		secret(t, n.IngestTokens(), Ingestion, tokens),
		secret(t, n.PortalSession(), Portal, map[string][]byte{SessionKeyKey: sessionKey}),
	}
	if t.Spec.Redis.Mode == v1alpha1.RedisManaged {
		password, err := randomString(random, 32)
		if err != nil {
			return nil, err
		}
		secrets = append(secrets, secret(t, n.RedisAuth(), Redis, map[string][]byte{RedisPasswordKey: password}))
	}
	return secrets, nil
}

func secret(t *v1alpha1.LeapTerm, name, component string, data map[string][]byte) *corev1.Secret {
	return &corev1.Secret{
		TypeMeta: metav1.TypeMeta{APIVersion: "v1", Kind: "Secret"},
		ObjectMeta: metav1.ObjectMeta{
			Name:            name,
			Namespace:       t.Namespace,
			Labels:          Labels(t, component),
			OwnerReferences: []metav1.OwnerReference{OwnerReference(t)},
		},
		Type: corev1.SecretTypeOpaque,
		Data: data,
	}
}

// randomString is n random bytes written in URL-safe base64.
func randomString(random io.Reader, n int) ([]byte, error) {
	b := make([]byte, n)
	if _, err := io.ReadFull(random, b); err != nil {
		return nil, fmt.Errorf("read random bytes: %w", err)
	}
	return []byte(base64.RawURLEncoding.EncodeToString(b)), nil
}

// AnnotationSecretsHash on a pod template is a digest of the generated
// Secrets its pods read: a Secret regenerated (deleted by someone, then made
// anew) rolls the pods that use it, and the Managed Redis with its services
// when its password is new, so that both sides move together.
const AnnotationSecretsHash = "leap.dev/secrets-hash"

// SecretsOf names the generated Secrets that component c of t reads: the
// Redis password (Managed Redis) for Redis and every service, the ingest
// tokens for ingestion, the session key for the portal.
func SecretsOf(t *v1alpha1.LeapTerm, c string) []string {
	n := NamesOf(t)
	var names []string
	if t.Spec.Redis.Mode == v1alpha1.RedisManaged {
		names = append(names, n.RedisAuth())
	}
	switch c {
	case Ingestion:
		names = append(names, n.IngestTokens())
	case Portal:
		names = append(names, n.PortalSession())
	}
	return names
}

// SecretsHash is a digest of the data of the named Secrets, taken from data
// (Secret name to its data). Keys are taken in order, and names and values
// are length-prefixed, so that no two contents give the same input.
func SecretsHash(data map[string]map[string][]byte, names []string) string {
	h := sha256.New()
	for _, name := range names {
		d := data[name]
		keys := slices.Sorted(maps.Keys(d))
		fmt.Fprintf(h, "%d:%s;%d;", len(name), name, len(keys))
		for _, k := range keys {
			fmt.Fprintf(h, "%d:%s=%d:", len(k), k, len(d[k]))
			h.Write(d[k])
		}
	}
	return hex.EncodeToString(h.Sum(nil))[:16]
}

// PreviousTokenSuffix names the key of a source's previous ingest token
// during a rotation: SOURCE.previous holds "TOKEN EXPIRY" (RFC 3339), which
// ingestion accepts for SOURCE until EXPIRY.
const PreviousTokenSuffix = ".previous"

// NewIngestToken is a fresh ingest token, as the Secret's first ones are.
func NewIngestToken(random io.Reader) ([]byte, error) { return randomString(random, 32) }
