package auth

import (
	"crypto/pbkdf2"
	"crypto/rand"
	"crypto/sha512"
	"crypto/subtle"
	"encoding/base64"
	"fmt"
	"strconv"
	"strings"

	"golang.org/x/crypto/argon2"
)

// Algorithm names a password hashing scheme of the Mosquitto password file.
type Algorithm int

// The schemes. The numbers are Mosquitto's own (enum mosquitto_pwhash_type):
// "$6$" and "$7$" are the line prefixes. Argon2id lines are not "$8$..." but
// the argon2 reference library's PHC string, "$argon2id$v=19$m=..,t=..,p=..$
// salt$hash" (unpadded base64), which is what Mosquitto 2.1 writes.
const (
	SHA512       Algorithm = 6 // salted SHA-512, Mosquitto 1.x; verify only
	SHA512PBKDF2 Algorithm = 7 // PBKDF2-HMAC-SHA512, Mosquitto 2.0's default
	Argon2id     Algorithm = 8 // argon2id, Mosquitto 2.1's default when built with libargon2
)

// String returns the name mosquitto_passwd's -H option uses.
func (a Algorithm) String() string {
	switch a {
	case SHA512:
		return "sha512"
	case SHA512PBKDF2:
		return "sha512-pbkdf2"
	case Argon2id:
		return "argon2id"
	}
	return "Algorithm(" + strconv.Itoa(int(a)) + ")"
}

// Parameters of new hashes. PBKDF2 uses Mosquitto 2.0's 12-byte salt, which
// every Mosquitto 2.x accepts, with Mosquitto 2.1's iteration count (2.0
// wrote 101). Argon2id uses Mosquitto 2.1's parameters: t=1, m=47104 KiB,
// p=1, 64-byte salt and hash.
const (
	DefaultIterations = 1000
	pbkdf2SaltLen     = 12
	sha512Len         = 64
	argon2Time        = 1
	argon2Memory      = 47104
	argon2Threads     = 1
	argon2SaltLen     = 64
	argon2KeyLen      = 64
	// maxIterations and maxArgon2Memory bound what a file may ask for, so
	// that one bad line cannot make every CONNECT take seconds or gigabytes.
	maxIterations   = 10_000_000
	maxArgon2Memory = 1 << 21 // KiB: 2 GiB
	maxArgon2Time   = 100
)

// Hash is one parsed password hash.
type Hash struct {
	alg        Algorithm
	iterations int    // PBKDF2 iterations, argon2 time
	memory     uint32 // argon2 KiB
	threads    uint8  // argon2 parallelism
	salt, sum  []byte
}

// Algorithm reports the scheme of h.
func (h *Hash) Algorithm() Algorithm { return h.alg }

// Verify reports whether password hashes to h. The comparison takes the
// same time wherever the first difference is.
func (h *Hash) Verify(password []byte) bool {
	got := h.compute(password)
	return subtle.ConstantTimeCompare(got, h.sum) == 1
}

func (h *Hash) compute(password []byte) []byte {
	switch h.alg {
	case SHA512:
		d := sha512.New()
		d.Write(password)
		d.Write(h.salt)
		return d.Sum(nil)
	case SHA512PBKDF2:
		k, err := pbkdf2.Key(sha512.New, string(password), h.salt, h.iterations, len(h.sum))
		if err != nil {
			return nil
		}
		return k
	case Argon2id:
		return argon2.IDKey(password, h.salt, uint32(h.iterations), h.memory, h.threads, uint32(len(h.sum)))
	}
	return nil
}

// String encodes h as a password file stores it.
func (h *Hash) String() string {
	b64 := base64.StdEncoding
	switch h.alg {
	case SHA512:
		return "$6$" + b64.EncodeToString(h.salt) + "$" + b64.EncodeToString(h.sum)
	case SHA512PBKDF2:
		return "$7$" + strconv.Itoa(h.iterations) + "$" + b64.EncodeToString(h.salt) + "$" + b64.EncodeToString(h.sum)
	case Argon2id:
		raw := base64.RawStdEncoding
		return fmt.Sprintf("$argon2id$v=%d$m=%d,t=%d,p=%d$%s$%s", argon2.Version, h.memory, h.iterations, h.threads,
			raw.EncodeToString(h.salt), raw.EncodeToString(h.sum))
	}
	return ""
}

// sibling returns a hash with h's scheme and cost for a random password and
// salt: verifying against it costs what verifying against h costs, which is
// what an unknown user must cost.
func (h *Hash) sibling() *Hash {
	s := *h
	s.salt = randomBytes(len(h.salt))
	s.sum = randomBytes(len(h.sum))
	return &s
}

func randomBytes(n int) []byte {
	b := make([]byte, n)
	rand.Read(b) // never fails (crypto/rand documents it)
	return b
}

// NewHash hashes password with alg and its default parameters
// (iterations <= 0) or the given PBKDF2 iteration count.
func NewHash(alg Algorithm, password []byte, iterations int) (*Hash, error) {
	h := &Hash{alg: alg}
	switch alg {
	case SHA512PBKDF2:
		if iterations <= 0 {
			iterations = DefaultIterations
		}
		if iterations > maxIterations {
			return nil, fmt.Errorf("new hash: %d iterations: more than %d", iterations, maxIterations)
		}
		h.iterations = iterations
		h.salt = randomBytes(pbkdf2SaltLen)
		h.sum = make([]byte, sha512Len)
	case Argon2id:
		h.iterations, h.memory, h.threads = argon2Time, argon2Memory, argon2Threads
		h.salt = randomBytes(argon2SaltLen)
		h.sum = make([]byte, argon2KeyLen)
	default:
		return nil, fmt.Errorf("new hash: %v: %w", alg, ErrUnknownHash)
	}
	h.sum = h.compute(password)
	return h, nil
}

