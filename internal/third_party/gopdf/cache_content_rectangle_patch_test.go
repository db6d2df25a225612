package gopdf

import (
	"bytes"
	"fmt"
	"math"
	"math/rand/v2"
	"testing"
)

// TestRectangleAsUpstream holds certseal patch 3: the bytes upstream's
// fmt.Sprintf wrote, for coordinates of every size and sign, rounding
// halves, negative zero and the non-finite values.
func TestRectangleAsUpstream(t *testing.T) {
	r := rand.New(rand.NewPCG(3, 4))
	values := []float64{0, math.Copysign(0, -1), 0.005, 0.015, 0.125, -0.125, 1e21, -1e-9, 595.275, math.Inf(1), math.Inf(-1), math.NaN()}
	for n := 0; n < 100000; n++ {
		values = append(values, (r.Float64()-0.5)*math.Pow(10, float64(r.IntN(8))))
	}
	for i, v := range values {
		c := cacheContentRectangle{pageHeight: 841.89, x: v, y: values[(i+1)%len(values)], width: values[(i+2)%len(values)],
			height: v / 3, style: PaintStyle("F"), extGStateIndexes: []int{i % 3}[:i%2]}
		var got bytes.Buffer
		if err := c.write(&got, nil); err != nil {
			t.Fatal(err)
		}
		want := "q\n"
		for _, g := range c.extGStateIndexes {
			want += fmt.Sprintf("/GS%d gs\n", g)
		}
		want += fmt.Sprintf("%0.2f %0.2f %0.2f %0.2f re %s\n", c.x, c.pageHeight-c.y, c.width, c.height, c.style) + "Q\n"
		if got.String() != want {
			t.Fatalf("%q, upstream %q", got.String(), want)
		}
	}
}
