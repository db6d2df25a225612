package gopdf

// Buff for pdf content
type Buff struct {
	position int
	datas    []byte
}

// Write : write []byte to buffer
//
// certseal patch: grows the buffer once and copies p in one go, where
// upstream appended and copied a byte at a time (see PATCHES.md).
func (b *Buff) Write(p []byte) (int, error) {
	if end := b.position + len(p); end > len(b.datas) {
		b.datas = append(b.datas, make([]byte, end-len(b.datas))...)
	}
	copy(b.datas[b.position:], p)
	b.position += len(p)
	return 0, nil
}

// Len : len of buffer
func (b *Buff) Len() int {
	return len(b.datas)
}

// Bytes : get bytes
func (b *Buff) Bytes() []byte {
	return b.datas
}

// Position : get current position
func (b *Buff) Position() int {
	return b.position
}

// SetPosition : set current position
func (b *Buff) SetPosition(pos int) {
	b.position = pos
}
