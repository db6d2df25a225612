package keys

import (
	"context"
	"crypto"
	"crypto/rand"
	"crypto/sha256"
	"crypto/x509"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"path/filepath"
	"time"

	"github.com/emmansun/gmsm/sm2"
	"github.com/emmansun/gmsm/smx509"

	"github.com/certseal/certseal/keys/ses"
	"github.com/certseal/certseal/registry"
)

// The 国密 twin: beside its PDF signing key and certificate, every seal
// version has an SM2 key, an SM2 certificate from the platform's SM2 CA,
// and a GB/T 38540 electronic seal (SES_Seal) made by that CA, with which
// every certificate PDF also gets a seal signature (SES_Signature).

// File names of a development SM2 CA, beside the other CA's in its directory.
const (
	SM2RootCertFile    = "sm2-root.crt"    // PEM
	SM2IssuingCertFile = "sm2-issuing.crt" // PEM
	SM2IssuingKeyFile  = "sm2-issuing.key" // PEM PKCS#8 (SM2), mode 0600
)

// Paths of the SM2 trust anchors under the service's base URL.
const (
	PathSM2Root    = "/pki/sm2-root.crt"
	PathSM2Issuing = "/pki/sm2-issuing.crt"
)

// SM2CA is the platform's SM2 CA: its issuing CA certifies the seals' SM2
// keys and, as maker, signs their electronic seals. Immutable.
type SM2CA struct {
	root, issuing *smx509.Certificate
	key           crypto.Signer
	roots, inter  *smx509.CertPool
}

// LoadSM2CA loads an operator-supplied SM2 CA from PEM files, as LoadCA
// does the other: root, issuing CA, and the issuing CA's SM2 key (PKCS#8,
// mode 0600 or stricter). A hardware-held issuing key is given through
// NewSM2CA instead.
func LoadSM2CA(rootCertFile, issuingCertFile, issuingKeyFile string, now time.Time) (*SM2CA, error) {
	root, err := readPEMCert(rootCertFile, smx509.ParseCertificate)
	if err != nil {
		return nil, fmt.Errorf("SM2 root CA certificate: %w", err)
	}
	issuing, err := readPEMCert(issuingCertFile, smx509.ParseCertificate)
	if err != nil {
		return nil, fmt.Errorf("SM2 issuing CA certificate: %w", err)
	}
	b, err := readKeyPEM(issuingKeyFile)
	if err != nil {
		return nil, fmt.Errorf("SM2 issuing CA key: %w", err)
	}
	if b.Type != "PRIVATE KEY" {
		return nil, fmt.Errorf("SM2 issuing CA key %s: PEM block %q, want PRIVATE KEY (PKCS#8)", issuingKeyFile, b.Type)
	}
	key, err := smx509.ParsePKCS8PrivateKey(b.Bytes)
	if err != nil {
		return nil, fmt.Errorf("SM2 issuing CA key %s: %w", issuingKeyFile, err)
	}
	signer, ok := key.(*sm2.PrivateKey)
	if !ok {
		return nil, fmt.Errorf("SM2 issuing CA key %s is %T, not SM2", issuingKeyFile, key)
	}
	ca, err := NewSM2CA(root, issuing, signer, now)
	if err != nil {
		return nil, fmt.Errorf("SM2 CA from %s, %s, %s: %w", rootCertFile, issuingCertFile, issuingKeyFile, err)
	}
	return ca, nil
}

// NewSM2CA checks that root, issuing and key hold together at now (the
// issuing CA may sign certificates, chains to the root, matches key) and
// returns the CA. key is any SM2 crypto.Signer that signs messages given
// ses.SignerOpts(): a hardware module's as well as a software key.
func NewSM2CA(root, issuing *smx509.Certificate, key crypto.Signer, now time.Time) (*SM2CA, error) {
	for _, c := range []*smx509.Certificate{root, issuing} {
		if !c.BasicConstraintsValid || !c.IsCA || c.KeyUsage&x509.KeyUsageCertSign == 0 {
			return nil, fmt.Errorf("%q is not a CA allowed to sign certificates", c.Subject.CommonName)
		}
		if !sm2.IsSM2PublicKey(c.PublicKey) {
			return nil, fmt.Errorf("%q has no SM2 key", c.Subject.CommonName)
		}
	}
	ca := &SM2CA{root: root, issuing: issuing, key: key, roots: smx509.NewCertPool(), inter: smx509.NewCertPool()}
	ca.roots.AddCert(root)
	ca.inter.AddCert(issuing)
	if err := ca.Verify(issuing, now); err != nil {
		return nil, fmt.Errorf("the SM2 issuing CA does not chain to the SM2 root at %s: %w", now.UTC().Format(time.RFC3339), err)
	}
	if !publicKeysEqual(key.Public(), issuing.PublicKey) {
		return nil, fmt.Errorf("SM2 issuing CA: %w", ErrKeyMismatch)
	}
	return ca, nil
}

