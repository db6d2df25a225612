package signer

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"encoding/asn1"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"math/big"

	"github.com/certseal/certseal/registry"
)

// ReceiptJWSType is the "typ" of a receipt's JWS.
const ReceiptJWSType = "certseal-receipt+jws"

// SignReceiptJWS is the receipt's JSON form: a JWS (RFC 7515, compact
// serialization) whose payload is the receipt as JSON, signed by the
// document signer's key (ES256 for P-256, RS256 for RSA), with the
// certificate chain in x5c so it can be checked offline against the
// platform root.
func SignReceiptJWS(key PlatformKey, rc registry.Receipt) (string, error) {
	var alg string
	switch k := key.Signer().Public().(type) {
	case *ecdsa.PublicKey:
		if k.Curve.Params().BitSize != 256 {
			return "", fmt.Errorf("signer: receipt JWS: ECDSA key on %s (ES256 needs P-256)", k.Curve.Params().Name)
		}
		alg = "ES256"
	case *rsa.PublicKey:
		alg = "RS256"
	default:
		return "", fmt.Errorf("signer: receipt JWS: key type %T", k)
	}
	var x5c []string
	for _, c := range key.Chain() {
		x5c = append(x5c, base64.StdEncoding.EncodeToString(c.Raw))
	}
	header, err := json.Marshal(map[string]any{"alg": alg, "typ": ReceiptJWSType, "x5c": x5c})
	if err != nil {
		return "", err
	}
	payload, err := json.Marshal(rc)
	if err != nil {
		return "", err
	}
	enc := base64.RawURLEncoding
	input := enc.EncodeToString(header) + "." + enc.EncodeToString(payload)
	digest := sha256.Sum256([]byte(input))
	sig, err := key.Signer().Sign(rand.Reader, digest[:], crypto.SHA256)
	if err != nil {
		return "", fmt.Errorf("signer: receipt JWS: %w", err)
	}
	if alg == "ES256" {
		if sig, err = rawECDSA(sig); err != nil {
			return "", err
		}
	}
	return input + "." + enc.EncodeToString(sig), nil
}

// rawECDSA turns an ASN.1 ECDSA signature into JWS's r||s (RFC 7518 3.4).
func rawECDSA(der []byte) ([]byte, error) {
	var v struct{ R, S *big.Int }
	if rest, err := asn1.Unmarshal(der, &v); err != nil || len(rest) > 0 {
		return nil, errors.New("signer: receipt JWS: malformed ECDSA signature")
	}
	out := make([]byte, 64)
	v.R.FillBytes(out[:32])
	v.S.FillBytes(out[32:])
	return out, nil
}
