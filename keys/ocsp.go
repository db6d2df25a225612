package keys

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha1"
	"encoding/asn1"
	"errors"
	"fmt"
	"math/big"
	"time"

	"golang.org/x/crypto/cryptobyte"
	cbasn1 "golang.org/x/crypto/cryptobyte/asn1"
	"golang.org/x/crypto/ocsp"
)

// This file writes OCSP responses (RFC 6960) itself rather than through
// x/crypto/ocsp.CreateResponse, which stamps producedAt with the minute
// (so thisUpdate had to lose its seconds, or NSS refuses an answer
// produced before it) and has no place for response extensions, where the
// nonce goes (RFC 6960, 4.4.1). Requests are still parsed by x/crypto.

var (
	oidOCSPBasic = asn1.ObjectIdentifier{1, 3, 6, 1, 5, 5, 7, 48, 1, 1}
	oidOCSPNonce = asn1.ObjectIdentifier{1, 3, 6, 1, 5, 5, 7, 48, 1, 2}
)

// maxNonce bounds the nonce certseal echoes: RFC 8954 allows 1 to 32 octets.
const maxNonce = 32

// ocspAnswer is one single response: the status of serial at thisUpdate.
type ocspAnswer struct {
	hash                 crypto.Hash // of the CertID, as the request asked
	nameHash, keyHash    []byte
	serial               *big.Int
	status               int // ocsp.Good, ocsp.Revoked, ocsp.Unknown
	revokedAt            time.Time
	reason               int
	singleExts           []pkixExtension
	thisUpdate, nextTime time.Time
	nonce                []byte // echoed in the response extensions, if the request had one
}

type pkixExtension struct {
	id       asn1.ObjectIdentifier
	critical bool
	value    []byte
}

// requestNonce returns the nonce extension of a DER OCSP request, or nil.
// A nonce longer than RFC 8954 allows is an error (the request is refused
// as malformed rather than answered without it).
func requestNonce(der []byte) ([]byte, error) {
	in := cryptobyte.String(der)
	var req, tbs, exts cryptobyte.String
	var hasExts bool
	if !in.ReadASN1(&req, cbasn1.SEQUENCE) || !req.ReadASN1(&tbs, cbasn1.SEQUENCE) ||
		!tbs.SkipOptionalASN1(cbasn1.Tag(0).Constructed().ContextSpecific()) || // version
		!tbs.SkipOptionalASN1(cbasn1.Tag(1).Constructed().ContextSpecific()) || // requestorName
		!tbs.SkipASN1(cbasn1.SEQUENCE) || // requestList
		!tbs.ReadOptionalASN1(&exts, &hasExts, cbasn1.Tag(2).Constructed().ContextSpecific()) {
		return nil, errors.New("malformed OCSP request")
	}
	if !hasExts {
		return nil, nil
	}
	var list cryptobyte.String
	if !exts.ReadASN1(&list, cbasn1.SEQUENCE) {
		return nil, errors.New("malformed OCSP request extensions")
	}
	for !list.Empty() {
		var ext, value cryptobyte.String
		var id asn1.ObjectIdentifier
		if !list.ReadASN1(&ext, cbasn1.SEQUENCE) || !ext.ReadASN1ObjectIdentifier(&id) ||
			!ext.SkipOptionalASN1(cbasn1.BOOLEAN) || !ext.ReadASN1(&value, cbasn1.OCTET_STRING) {
			return nil, errors.New("malformed OCSP request extension")
		}
		if !id.Equal(oidOCSPNonce) {
			continue
		}
		// The value is an OCTET STRING holding the nonce (RFC 8954); some
		// clients put the bare nonce, which is echoed as sent.
		nonce := []byte(value)
		var inner cryptobyte.String
		if v := value; v.ReadASN1(&inner, cbasn1.OCTET_STRING) && v.Empty() {
			nonce = inner
		}
		if len(nonce) == 0 || len(nonce) > maxNonce {
			return nil, fmt.Errorf("OCSP nonce of %d octets (1 to %d allowed)", len(nonce), maxNonce)
		}
		return []byte(value), nil
	}
	return nil, nil
}