// LoadOrCreateDevSM2CA is LoadOrCreateDevCA for the SM2 CA: its files sit
// beside the other development CA's in dir, made on first start.
func LoadOrCreateDevSM2CA(dir string, logger *slog.Logger, now time.Time) (*SM2CA, error) {
	return openDevSM2CA(dir, logger, now, true)
}

// LoadDevSM2CA is LoadDevCA for the SM2 CA.
func LoadDevSM2CA(dir string, logger *slog.Logger, now time.Time) (*SM2CA, error) {
	return openDevSM2CA(dir, logger, now, false)
}

func openDevSM2CA(dir string, logger *slog.Logger, now time.Time, create bool) (*SM2CA, error) {
	paths := []string{filepath.Join(dir, SM2RootCertFile), filepath.Join(dir, SM2IssuingCertFile), filepath.Join(dir, SM2IssuingKeyFile)}
	created, err := devFiles(dir, paths, create, func() error { return createDevSM2CA(paths, now) })
	if err != nil {
		return nil, fmt.Errorf("development SM2 CA: %w", err)
	}
	ca, err := LoadSM2CA(paths[0], paths[1], paths[2], now)
	if err != nil {
		return nil, fmt.Errorf("development SM2 CA: %w", err)
	}
	fp := sha256.Sum256(ca.root.Raw)
	orDiscard(logger).Warn("DEVELOPMENT SM2 CA IN USE: NOT FOR PRODUCTION. The 国密 seals are made by a CA nobody else trusts; supply the operator's SM2 root, issuing certificate and issuing key instead",
		"dir", dir, "created", created, "sm2_root_sha256", hex.EncodeToString(fp[:]))
	return ca, nil
}

func createDevSM2CA(paths []string, now time.Time) error {
	rootKey, err := sm2.GenerateKey(rand.Reader)
	if err != nil {
		return err
	}
	issKey, err := sm2.GenerateKey(rand.Reader)
	if err != nil {
		return err
	}
	rootTmpl, issTmpl := devCATemplates(now, "certseal SM2 development")
	rootDER, err := smx509.CreateCertificate(rand.Reader, rootTmpl, rootTmpl, rootKey.Public(), rootKey)
	if err != nil {
		return fmt.Errorf("create SM2 root certificate: %w", err)
	}
	root, err := smx509.ParseCertificate(rootDER)
	if err != nil {
		return err
	}
	issDER, err := smx509.CreateCertificate(rand.Reader, issTmpl, root.ToX509(), issKey.Public(), rootKey)
	if err != nil {
		return fmt.Errorf("create SM2 issuing certificate: %w", err)
	}
	keyDER, err := smx509.MarshalPKCS8PrivateKey(issKey)
	if err != nil {
		return err
	}
	return writeCAFiles(paths, rootDER, issDER, keyDER)
}

// Root is the SM2 root certificate.
func (ca *SM2CA) Root() *smx509.Certificate { return ca.root }

// Issuing is the SM2 issuing CA certificate, the maker of every SES_Seal.
func (ca *SM2CA) Issuing() *smx509.Certificate { return ca.issuing }

// RootPEM and IssuingPEM are the certificates in PEM.
func (ca *SM2CA) RootPEM() []byte    { return pemCert(ca.root.Raw) }
func (ca *SM2CA) IssuingPEM() []byte { return pemCert(ca.issuing.Raw) }

// Verify checks that cert chains to the SM2 root at the given time.
func (ca *SM2CA) Verify(cert *smx509.Certificate, at time.Time) error {
	_, err := cert.Verify(smx509.VerifyOptions{Roots: ca.roots, Intermediates: ca.inter, CurrentTime: at,
		KeyUsages: []smx509.ExtKeyUsage{smx509.ExtKeyUsageAny}})
	return err
}