// ParseHash parses the hash part of a password file line (after "user:").
// It accepts what Mosquitto 1.x to 2.1 write: "$6$salt$hash",
// "$7$iterations$salt$hash" (standard base64, salt 12 or 64 bytes, hash 64
// bytes) and "$argon2id$v=19$m=M,t=T,p=P$salt$hash" (unpadded base64).
func ParseHash(s string) (*Hash, error) {
	switch {
	case strings.HasPrefix(s, "$6$"):
		parts := strings.Split(s[3:], "$")
		if len(parts) != 2 {
			return nil, fmt.Errorf("%w: sha512: want $6$salt$hash", ErrSyntax)
		}
		h := &Hash{alg: SHA512}
		if err := decodeSaltSum(h, parts[0], parts[1]); err != nil {
			return nil, fmt.Errorf("sha512: %w", err)
		}
		return h, nil
	case strings.HasPrefix(s, "$7$"):
		parts := strings.Split(s[3:], "$")
		if len(parts) != 3 {
			return nil, fmt.Errorf("%w: sha512-pbkdf2: want $7$iterations$salt$hash", ErrSyntax)
		}
		n, err := strconv.Atoi(parts[0])
		if err != nil || n < 1 || n > maxIterations {
			return nil, fmt.Errorf("%w: sha512-pbkdf2: iterations not in 1..%d", ErrSyntax, maxIterations)
		}
		h := &Hash{alg: SHA512PBKDF2, iterations: n}
		if err := decodeSaltSum(h, parts[1], parts[2]); err != nil {
			return nil, fmt.Errorf("sha512-pbkdf2: %w", err)
		}
		return h, nil
	case strings.HasPrefix(s, "$argon2id$"):
		return parseArgon2id(s)
	}
	return nil, ErrUnknownHash
}

func decodeSaltSum(h *Hash, salt, sum string) error {
	enc := base64.StdEncoding
	var err error
	if h.salt, err = enc.DecodeString(salt); err != nil || (len(h.salt) != 12 && len(h.salt) != 64) {
		return fmt.Errorf("%w: salt is not base64 of 12 or 64 bytes", ErrSyntax)
	}
	if h.sum, err = enc.DecodeString(sum); err != nil || len(h.sum) != sha512Len {
		return fmt.Errorf("%w: hash is not base64 of 64 bytes", ErrSyntax)
	}
	return nil
}

func parseArgon2id(s string) (*Hash, error) {
	// "", "argon2id", "v=19", "m=..,t=..,p=..", salt, hash
	parts := strings.Split(s, "$")
	if len(parts) != 6 {
		return nil, fmt.Errorf("%w: argon2id: want $argon2id$v=19$m=M,t=T,p=P$salt$hash", ErrSyntax)
	}
	if parts[2] != "v="+strconv.Itoa(argon2.Version) {
		return nil, fmt.Errorf("%w: argon2id: version %q is not v=%d", ErrSyntax, parts[2], argon2.Version)
	}
	var m, t, p uint64
	seen := 0
	for kv := range strings.SplitSeq(parts[3], ",") {
		k, v, _ := strings.Cut(kv, "=")
		n, err := strconv.ParseUint(v, 10, 32)
		if err != nil {
			return nil, fmt.Errorf("%w: argon2id: bad parameter %q", ErrSyntax, kv)
		}
		switch k {
		case "m":
			m, seen = n, seen|1
		case "t":
			t, seen = n, seen|2
		case "p":
			p, seen = n, seen|4
		default:
			return nil, fmt.Errorf("%w: argon2id: unknown parameter %q", ErrSyntax, k)
		}
	}
	switch {
	case seen != 7:
		return nil, fmt.Errorf("%w: argon2id: want m, t and p", ErrSyntax)
	case t < 1 || t > maxArgon2Time:
		return nil, fmt.Errorf("%w: argon2id: t not in 1..%d", ErrSyntax, maxArgon2Time)
	case p < 1 || p > 255:
		return nil, fmt.Errorf("%w: argon2id: p not in 1..255", ErrSyntax)
	case m < 8*p || m > maxArgon2Memory:
		return nil, fmt.Errorf("%w: argon2id: m not in 8p..%d", ErrSyntax, maxArgon2Memory)
	}
	h := &Hash{alg: Argon2id, iterations: int(t), memory: uint32(m), threads: uint8(p)}
	var err error
	// The reference library writes unpadded base64; accept padding too.
	if h.salt, err = decodeAnyPadding(parts[4]); err != nil || len(h.salt) < 8 {
		return nil, fmt.Errorf("%w: argon2id: salt is not base64 of at least 8 bytes", ErrSyntax)
	}
	if h.sum, err = decodeAnyPadding(parts[5]); err != nil || len(h.sum) < 4 {
		return nil, fmt.Errorf("%w: argon2id: hash is not base64 of at least 4 bytes", ErrSyntax)
	}
	return h, nil
}

func decodeAnyPadding(s string) ([]byte, error) {
	return base64.RawStdEncoding.DecodeString(strings.TrimRight(s, "="))
}
