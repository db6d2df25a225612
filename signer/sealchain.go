package signer

import (
	"bytes"
	"crypto/x509"

	"github.com/certseal/certseal/registry"
)

// sealChain is a seal version's chain as Chains.SealChain gives it,
// parsed and checked once per seal version rather than for every
// certificate (in a batch that was a parse and a signature check per row
// for the same bytes). The entry keeps the certificate it was made from:
// a different one under the same id (which the store never does) is
// looked up afresh.
type sealChain struct {
	der   []byte
	chain []*x509.Certificate
}

func (is *Issuer) sealChain(seal registry.Seal) ([]*x509.Certificate, error) {
	if v, ok := is.sealChains.Load(seal.ID); ok {
		if c := v.(sealChain); bytes.Equal(c.der, seal.CertDER) {
			return c.chain, nil
		}
	}
	chain, err := is.chains.SealChain(seal.CertDER)
	if err != nil {
		return nil, err
	}
	is.sealChains.Store(seal.ID, sealChain{der: bytes.Clone(seal.CertDER), chain: chain})
	return chain, nil
}
