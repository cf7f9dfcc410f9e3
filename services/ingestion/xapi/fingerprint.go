package xapi

import (
	"bytes"
	"crypto/sha1"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"slices"
	"strconv"
)

// The fingerprint.

// fingerprint encodes the statement canonically (properties sorted, the
// insignificant differences removed) and hashes it.
func (r *reader) fingerprint(root int32, st *Statement) error {
	r.canon = r.canon[:0]
	if err := r.canonical(root); err != nil {
		return err
	}
	sum := sha256.Sum256(r.canon)
	copy(st.Fingerprint[:], sum[:16])
	return nil
}

func (r *reader) canonical(n int32) error {
	nd := &r.nodes[n]
	switch nd.kind {
	case jNull:
		r.canon = append(r.canon, 'z')
	case jTrue:
		r.canon = append(r.canon, 't')
	case jFalse:
		r.canon = append(r.canon, 'f')
	case jNumber:
		if v, err := strconv.ParseFloat(string(r.text(n)), 64); err == nil {
			r.canon = append(r.canon, 'n')
			r.canon = strconv.AppendFloat(r.canon, v, 'g', -1, 64)
			r.canon = append(r.canon, ';')
		} else {
			// Out of the range of a float: equal only to the same writing.
			r.canon = append(r.canon, 'N')
			r.canon = appendBytes(r.canon, r.text(n))
		}
	case jString:
		s := r.text(n)
		switch {
		case nd.flags&fUUID != 0:
			r.canon = append(r.canon, 's')
			r.canon = appendLower(r.canon, s)
		case nd.flags&fTimestamp != 0:
			t, _ := parseXAPITime(string(s), r.opt.V2)
			r.canon = append(r.canon, 'T')
			r.canon = binary.AppendVarint(r.canon, t.Unix())
			r.canon = binary.AppendUvarint(r.canon, uint64(t.Nanosecond()))
		default:
			r.canon = append(r.canon, 's')
			r.canon = appendBytes(r.canon, s)
		}
	case jArray:
		r.canon = append(r.canon, '[')
		r.canon = binary.AppendUvarint(r.canon, uint64(nd.n))
		for c := nd.first; c >= 0; c = r.nodes[c].next {
			if err := r.canonical(c); err != nil {
				return err
			}
		}
		r.canon = append(r.canon, ']')
	case jObject:
		fold := nd.flags&fLangMap != 0
		base := len(r.order)
		for c := nd.first; c >= 0; c = r.nodes[c].next {
			if r.nodes[c].flags&fSkip == 0 {
				r.order = append(r.order, c)
			}
		}
		keys := r.order[base:]
		slices.SortFunc(keys, func(a, b int32) int { return compareKeys(r.key(a), r.key(b), fold) })
		for i := 1; i < len(keys); i++ {
			if compareKeys(r.key(keys[i-1]), r.key(keys[i]), fold) == 0 {
				r.order = r.order[:base]
				return r.fail(keys[i], "the property appears twice")
			}
		}
		r.canon = append(r.canon, '{')
		r.canon = binary.AppendUvarint(r.canon, uint64(len(keys)))
		for i := range keys {
			c := r.order[base+i] // r.order may grow (and move) below
			if fold {
				r.canon = appendLower(r.canon, r.key(c))
			} else {
				r.canon = appendBytes(r.canon, r.key(c))
			}
			if err := r.canonical(c); err != nil {
				r.order = r.order[:base]
				return err
			}
		}
		r.order = r.order[:base]
		r.canon = append(r.canon, '}')
	}
	return nil
}

func appendBytes(dst, s []byte) []byte {
	dst = binary.AppendUvarint(dst, uint64(len(s)))
	return append(dst, s...)
}

// appendLower is appendBytes of s with ASCII letters in lower case.
func appendLower(dst, s []byte) []byte {
	dst = binary.AppendUvarint(dst, uint64(len(s)))
	for _, c := range s {
		dst = append(dst, lowerASCII(c))
	}
	return dst
}

func compareKeys(a, b []byte, fold bool) int {
	if !fold {
		return bytes.Compare(a, b)
	}
	for i := 0; i < len(a) && i < len(b); i++ {
		x, y := lowerASCII(a[i]), lowerASCII(b[i])
		if x != y {
			return int(x) - int(y)
		}
	}
	return len(a) - len(b)
}

func lowerASCII(c byte) byte {
	if c >= 'A' && c <= 'Z' {
		return c + 'a' - 'A'
	}
	return c
}

// FingerprintHex is the stored form of a fingerprint.
func FingerprintHex(fp [16]byte) string { return hex.EncodeToString(fp[:]) }

// xapiNamespace is the namespace of the UUIDs LEAP derives for statements
// sent without an id:
// "leap-xAPI-stmtid".
var xapiNamespace = [16]byte{0x6c, 0x65, 0x61, 0x70, 0x2d, 0x78, 0x41, 0x50, 0x49, 0x2d, 0x73, 0x74, 0x6d, 0x74, 0x69, 0x64}

// DerivedID is the UUID (version 5) of a statement's content.
func DerivedID(fp [16]byte) string {
	h := sha1.New()
	h.Write(xapiNamespace[:])
	h.Write(fp[:])
	var u [16]byte
	copy(u[:], h.Sum(nil))
	u[6] = u[6]&0x0f | 0x50
	u[8] = u[8]&0x3f | 0x80
	return formatUUID(u)
}

func formatUUID(u [16]byte) string {
	var b [36]byte
	hex.Encode(b[0:8], u[0:4])
	b[8] = '-'
	hex.Encode(b[9:13], u[4:6])
	b[13] = '-'
	hex.Encode(b[14:18], u[6:8])
	b[18] = '-'
	hex.Encode(b[19:23], u[8:10])
	b[23] = '-'
	hex.Encode(b[24:], u[10:])
	return string(b[:])
}