// signOCSPResponse writes and signs a successful basic OCSP response with
// one single response, by the issuing CA itself (so no certs are shipped).
// producedAt is thisUpdate: both keep their seconds. An answer already
// signed, to the byte, is not signed again: a batch embeds the same
// answers on its seal and TSA, made within the same second, beside every
// certificate.
func (r *Responder) signOCSPResponse(a ocspAnswer) ([]byte, error) {
	sigAlg, hash, err := signatureAlgorithmFor(r.ca.key.Public())
	if err != nil {
		return nil, err
	}
	keyBits, err := publicKeyBits(r.ca.issuing.RawSubjectPublicKeyInfo)
	if err != nil {
		return nil, err
	}
	responderKeyHash := sha1.Sum(keyBits)
	hashOID, ok := ocspHashOIDs[a.hash]
	if !ok {
		return nil, fmt.Errorf("OCSP CertID hash %v", a.hash)
	}
	var tbs cryptobyte.Builder
	tbs.AddASN1(cbasn1.SEQUENCE, func(b *cryptobyte.Builder) {
		b.AddASN1(cbasn1.Tag(2).Constructed().ContextSpecific(), func(b *cryptobyte.Builder) { // responderID byKey
			b.AddASN1OctetString(responderKeyHash[:])
		})
		b.AddASN1GeneralizedTime(a.thisUpdate)
		b.AddASN1(cbasn1.SEQUENCE, func(b *cryptobyte.Builder) { // responses
			b.AddASN1(cbasn1.SEQUENCE, func(b *cryptobyte.Builder) {
				b.AddASN1(cbasn1.SEQUENCE, func(b *cryptobyte.Builder) { // certID
					b.AddASN1(cbasn1.SEQUENCE, func(b *cryptobyte.Builder) {
						b.AddASN1ObjectIdentifier(hashOID)
						b.AddASN1NULL()
					})
					b.AddASN1OctetString(a.nameHash)
					b.AddASN1OctetString(a.keyHash)
					b.AddASN1BigInt(a.serial)
				})
				switch a.status {
				case ocsp.Good:
					b.AddASN1(cbasn1.Tag(0).ContextSpecific(), func(*cryptobyte.Builder) {})
				case ocsp.Revoked:
					b.AddASN1(cbasn1.Tag(1).Constructed().ContextSpecific(), func(b *cryptobyte.Builder) {
						b.AddASN1GeneralizedTime(a.revokedAt.UTC().Truncate(time.Second))
						if a.reason != ocsp.Unspecified { // RFC 5280 5.3.1: unspecified is left out
							b.AddASN1(cbasn1.Tag(0).Constructed().ContextSpecific(), func(b *cryptobyte.Builder) {
								b.AddASN1Enum(int64(a.reason))
							})
						}
					})
				default:
					b.AddASN1(cbasn1.Tag(2).ContextSpecific(), func(*cryptobyte.Builder) {})
				}
				b.AddASN1GeneralizedTime(a.thisUpdate)
				b.AddASN1(cbasn1.Tag(0).Constructed().ContextSpecific(), func(b *cryptobyte.Builder) {
					b.AddASN1GeneralizedTime(a.nextTime)
				})
				if len(a.singleExts) > 0 {
					b.AddASN1(cbasn1.Tag(1).Constructed().ContextSpecific(), func(b *cryptobyte.Builder) {
						addExtensions(b, a.singleExts)
					})
				}
			})
		})
		if a.nonce != nil {
			b.AddASN1(cbasn1.Tag(1).Constructed().ContextSpecific(), func(b *cryptobyte.Builder) {
				addExtensions(b, []pkixExtension{{id: oidOCSPNonce, value: a.nonce}})
			})
		}
	})
	tbsDER, err := tbs.Bytes()
	if err != nil {
		return nil, fmt.Errorf("OCSP response data: %w", err)
	}
	r.signedMu.Lock()
	der, ok := r.signed[string(tbsDER)]
	r.signedMu.Unlock()
	if ok {
		return der, nil
	}
	der, err = r.signResponseData(tbsDER, sigAlg, hash)
	if err != nil {
		return nil, err
	}
	r.signedMu.Lock()
	if r.signed == nil || len(r.signed) >= maxSigned {
		r.signed = map[string][]byte{}
	}
	r.signed[string(tbsDER)] = der
	r.signedMu.Unlock()
	return der, nil
}

