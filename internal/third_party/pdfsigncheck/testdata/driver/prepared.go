//go:build prepared

package main

import (
	"log"

	"github.com/digitorus/pdfsign/sign"
)

func init() {
	appearance = func(a sign.Appearance) sign.Appearance {
		p, err := sign.PrepareImage(a.Image)
		if err != nil {
			log.Fatal(err)
		}
		a.Image, a.Prepared = nil, p
		return a
	}
}