// IssueSealCert certifies pub (SM2) as the SM2 key of seal version
// `version` of unit, with the subject and validity of the seal's other
// certificate (IssueSealCert of CA). It carries no CRL or OCSP address:
// the SM2 certificate's revocation is the seal's, which verification reads
// from the registry.
func (ca *SM2CA) IssueSealCert(unit registry.Unit, version int, pub crypto.PublicKey, now time.Time) (der []byte, serial string, err error) {
	if err := checkSealSubject(unit, version); err != nil {
		return nil, "", err
	}
	if !sm2.IsSM2PublicKey(pub) {
		return nil, "", fmt.Errorf("SM2 seal certificate: the key is %T, not SM2", pub)
	}
	tmpl, err := sealTemplate(unit, version, now, ca.issuing.ToX509())
	if err != nil {
		return nil, "", err
	}
	der, err = smx509.CreateCertificate(rand.Reader, tmpl, ca.issuing.ToX509(), pub, ca.key)
	if err != nil {
		return nil, "", fmt.Errorf("sign SM2 seal certificate for unit %d version %d: %w", unit.ID, version, err)
	}
	cert, err := smx509.ParseCertificate(der)
	if err != nil {
		return nil, "", err
	}
	if err := ca.Verify(cert, now); err != nil {
		return nil, "", fmt.Errorf("SM2 seal certificate for unit %d version %d does not verify: %w", unit.ID, version, err)
	}
	return der, SerialHex(tmpl.SerialNumber), nil
}

// SealImprint is the picture of an electronic seal: a PNG and its printed
// size in millimetres.
type SealImprint struct {
	PNG               []byte
	WidthMM, HeightMM int
}

// SESSealType is SES_ESPropertyInfo.type of a unit's seal: 1, an
// organisation's seal (单位印章), as against 2, a person's.
const SESSealType = 1

// SESVendorID is SES_Header.vid.
const SESVendorID = "certseal"

// MakeSESSeal makes the GB/T 38540 electronic seal of a seal version whose
// SM2 certificate is certDER, signed by this CA's issuing key as maker. It
// is valid as long as that certificate; esID is the unit's USCC and the
// seal version, unique on the platform.
func (ca *SM2CA) MakeSESSeal(unit registry.Unit, version int, certDER []byte, imprint SealImprint, now time.Time) ([]byte, error) {
	cert, err := smx509.ParseCertificate(certDER)
	if err != nil {
		return nil, fmt.Errorf("SES seal: SM2 certificate: %w", err)
	}
	info := ses.SealInfo{
		Header: ses.Header{VID: SESVendorID},
		ESID:   fmt.Sprintf("%s-%d", unit.USCC, version),
		Property: ses.PropertyInfo{Type: SESSealType, Name: unit.Name + "职称专用章", CertList: [][]byte{certDER},
			CreateDate: now, ValidStart: cert.NotBefore, ValidEnd: cert.NotAfter},
		Picture: ses.PictureInfo{Type: "png", Data: imprint.PNG, Width: imprint.WidthMM, Height: imprint.HeightMM},
	}
	return ses.MakeSeal(info, ca.issuing.Raw, ca.key)
}

// GenerateSM2SealKey is GenerateSealKey for the seal's SM2 key: it returns
// the public key to certify and the key sealed under the KEK, bound to the
// seal version like the other and never openable as it.
func (m *SoftwareKeys) GenerateSM2SealKey(ctx context.Context, unitID int64, version int) (crypto.PublicKey, []byte, error) {
	if err := checkKeyBinding(ctx, unitID, version); err != nil {
		return nil, nil, err
	}
	key, err := sm2.GenerateKey(rand.Reader)
	if err != nil {
		return nil, nil, err
	}
	der, err := smx509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		return nil, nil, err
	}
	blob := sealBlob(m.kek, sm2BlobMagic, der, unitID, version)
	clear(der)
	return key.Public(), blob, nil
}

