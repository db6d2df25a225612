package keys

import (
	"bytes"
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"sync"

	"github.com/certseal/certseal/registry"
)

// Errors opening a seal key. They are wrapped with the seal's id and
// version, never with key bytes; compare with errors.Is.
var (
	ErrWrongKEK    = errors.New("sealed under a different key-encryption key")
	ErrCorruptBlob = errors.New("sealed key is corrupted")
	ErrForeignBlob = errors.New("sealed key belongs to another seal")
	ErrKeyMismatch = errors.New("private key does not match the certificate")
)

// Alg is a seal key algorithm.
type Alg string

const (
	ECDSAP256  Alg = "ecdsa-p256"
	RSA2048    Alg = "rsa-2048"
	DefaultAlg     = ECDSAP256
)

// ParseAlg reads a configured algorithm name; "" means DefaultAlg.
func ParseAlg(s string) (Alg, error) {
	switch a := Alg(s); a {
	case "":
		return DefaultAlg, nil
	case ECDSAP256, RSA2048:
		return a, nil
	}
	return "", fmt.Errorf("seal key algorithm %q is not supported (want %s or %s)", s, ECDSAP256, RSA2048)
}

// KeyManager makes seal keys and hands out the signer of a seal's key. The
// software manager opens registry.Seal.KeyBlob with the KEK; a PKCS#11
// manager would keep the key in the token, store a reference to it in
// KeyBlob, and return a signer that calls C_Sign, with no change for
// callers (Seals makes keys, the signer signs with them).
type KeyManager interface {
	// GenerateSealKey makes the key of a unit's seal version and returns
	// its public key and the blob to store as registry.Seal.KeyBlob.
	GenerateSealKey(ctx context.Context, alg Alg, unitID int64, version int) (crypto.PublicKey, []byte, error)
	// Signer returns the seal's signer. It refuses a seal that is not
	// active (registry.ErrSealNotActive): a revoked or superseded seal never
	// signs again.
	Signer(ctx context.Context, s registry.Seal) (crypto.Signer, error)
}

// SoftwareKeys keeps seal keys in the database, each sealed with
// AES-256-GCM under the KEK and bound to its seal (unit id and version), and
// caches opened signers per seal id because opening is on the hot path of
// signing. Safe for concurrent use.
type SoftwareKeys struct {
	kek *KEK
	mu  sync.RWMutex
	// Opened signers by seal id: the PDF signing keys, and the SM2 keys.
	signers, sm2Signers map[int64]openedKey
}

type openedKey struct {
	blob   []byte // what was opened: a seal row whose blob changed is opened again
	signer crypto.Signer
}

// NewSoftwareKeys returns a manager that seals and opens keys with kek.
func NewSoftwareKeys(kek *KEK) *SoftwareKeys {
	return &SoftwareKeys{kek: kek, signers: make(map[int64]openedKey), sm2Signers: make(map[int64]openedKey)}
}

// GenerateSealKey creates the key of seal version `version` of unit unitID
// and returns its public key (to certify) and the sealed key to store in
// registry.Seal.KeyBlob. The private key leaves only sealed.
func (m *SoftwareKeys) GenerateSealKey(ctx context.Context, alg Alg, unitID int64, version int) (crypto.PublicKey, []byte, error) {
	if err := checkKeyBinding(ctx, unitID, version); err != nil {
		return nil, nil, err
	}
	alg, err := ParseAlg(string(alg))
	if err != nil {
		return nil, nil, err
	}
	var key crypto.Signer
	if alg == RSA2048 {
		key, err = rsa.GenerateKey(rand.Reader, 2048)
	} else {
		key, err = ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	}
	if err != nil {
		return nil, nil, err
	}
	der, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		return nil, nil, err
	}
	blob := sealBlob(m.kek, blobMagic, der, unitID, version)
	clear(der)
	return key.Public(), blob, nil
}

// checkKeyBinding refuses to make a key that cannot be bound to its seal
// version (the sealed blob's header holds both).
func checkKeyBinding(ctx context.Context, unitID int64, version int) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	if unitID <= 0 || version <= 0 || int64(version) > int64(^uint32(0)) {
		return registry.Errf(registry.CodeInvalid, "seal key for unit %d version %d: both must be positive", unitID, version)
	}
	return nil
}

// Signer implements KeyManager.
func (m *SoftwareKeys) Signer(_ context.Context, s registry.Seal) (crypto.Signer, error) {
	return m.cachedSigner(m.signers, s, s.KeyBlob, func() (crypto.Signer, error) {
		return openBlob(m.kek, s.KeyBlob, s.UnitID, s.Version)
	})
}

// cachedSigner is the signer of one of seal s's keys, sealed in blob,
// opened once and kept in cache while the blob stays the same. A seal
// that may not sign is refused and forgotten.
func (m *SoftwareKeys) cachedSigner(cache map[int64]openedKey, s registry.Seal, blob []byte, open func() (crypto.Signer, error)) (crypto.Signer, error) {
	if err := registry.CanSign(s); err != nil {
		m.mu.Lock()
		delete(cache, s.ID)
		m.mu.Unlock()
		return nil, fmt.Errorf("seal %d: %w", s.ID, err)
	}
	m.mu.RLock()
	o, ok := cache[s.ID]
	m.mu.RUnlock()
	if ok && bytes.Equal(o.blob, blob) {
		return o.signer, nil
	}
	key, err := open()
	if err != nil {
		return nil, fmt.Errorf("seal %d (unit %d, version %d): open key: %w", s.ID, s.UnitID, s.Version, err)
	}
	signer := sealSigner{key: key}
	m.mu.Lock()
	cache[s.ID] = openedKey{blob: bytes.Clone(blob), signer: signer}
	m.mu.Unlock()
	return signer, nil
}

