package reedsolomon

import (
	"math/rand/v2"
	"testing"

	bitset "github.com/skip2/go-qrcode/bitset"
)

// TestEncodeAsUpstream holds the certseal patch: the same bytes as
// upstream's polynomial division, for data of every length QR blocks have
// and every number of error correction bytes.
func TestEncodeAsUpstream(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	for n := 2; n <= 30; n++ { // QR blocks have 7 to 30
		for size := 0; size <= 123; size++ { // and up to 123 data bytes
			b := make([]byte, size)
			for i := range b {
				switch r.IntN(4) {
				case 0: // runs of zeros, where feedback is zero
				case 1:
					b[i] = 0xff
				default:
					b[i] = byte(r.Uint32())
				}
			}
			data := bitset.New()
			data.AppendBytes(b)
			got, want := Encode(data, n), encodeUpstream(data, n)
			if !got.Equals(want) {
				t.Fatalf("%d data bytes, %d EC bytes: %s, upstream %s", size, n, got.String(), want.String())
			}
		}
	}
}

// encodeUpstream is Encode as upstream computes it.
func encodeUpstream(data *bitset.Bitset, numECBytes int) *bitset.Bitset {
	// Create a polynomial representing |data|.
	//
	// The bytes are interpreted as the sequence of coefficients of a polynomial.
	// The last byte's value becomes the x^0 coefficient, the second to last
	// becomes the x^1 coefficient and so on.
	ecpoly := newGFPolyFromData(data)
	ecpoly = gfPolyMultiply(ecpoly, newGFPolyMonomial(gfOne, numECBytes))

	// Pick the generator polynomial.
	generator := rsGeneratorPoly(numECBytes)

	// Generate the error correction bytes.
	remainder := gfPolyRemainder(ecpoly, generator)

	// Combine the data & error correcting bytes.
	// The mathematically correct answer is:
	//
	//	result := gfPolyAdd(ecpoly, remainder).
	//
	// The encoding used by QR Code 2005 is slightly different this result: To
	// preserve the original |data| bit sequence exactly, the data and remainder
	// are combined manually below. This ensures any most significant zero bits
	// are preserved (and not optimised away).
	result := bitset.Clone(data)
	result.AppendBytes(remainder.data(numECBytes))

	return result
}