// SM2Signer is Signer for the seal's SM2 key (twin.KeyBlob): refused for
// a seal that may not sign, opened once, and signing what ses.SignerOpts
// asks.
func (m *SoftwareKeys) SM2Signer(_ context.Context, s registry.Seal, twin registry.SM2Seal) (crypto.Signer, error) {
	if twin.SealID != s.ID {
		return nil, fmt.Errorf("SM2 key of seal %d given for seal %d", twin.SealID, s.ID)
	}
	return m.cachedSigner(m.sm2Signers, s, twin.KeyBlob, func() (crypto.Signer, error) {
		plain, err := openBlobPKCS8(m.kek, sm2BlobMagic, twin.KeyBlob, s.UnitID, s.Version)
		if err != nil {
			return nil, err
		}
		defer clear(plain)
		key, err := smx509.ParsePKCS8PrivateKey(plain)
		if err != nil {
			return nil, fmt.Errorf("%w: %v", ErrCorruptBlob, err)
		}
		if k, ok := key.(*sm2.PrivateKey); ok {
			return k, nil
		}
		return nil, fmt.Errorf("%w: unexpected key type %T", ErrCorruptBlob, key)
	})
}

// SM2KeyMaker makes a seal's SM2 key (SoftwareKeys does; a hardware
// module would keep the key and return a reference to it as the blob).
type SM2KeyMaker interface {
	GenerateSM2SealKey(ctx context.Context, unitID int64, version int) (crypto.PublicKey, []byte, error)
}

// SM2Twin makes the 国密 twin of a seal version when it is approved.
type SM2Twin struct {
	CA   *SM2CA
	Keys SM2KeyMaker
	// WidthMM, HeightMM are the imprint's printed size (the template's seal box).
	WidthMM, HeightMM int
}

// AddSeal makes, inside the approving transaction tx, the SM2 key, SM2
// certificate and SES_Seal of seal (just created for unit) and records
// them.
func (t *SM2Twin) AddSeal(ctx context.Context, tx registry.Tx, unit registry.Unit, seal registry.Seal, now time.Time) error {
	if seal.ID == 0 {
		return errors.New("SM2 twin: the seal is not recorded yet")
	}
	pub, blob, err := t.Keys.GenerateSM2SealKey(ctx, unit.ID, seal.Version)
	if err != nil {
		return err
	}
	twin := registry.SM2Seal{SealID: seal.ID, KeyBlob: blob, CreatedAt: now}
	if twin.CertDER, twin.Serial, err = t.CA.IssueSealCert(unit, seal.Version, pub, now); err != nil {
		return err
	}
	imprint := SealImprint{PNG: seal.ImprintPNG, WidthMM: t.WidthMM, HeightMM: t.HeightMM}
	if twin.SESSeal, err = t.CA.MakeSESSeal(unit, seal.Version, twin.CertDER, imprint, now); err != nil {
		return err
	}
	return tx.CreateSM2Seal(ctx, &twin)
}

// WithSM2Twin makes approvals give each new seal version its 国密 twin.
func (s *Seals) WithSM2Twin(t *SM2Twin) *Seals {
	s.twin = t
	return s
}

func (s *Seals) addTwin(ctx context.Context, tx registry.Tx, unit registry.Unit, seal registry.Seal, now time.Time) error {
	if s.twin == nil {
		return nil
	}
	return s.twin.AddSeal(ctx, tx, unit, seal, now)
}

// Anchors are the SM2 root and issuing CA certificates, DER.
func (t *SM2Twin) Anchors() (rootDER, issuingDER []byte) { return t.CA.root.Raw, t.CA.issuing.Raw }

// CheckSM2Key is CheckSealKeys for a seal's twin: its SM2 key opens and
// matches its SM2 certificate, which carries the recorded serial.
func CheckSM2Key(ctx context.Context, km *SoftwareKeys, s registry.Seal, twin registry.SM2Seal) error {
	cert, err := smx509.ParseCertificate(twin.CertDER)
	if err != nil {
		return fmt.Errorf("seal %d (unit %d, version %d): SM2 certificate: %w", s.ID, s.UnitID, s.Version, err)
	}
	if got := SerialHex(cert.SerialNumber); got != twin.Serial {
		return fmt.Errorf("seal %d: SM2 certificate serial %s differs from the recorded serial %s", s.ID, got, twin.Serial)
	}
	signer, err := km.SM2Signer(ctx, s, twin)
	if err != nil {
		return err
	}
	if !publicKeysEqual(signer.Public(), cert.PublicKey) {
		return fmt.Errorf("seal %d (unit %d, version %d): SM2 certificate %s: %w", s.ID, s.UnitID, s.Version, twin.Serial, ErrKeyMismatch)
	}
	return nil
}