// sealSigner hides the concrete key type, so a caller cannot type-assert
// its way to the private key and export it.
type sealSigner struct{ key crypto.Signer }

func (s sealSigner) Public() crypto.PublicKey { return s.key.Public() }

func (s sealSigner) Sign(r io.Reader, digest []byte, opts crypto.SignerOpts) ([]byte, error) {
	return s.key.Sign(r, digest, opts)
}

// CheckSealKeys checks, for every active seal, that its key opens and
// matches its certificate, and that the certificate carries the recorded
// serial. The service runs it at start and refuses to serve when it fails:
// a seal that cannot sign, or signs with the wrong key, must not be found
// out at the first certificate. All failures are reported together.
func CheckSealKeys(ctx context.Context, km KeyManager, seals []registry.Seal) error {
	var errs []error
	for _, s := range seals {
		if s.State != registry.SealActive {
			continue
		}
		if err := ctx.Err(); err != nil {
			return err
		}
		if err := checkSealKey(ctx, km, s); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

func checkSealKey(ctx context.Context, km KeyManager, s registry.Seal) error {
	cert, err := x509.ParseCertificate(s.CertDER)
	if err != nil {
		return fmt.Errorf("seal %d (unit %d, version %d): certificate: %w", s.ID, s.UnitID, s.Version, err)
	}
	if got := SerialHex(cert.SerialNumber); got != s.Serial {
		return fmt.Errorf("seal %d (unit %d, version %d): certificate serial %s differs from the recorded serial %s", s.ID, s.UnitID, s.Version, got, s.Serial)
	}
	signer, err := km.Signer(ctx, s)
	if err != nil {
		return err
	}
	if !publicKeysEqual(signer.Public(), cert.PublicKey) {
		return fmt.Errorf("seal %d (unit %d, version %d): certificate %s: %w", s.ID, s.UnitID, s.Version, s.Serial, ErrKeyMismatch)
	}
	return nil
}

// Sealed key layout (all of the header is authenticated as GCM associated
// data, so the binding to the seal cannot be edited):
//
//	"CSK" 0x01 | KEK id (8) | unit id (8, big-endian) | version (4) | nonce (12) | AES-256-GCM(PKCS#8)
//
// The magic tells the seal's keys apart: 0x01 its PDF signing key, 0x02
// its SM2 key (sm2.go), so one can never be opened as the other.
const (
	blobMagic    = "CSK\x01"
	sm2BlobMagic = "CSK\x02"
	blobHeader   = len(blobMagic) + 8 + 8 + 4 + 12
)

func sealBlob(kek *KEK, magic string, pkcs8 []byte, unitID int64, version int) []byte {
	out := make([]byte, blobHeader, blobHeader+len(pkcs8)+kek.aead.Overhead())
	copy(out, magic)
	copy(out[4:], kek.id[:])
	binary.BigEndian.PutUint64(out[12:], uint64(unitID))
	binary.BigEndian.PutUint32(out[20:], uint32(version))
	rand.Read(out[24:blobHeader]) // never fails (crypto/rand)
	return kek.aead.Seal(out, out[24:blobHeader], pkcs8, out[:blobHeader])
}

// openBlob opens a sealed PDF signing key and checks it is bound to
// (unitID, version).
func openBlob(kek *KEK, blob []byte, unitID int64, version int) (crypto.Signer, error) {
	plain, err := openBlobPKCS8(kek, blobMagic, blob, unitID, version)
	if err != nil {
		return nil, err
	}
	defer clear(plain)
	key, err := x509.ParsePKCS8PrivateKey(plain)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrCorruptBlob, err)
	}
	switch k := key.(type) {
	case *ecdsa.PrivateKey:
		if k.Curve == elliptic.P256() {
			return k, nil
		}
	case *rsa.PrivateKey:
		if k.N.BitLen() >= 2048 {
			return k, nil
		}
	}
	return nil, fmt.Errorf("%w: unexpected key type %T", ErrCorruptBlob, key)
}

// openBlobPKCS8 opens a sealed key of the kind magic names, bound to
// (unitID, version). The caller clears the PKCS#8 it returns.
func openBlobPKCS8(kek *KEK, magic string, blob []byte, unitID int64, version int) ([]byte, error) {
	if len(blob) < blobHeader+kek.aead.Overhead() || string(blob[:4]) != magic {
		return nil, fmt.Errorf("%w: %d bytes, not a certseal sealed key of this kind", ErrCorruptBlob, len(blob))
	}
	if id := blob[4:12]; !bytes.Equal(id, kek.id[:]) {
		return nil, fmt.Errorf("%w: sealed under KEK %s, this service has KEK %s", ErrWrongKEK, hex.EncodeToString(id), kek.ID())
	}
	u, v := int64(binary.BigEndian.Uint64(blob[12:])), int64(binary.BigEndian.Uint32(blob[20:]))
	if u != unitID || v != int64(version) {
		return nil, fmt.Errorf("%w: it was sealed for unit %d version %d", ErrForeignBlob, u, v)
	}
	plain, err := kek.aead.Open(nil, blob[24:blobHeader], blob[blobHeader:], blob[:blobHeader])
	if err != nil {
		return nil, fmt.Errorf("%w: authentication failed", ErrCorruptBlob)
	}
	return plain, nil
}