// signResponseData signs the response data tbsDER and wraps it in an OCSP
// response.
func (r *Responder) signResponseData(tbsDER []byte, sigAlg asn1.ObjectIdentifier, hash crypto.Hash) ([]byte, error) {
	h := hash.New()
	h.Write(tbsDER)
	sig, err := r.ca.key.Sign(rand.Reader, h.Sum(nil), hash)
	if err != nil {
		return nil, fmt.Errorf("sign OCSP response: %w", err)
	}
	var basic cryptobyte.Builder
	basic.AddASN1(cbasn1.SEQUENCE, func(b *cryptobyte.Builder) {
		b.AddBytes(tbsDER)
		b.AddASN1(cbasn1.SEQUENCE, func(b *cryptobyte.Builder) {
			b.AddASN1ObjectIdentifier(sigAlg)
			if _, isRSA := r.ca.key.Public().(*rsa.PublicKey); isRSA {
				b.AddASN1NULL()
			}
		})
		b.AddASN1BitString(sig)
	})
	basicDER, err := basic.Bytes()
	if err != nil {
		return nil, err
	}
	var resp cryptobyte.Builder
	resp.AddASN1(cbasn1.SEQUENCE, func(b *cryptobyte.Builder) {
		b.AddASN1Enum(0) // successful
		b.AddASN1(cbasn1.Tag(0).Constructed().ContextSpecific(), func(b *cryptobyte.Builder) {
			b.AddASN1(cbasn1.SEQUENCE, func(b *cryptobyte.Builder) {
				b.AddASN1ObjectIdentifier(oidOCSPBasic)
				b.AddASN1OctetString(basicDER)
			})
		})
	})
	return resp.Bytes()
}

func addExtensions(b *cryptobyte.Builder, exts []pkixExtension) {
	b.AddASN1(cbasn1.SEQUENCE, func(b *cryptobyte.Builder) {
		for _, e := range exts {
			b.AddASN1(cbasn1.SEQUENCE, func(b *cryptobyte.Builder) {
				b.AddASN1ObjectIdentifier(e.id)
				if e.critical {
					b.AddASN1Boolean(true)
				}
				b.AddASN1OctetString(e.value)
			})
		}
	})
}

var ocspHashOIDs = map[crypto.Hash]asn1.ObjectIdentifier{
	crypto.SHA1:   {1, 3, 14, 3, 2, 26},
	crypto.SHA256: {2, 16, 840, 1, 101, 3, 4, 2, 1},
	crypto.SHA384: {2, 16, 840, 1, 101, 3, 4, 2, 2},
	crypto.SHA512: {2, 16, 840, 1, 101, 3, 4, 2, 3},
}

// signatureAlgorithmFor picks the signature the CA's key makes, as
// crypto/x509 does for certificates: ECDSA with the curve's hash, RSA
// PKCS #1 v1.5 with SHA-256.
func signatureAlgorithmFor(pub crypto.PublicKey) (asn1.ObjectIdentifier, crypto.Hash, error) {
	switch k := pub.(type) {
	case *ecdsa.PublicKey:
		switch k.Curve {
		case elliptic.P256():
			return asn1.ObjectIdentifier{1, 2, 840, 10045, 4, 3, 2}, crypto.SHA256, nil
		case elliptic.P384():
			return asn1.ObjectIdentifier{1, 2, 840, 10045, 4, 3, 3}, crypto.SHA384, nil
		case elliptic.P521():
			return asn1.ObjectIdentifier{1, 2, 840, 10045, 4, 3, 4}, crypto.SHA512, nil
		}
	case *rsa.PublicKey:
		return asn1.ObjectIdentifier{1, 2, 840, 113549, 1, 1, 11}, crypto.SHA256, nil
	}
	return nil, 0, fmt.Errorf("CA key type %T cannot sign OCSP responses", pub)
}
