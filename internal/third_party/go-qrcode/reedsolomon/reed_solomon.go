// go-qrcode
// Copyright 2014 Tom Harwood

// Package reedsolomon provides error correction encoding for QR Code 2005.
//
// QR Code 2005 uses a Reed-Solomon error correcting code to detect and correct
// errors encountered during decoding.
//
// The generated RS codes are systematic, and consist of the input data with
// error correction bytes appended.
package reedsolomon

import (
	"log"
	"sync"

	bitset "github.com/skip2/go-qrcode/bitset"
)

// Encode data for QR Code 2005 using the appropriate Reed-Solomon code.
//
// numECBytes is the number of error correction bytes to append, and is
// determined by the target QR Code's version and error correction level.
//
// ISO/IEC 18004 table 9 specifies the numECBytes required. e.g. a 1-L code has
// numECBytes=7.
//
// certseal patch (PATCHES.md): the error correction bytes, the remainder of
// data*x^numECBytes divided by the generator polynomial, are computed with
// the usual shift register, in place, and the generator is made once per
// degree. Upstream divided polynomials term by term, allocating a new
// polynomial for every step (patch_test.go keeps that as encodeUpstream).
func Encode(data *bitset.Bitset, numECBytes int) *bitset.Bitset {
	generator := generatorPoly(numECBytes)

	// ec[0] is the coefficient of x^(numECBytes-1): the bytes in the order
	// they are appended.
	ec := make([]byte, numECBytes)
	for j := 0; j < data.Len(); j += 8 {
		feedback := gfAdd(gfElement(data.ByteAt(j)), gfElement(ec[0]))
		copy(ec, ec[1:])
		ec[numECBytes-1] = 0
		if feedback == gfZero {
			continue
		}
		for i := range ec {
			ec[i] = byte(gfAdd(gfElement(ec[i]), gfMultiply(generator.term[numECBytes-1-i], feedback)))
		}
	}

	result := bitset.Clone(data)
	result.AppendBytes(ec)

	return result
}

// generators holds the generator polynomials made so far, by degree.
var generators sync.Map

// generatorPoly is rsGeneratorPoly(degree), made once.
func generatorPoly(degree int) gfPoly {
	if g, ok := generators.Load(degree); ok {
		return g.(gfPoly)
	}
	g := rsGeneratorPoly(degree)
	generators.Store(degree, g)
	return g
}

// rsGeneratorPoly returns the Reed-Solomon generator polynomial with |degree|.
//
// The generator polynomial is calculated as:
// (x + a^0)(x + a^1)...(x + a^degree-1)
func rsGeneratorPoly(degree int) gfPoly {
	if degree < 2 {
		log.Panic("degree < 2")
	}

	generator := gfPoly{term: []gfElement{1}}

	for i := 0; i < degree; i++ {
		nextPoly := gfPoly{term: []gfElement{gfExpTable[i], 1}}
		generator = gfPolyMultiply(generator, nextPoly)
	}

	return generator
}
